package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestBadInput throws every kind of bad input (malformed, oversize,
// slow, silent, forged, unauthorised) at one real relay
// while a healthy pair of clients chats through it. Each bad client gets its
// documented code; the relay stays up; the healthy pair never notices.
func TestBadInput(t *testing.T) {
	t.Parallel()
	relay := startRelay(t, "--rate-limit", "300", "--rate-burst", "300", "--send-queue", "32", "--max-inflight-per-conn", "16")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The healthy pair, chatting for the whole suite.
	carol := newDevice(t, relay.wsURL(), "carol", "carol-1", 11, nil)
	dave := newDevice(t, relay.wsURL(), "dave", "dave-1", 12, nil)
	var mu sync.Mutex
	var states []core.State
	carol.c.On(func(e core.Event) {
		if e.Kind == core.EventState {
			mu.Lock()
			states = append(states, e.State)
			mu.Unlock()
		}
	})
	for _, d := range []*device{carol, dave} {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	healthy := proto.P2PID("carol", "dave")
	stop := make(chan struct{})
	chatDone := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				chatDone <- n
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := carol.c.SendText(ctx, healthy, fmt.Sprintf("still here %d", n)); err != nil {
				t.Errorf("healthy send: %v", err)
				chatDone <- n
				return
			}
			n++
		}
	}()

	// A group the bad clients are not in.
	owner := dialRaw(t, relay.wsURL())
	owner.hello("owner", "o1")
	owner.send(proto.TypeCreateGroup, 2, &proto.CreateGroup{Key: "private", Members: []string{"carol"}})
	created := owner.reply(2)
	if created.Type != proto.TypeConvResult {
		t.Fatalf("create group: %s", created.Type)
	}
	private := created.Body.(*proto.ConvResult).Conversation.ID // named by the relay
	owner.send(proto.TypeSend, 3, &proto.Send{ConvID: private, ClientID: "secret-1", MsgType: proto.MsgText, Text: "for members"})
	if f := owner.reply(3); f.Type != proto.TypeAck {
		t.Fatalf("send: %s", f.Type)
	}

	hello := func(tok string, version uint16) []byte {
		return proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: version, Token: tok, DeviceID: "m1"}})
	}
	noneToken := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}
	noExp := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "mallory"}).SignedString([]byte(testSecret))
		return s
	}
	unknownType := []byte{0xa2, 0x01, 0x18, 0xc8, 0x02, 0x01} // {1: 200, 2: 1}

	closeCases := []struct {
		name  string
		code  proto.Code
		frame func(r *rawConn) // what the bad client does
	}{
		{"no token", proto.CodeUnauthorized, func(r *rawConn) { r.writeBytes(hello("", proto.Version)) }},
		{"forged token", proto.CodeUnauthorized, func(r *rawConn) {
			r.writeBytes(hello(tokenWith("mallory", time.Hour, "not-the-secret"), proto.Version))
		}},
		{"alg none token", proto.CodeUnauthorized, func(r *rawConn) { r.writeBytes(hello(noneToken(), proto.Version)) }},
		{"token without exp", proto.CodeUnauthorized, func(r *rawConn) { r.writeBytes(hello(noExp(), proto.Version)) }},
		{"garbage token", proto.CodeUnauthorized, func(r *rawConn) { r.writeBytes(hello("not.a.jwt", proto.Version)) }},
		{"expired token", proto.CodeTokenExpired, func(r *rawConn) { r.writeBytes(hello(token("mallory", -time.Minute), proto.Version)) }},
		{"wrong protocol version", proto.CodeUnsupportedVersion, func(r *rawConn) { r.writeBytes(hello(token("mallory", time.Hour), 99)) }},
		{"malformed CBOR before hello", proto.CodeProtocolError, func(r *rawConn) { r.writeBytes([]byte{0xbf, 0xff, 0x00, 0x13}) }},
		{"first frame not hello", proto.CodeProtocolError, func(r *rawConn) {
			r.send(proto.TypeSync, 1, &proto.Sync{})
		}},
		{"malformed CBOR after hello", proto.CodeProtocolError, func(r *rawConn) {
			r.hello("mallory", "m1")
			r.writeBytes([]byte{0xa1, 0x01})
		}},
		{"unknown frame type", proto.CodeProtocolError, func(r *rawConn) {
			r.hello("mallory", "m1")
			r.writeBytes(unknownType)
		}},
		{"server-only frame from a client", proto.CodeProtocolError, func(r *rawConn) {
			r.hello("mallory", "m1")
			r.send(proto.TypeAck, 5, &proto.Ack{ConvID: private, ClientID: "x", Seq: 1})
		}},
		{"second hello", proto.CodeProtocolError, func(r *rawConn) {
			r.hello("mallory", "m1")
			r.writeBytes(hello(token("mallory", time.Hour), proto.Version))
		}},
		{"oversize frame", proto.CodeFrameTooLarge, func(r *rawConn) {
			r.hello("mallory", "m1")
			r.writeBytes(make([]byte, proto.DefaultMaxFrame+1))
		}},
		{"flood above the rate limit", proto.CodeRateLimited, func(r *rawConn) {
			r.hello("mallory", "m1")
			ping := proto.MustEncode(proto.Frame{Type: proto.TypePing, Body: &proto.Ping{}})
			for i := 0; i < 2000; i++ {
				if r.writeBytes(ping) != nil {
					return
				}
			}
		}},
	}
	for _, tc := range closeCases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, relay.wsURL())
			tc.frame(r)
			r.expectClose(tc.code)
		})
	}

	t.Run("frames for a conversation the user is not in", func(t *testing.T) {
		r := dialRaw(t, relay.wsURL())
		r.hello("mallory", "m2")
		reqs := []struct {
			typ  proto.Type
			body any
		}{
			{proto.TypeSend, &proto.Send{ConvID: private, ClientID: "m-1", MsgType: proto.MsgText, Text: "let me in"}},
			{proto.TypeHistory, &proto.History{ConvID: private}},
			{proto.TypeRead, &proto.Read{ConvID: private, Seq: 1}},
			{proto.TypeSend, &proto.Send{ConvID: proto.P2PID("carol", "dave"), ClientID: "m-2", MsgType: proto.MsgText, Text: "hi"}},
			{proto.TypeHistory, &proto.History{ConvID: proto.P2PID("carol", "dave")}},
		}
		for i, q := range reqs {
			id := uint64(10 + i)
			r.send(q.typ, id, q.body)
			f := r.reply(id)
			e, ok := f.Body.(*proto.ErrorBody)
			if !ok || e.Code != proto.CodeForbidden {
				t.Fatalf("%s to a foreign conversation answered %s %+v, want error %d", q.typ, f.Type, f.Body, proto.CodeForbidden)
			}
		}
		r.send(proto.TypePing, 99, &proto.Ping{Time: 1})
		if f := r.reply(99); f.Type != proto.TypePong {
			t.Fatalf("connection unusable after refused requests: %s", f.Type)
		}
	})

	t.Run("a client that never reads", func(t *testing.T) {
		sloth := dialRaw(t, relay.wsURL())
		sloth.hello("sloth", "s1")
		flooder := dialRaw(t, relay.wsURL())
		flooder.hello("flooder", "f1")
		flooder.send(proto.TypeCreateGroup, 2, &proto.CreateGroup{Key: "slow", Members: []string{"sloth"}})
		created := flooder.reply(2)
		if created.Type != proto.TypeConvResult {
			t.Fatalf("create group: %s", created.Type)
		}
		slow := created.Body.(*proto.ConvResult).Conversation.ID
		// Only the sloth may be slow. The flooder reads its replies, and
		// keeps at most window sends unanswered: the committer answers a
		// whole batch of sends at once, and a batch above the flooder's own
		// send queue (--send-queue 32) would close the flooder as a slow
		// consumer when its writer is not scheduled in between.
		const window = 8
		replies := make(chan struct{}, 1024)
		var readErr error
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			for {
				f, err := flooder.recv(30 * time.Second)
				if err != nil {
					readErr = err
					return
				}
				if f.ID != 0 {
					replies <- struct{}{}
				}
			}
		}()
		big := strings.Repeat("x", proto.MaxTextBytes)
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; ; i++ {
			if i >= window {
				select {
				case <-replies:
				case <-readDone:
					t.Fatalf("flooder closed after %d sends: %v", i, readErr)
				case <-time.After(time.Until(deadline)):
					t.Fatalf("no reply to the flooder's send %d", 100+i-window)
				}
			}
			if err := flooder.writeBytes(proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: uint64(100 + i),
				Body: &proto.Send{ConvID: slow, ClientID: fmt.Sprintf("flood-%d", i), MsgType: proto.MsgText, Text: big}})); err != nil {
				<-readDone
				t.Fatalf("flooder: %v (its reader: %v)", err, readErr)
			}
			if i%50 == 49 {
				if closes(t, relay, proto.CodeSlowConsumer) > 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the sloth was never closed as a slow consumer")
			}
			// Stay under the flooder's own limits: 300 frames/s and the
			// default 2 MiB/s of a user's bytes (100 × 16 KiB a second).
			time.Sleep(10 * time.Millisecond)
		}
		// The sloth's socket was full, so the Close frame may not fit in it:
		// what it must see is the end of its connection, after whatever was
		// already buffered.
		for {
			if _, err := sloth.recv(10 * time.Second); err != nil {
				if strings.Contains(err.Error(), "deadline exceeded") {
					t.Fatalf("sloth's connection still open: %v", err)
				}
				break
			}
		}
	})

	close(stop)
	sentHealthy := <-chatDone
	if !relay.alive() {
		t.Fatal("relay died")
	}
	if err := dave.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if sentHealthy == 0 {
		t.Fatal("the healthy pair sent nothing")
	}
	// The last push may still be on its way after the last ack.
	waitMessages(t, dave, healthy, sentHealthy)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range states {
		if s != core.StateConnecting && s != core.StateConnected {
			t.Fatalf("healthy client was disturbed: states %v", states)
		}
	}
	// Nothing stored was lost: the private group still has its created
	// message and the owner's.
	owner.send(proto.TypeHistory, 50, &proto.History{ConvID: private})
	if p := owner.reply(50).Body.(*proto.HistoryPage); len(p.Messages) != 2 || p.Messages[1].ClientID != "secret-1" {
		t.Fatalf("private group history: %+v", p)
	}
	resp, err := http.Get(relay.adminURL() + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v", err)
	}
	resp.Body.Close()
}

// closes returns the relay's count of connections it closed with code, read
// from /metrics as an operator would.
func closes(t *testing.T, relay *relayProc, code proto.Code) int {
	t.Helper()
	return metric(t, relay, fmt.Sprintf(`parley_closes_total{code="%d"}`, code))
}

// metric reads one sample of the relay's /metrics; 0 when absent.
func metric(t *testing.T, relay *relayProc, sample string) int {
	skipOnEdge(t, "the metrics are served on the native relay's admin listener")
	t.Helper()
	resp, err := http.Get(relay.adminURL() + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
