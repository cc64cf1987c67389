package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

func open(t *testing.T, url, user, device string, store Store) *Client {
	t.Helper()
	c, err := New(Options{URL: url, Token: tokenFor(t, user), Store: store, Seed: 7,
		Config: core.Config{DeviceID: device, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSendDeliverAndReadAcrossDevices(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice1 := open(t, url, "alice", "a1", nil)
	alice2 := open(t, url, "alice", "a2", nil)
	bob := open(t, url, "bob", "b1", nil)
	got := make(chan core.Message, 10)
	bob.On(func(e core.Event) {
		if e.Kind == core.EventMessage {
			got <- *e.Message
		}
	})
	for _, c := range []*Client{alice1, alice2, bob} {
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	conv := alice1.P2P("bob")
	m, err := alice1.SendText(ctx, conv, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 1 || m.Status != core.StatusSent || m.ID != proto.MessageID(conv, 1) {
		t.Fatalf("acked message %+v", m)
	}
	select {
	case d := <-got:
		if d.Text != "hello" || d.Sender != "alice" || d.Seq != 1 {
			t.Fatalf("bob got %+v", d)
		}
	case <-ctx.Done():
		t.Fatal("bob never got the message")
	}
	if _, err := bob.SendText(ctx, conv, "hi back"); err != nil {
		t.Fatal(err)
	}
	// alice's second device sees both messages and one unread; reading on
	// the first device (once it has the reply too: MarkRead 0 reads up to
	// what the device knows) clears it on the second.
	var cv core.Conversation
	if !eventually(ctx, func() bool { cv, _ = alice2.Conversation(conv); return cv.SyncedSeq == 2 && cv.Unread == 1 }) {
		t.Fatalf("alice2 never synced both messages with one unread: %+v", cv)
	}
	if !eventually(ctx, func() bool { cv, _ = alice1.Conversation(conv); return cv.SyncedSeq == 2 }) {
		t.Fatalf("alice1 never got the reply: %+v", cv)
	}
	if err := alice1.MarkRead(ctx, conv, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, func() bool { cv, _ := alice2.Conversation(conv); return cv.Unread == 0 })
	page, err := alice2.Messages(ctx, conv, 0, 10)
	if err != nil || len(page) != 2 || page[0].Text != "hello" || page[1].Text != "hi back" {
		t.Fatalf("alice2 messages %+v %v", page, err)
	}
}

func TestOutboxSurvivesRestartAndKeepsOrder(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reopen := persistentStore(t, "alice")
	// Offline from the start: a relay address nobody listens on.
	dead := "ws://127.0.0.1:1/v1/ws"
	alice, err := New(Options{URL: dead, Token: tokenFor(t, "alice"), Store: reopen(), Seed: 1,
		Config: core.Config{DeviceID: "a1", MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	conv := proto.P2PID("alice", "bob")
	for _, text := range []string{"one", "two", "three"} {
		if _, _, err := alice.SendAsync(conv, proto.MsgText, text, nil); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := alice.Messages(ctx, conv, 0, 10)
	if len(msgs) != 3 || msgs[0].Status != core.StatusPending {
		t.Fatalf("pending messages while offline: %+v", msgs)
	}
	alice.Close() // the "app restart"

	alice = open(t, url, "alice", "", reopen())
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if alice.DeviceID() != "a1" {
		t.Fatalf("device id not persisted: %q", alice.DeviceID())
	}
	if err := alice.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	bob := open(t, url, "bob", "b1", nil)
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Messages(ctx, conv, 0, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("bob got %+v %v", got, err)
	}
	for i, want := range []string{"one", "two", "three"} {
		if got[i].Text != want || got[i].Seq != uint64(i+1) {
			t.Fatalf("message %d is %q seq %d", i, got[i].Text, got[i].Seq)
		}
	}
}

// The relay restarts on the same address and data: the client sees the
// retryable 4100, keeps a send made meanwhile in its outbox, reconnects to the
// new relay by itself and delivers the send there. A token the relay cannot
// verify is refused with a terminal code and the client stops. Every wait is
// bounded: a client that never reconnects fails the test instead of hanging it.
func TestReconnectsAfterRelayRestartAndTerminalCodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url, stop, restart := restartableRelay(t)

	var mu sync.Mutex
	var states []core.Event
	c := open(t, url, "carol", "c1", nil)
	c.On(func(e core.Event) {
		if e.Kind == core.EventState {
			mu.Lock()
			states = append(states, e)
			mu.Unlock()
		}
	})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := c.P2P("dave")
	if _, err := c.SendText(ctx, conv, "before the restart"); err != nil {
		t.Fatal(err)
	}

	stop() // 4100 shutdown: retryable
	waitFor(t, ctx, func() bool { return c.State() == core.StateReconnecting })
	mu.Lock()
	seen := append([]core.Event(nil), states...)
	mu.Unlock()
	sawShutdown := false
	for _, e := range seen {
		sawShutdown = sawShutdown || (e.State == core.StateReconnecting && e.Code == proto.CodeShutdown)
	}
	if !sawShutdown {
		t.Fatalf("states %+v: no reconnecting with %d", seen, proto.CodeShutdown)
	}
	_, pending, err := c.SendAsync(conv, proto.MsgText, "while the relay was down", nil)
	if err != nil {
		t.Fatal(err)
	}

	restart() // a new relay on the same address and store
	waitFor(t, ctx, func() bool { return c.State() == core.StateConnected })
	select {
	case r := <-pending:
		if r.Err != nil || r.Message.Seq != 2 {
			t.Fatalf("the send made while the relay was down: %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("the send made while the relay was down was never acknowledged")
	}
	page, err := c.Messages(ctx, conv, 0, 10)
	if err != nil || len(page) != 2 || page[0].Text != "before the restart" || page[1].Text != "while the relay was down" {
		t.Fatalf("messages after the restart: %+v %v", page, err)
	}

	// A token the relay cannot verify is refused with a terminal code, and
	// the client stops instead of retrying.
	bad, err := New(Options{URL: url, Token: "not-a-token", Config: core.Config{DeviceID: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Connect(ctx)
	if pe, ok := err.(*proto.Error); !ok || pe.Code != proto.CodeUnauthorized {
		t.Fatalf("connect with a bad token: %v, want 4001", err)
	}
	if bad.State() != core.StateDisconnected {
		t.Fatalf("state %s after a terminal close", bad.State())
	}
}

func TestMain(m *testing.M) {
	before := goroutines()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for goroutines() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := goroutines(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before, %d after\n%s\n", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// goroutines counts the goroutines of the program, but not the one the
// js/wasm runtime starts for each event the host delivers, nor the signal
// watcher the testing package starts while fuzzing.
func goroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "runtime.handleEvent") && !strings.Contains(g, "os/signal.signal_recv") {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	if !eventually(ctx, cond) {
		t.Fatal("condition never held")
	}
}

// eventually polls cond until it holds (true) or ctx ends (false).
func eventually(ctx context.Context, cond func() bool) bool {
	for !cond() {
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestSearchSyncedSentAndPending searches what a device synced, what it
// sent and what still waits in its outbox, then the same cache offline
// after a restart.
func TestSearchSyncedSentAndPending(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := open(t, url, "alice", "a1", nil)
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	withBob, withCarol := alice.P2P("bob"), alice.P2P("carol")
	for _, s := range []struct{ conv, text string }{
		{withBob, "Kein Ärger heute"}, {withCarol, "ÄRGER im Büro"}, {withBob, "我们明天开会吧"}, {withCarol, "开会了"}, {withBob, "nothing"},
	} {
		if _, err := alice.SendText(ctx, s.conv, s.text); err != nil {
			t.Fatal(err)
		}
	}

	reopen := persistentStore(t, "bob")
	bob := open(t, url, "bob", "b1", reopen())
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	texts := func(c *Client, text string, o core.SearchOptions) []string {
		t.Helper()
		page, err := c.Search(text, o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range page {
			out = append(out, m.Text)
		}
		return out
	}
	equal := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("found %q, want %q", got, want)
		}
	}
	equal(texts(alice, "ärger", core.SearchOptions{}), "ÄRGER im Büro", "Kein Ärger heute")
	equal(texts(alice, "开会", core.SearchOptions{ConvID: withBob}), "我们明天开会吧")
	equal(texts(bob, "ÄRGER", core.SearchOptions{}), "Kein Ärger heute") // bob is not in alice and carol's conversation

	// Offline: a message in the outbox is found, newest first, pending.
	bob.Close()
	bob, err := New(Options{URL: "ws://127.0.0.1:1/v1/ws", Token: tokenFor(t, "bob"), Store: reopen(), Seed: 2,
		Config: core.Config{DeviceID: "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, _, err := bob.SendAsync(withBob, proto.MsgText, "ärgerlich, offline", nil); err != nil {
		t.Fatal(err)
	}
	page, err := bob.Search("Ärger", core.SearchOptions{})
	if err != nil || len(page) != 2 || page[0].Status != core.StatusPending || page[1].Text != "Kein Ärger heute" {
		t.Fatalf("offline search %+v, %v", page, err)
	}
	next, err := bob.Search("Ärger", core.SearchOptions{Before: ptr(core.CursorOf(&page[0]))})
	if err != nil || len(next) != 1 || next[0].ID != page[1].ID {
		t.Fatalf("second page %+v, %v", next, err)
	}
	var pe *proto.Error
	if _, err := bob.Search(" ", core.SearchOptions{}); !errors.As(err, &pe) || pe.Code != proto.CodeInvalidArgument {
		t.Fatalf("empty search: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestConnectNamingUser: a single relay ignores the user the URL names, and
// a query of the application's own stays in the URL beside it.
func TestConnectNamingUser(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	var dialed []string
	c, err := New(Options{URL: url + "?app=7", Token: tokenFor(t, "alice"), Seed: 7,
		Dial: func(ctx context.Context, u string) (Socket, error) {
			dialed = append(dialed, u)
			return dialWebSocket(ctx, u)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if c.UserID() != "alice" || len(dialed) != 1 || dialed[0] != url+"?app=7&user=alice" {
		t.Fatalf("user %q after dialing %q", c.UserID(), dialed)
	}
}
