//go:build !js

package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestP2PBeforeFirstConnectFromToken(t *testing.T) {
	t.Parallel()
	c := open(t, "ws://"+freeAddr(t)+"/v1/ws", "alice", "a1", nil)
	if got, want := c.P2P("bob"), proto.P2PID("alice", "bob"); got != want {
		t.Fatalf("P2P before connect = %q, want %q", got, want)
	}
	for _, tok := range []string{"", "x", "a.b.c", "a." + strings.Repeat("A", 10) + ".c"} {
		if u := tokenSubject(tok); u != "" {
			t.Fatalf("tokenSubject(%q) = %q", tok, u)
		}
	}
}

// TestConnectTimeoutThenConnectsByItself: with the relay down, Connect
// fails after ConnectTimeout with the retryable 4906 while the client keeps
// dialling; once the relay is up the client connects without being asked.
func TestConnectTimeoutThenConnectsByItself(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	c, err := New(Options{URL: "ws://" + addr + "/v1/ws", Token: tokenFor(t, "alice"), Seed: 3, ConnectTimeout: 300 * time.Millisecond,
		Config: core.Config{DeviceID: "a1", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connected := make(chan struct{})
	var once sync.Once
	c.On(func(e core.Event) {
		if e.Kind == core.EventState && e.State == core.StateConnected {
			once.Do(func() { close(connected) })
		}
	})
	start := time.Now()
	err = c.Connect(context.Background())
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != proto.CodeConnectTimeout || !pe.Code.Retryable() {
		t.Fatalf("Connect with the relay down: %v, want retryable 4906", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("Connect gave up after %v, before its timeout", el)
	}
	if s := c.State(); s != core.StateReconnecting && s != core.StateConnecting {
		t.Fatalf("state %s after the timeout, want still trying", s)
	}
	stop, err := reserveRelay(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatalf("the client did not connect by itself; state %s", c.State())
	}
}

func TestConnectGaveUpIsTerminal(t *testing.T) {
	t.Parallel()
	c, err := New(Options{URL: "ws://" + freeAddr(t) + "/v1/ws", Token: tokenFor(t, "alice"), Seed: 3, ConnectTimeout: -1,
		Config: core.Config{DeviceID: "a1", MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Connect(ctx)
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != proto.CodeGaveUp || !pe.Code.Terminal() {
		t.Fatalf("Connect after maxAttempts: %v, want terminal 4907", err)
	}
}

// TestCancelledOfflineGroupNeverReachesRelay: a group asked for offline and
// cancelled is not created when the client connects; one not cancelled is.
func TestCancelledOfflineGroupNeverReachesRelay(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	url := "ws://" + addr + "/v1/ws"
	alice := open(t, url, "alice", "a1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Known user before the first welcome, from the cache.
	stop, err := reserveRelay(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	waitState(t, alice, core.StateReconnecting)

	gctx, gcancel := context.WithCancel(ctx)
	dropped := make(chan error, 1)
	go func() {
		_, err := alice.CreateGroup(gctx, "", "dropped", []string{"bob"})
		dropped <- err
	}()
	kept := make(chan error, 1)
	var keptID string
	go func() {
		g, err := alice.CreateGroup(ctx, "", "kept", []string{"bob"})
		keptID = g.ID
		kept <- err
	}()
	time.Sleep(100 * time.Millisecond)
	gcancel()
	if err := <-dropped; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled CreateGroup: %v", err)
	}
	stop2, err := reserveRelay(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if err := <-kept; err != nil {
		t.Fatalf("the offline group that was not cancelled: %v", err)
	}
	bob := open(t, url, "bob", "b1", nil)
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := bob.Conversation(keptID); !ok {
		t.Fatalf("bob is not in %s", keptID)
	}
	convs, err := bob.Conversations()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range convs {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"kept"}) {
		t.Fatalf("bob's conversations %q, want the kept group only (the cancelled one was never created)", names)
	}
}

func waitState(t *testing.T, c *Client, s core.State) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.State() != s; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, want %s", c.State(), s)
		}
	}
}
