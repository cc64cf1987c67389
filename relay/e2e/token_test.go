package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestSessionsEndWithTokens runs the relay process without clock-skew
// leeway: a session whose token expires is closed with 4110 (retryable),
// while a client that renews its token in-band keeps one session across
// several token lifetimes and keeps sending on it.
func TestSessionsEndWithTokens(t *testing.T) {
	t.Parallel()
	p := startRelay(t, "--token-leeway", "0s")
	defer func() {
		if t.Failed() && edgeTarget() {
			t.Log(edgeLog(p))
		}
	}()

	// A raw session with a 3 s token, no renewal and no traffic at all: the
	// relay itself must close it when the token expires (on the edge relay
	// the Durable Object's alarm wakes it for that).
	raw := dialRaw(t, p.wsURL())
	raw.send(proto.TypeHello, 1, &proto.Hello{Version: proto.Version, Token: token("alice", 3*time.Second), DeviceID: "raw"})
	if f, err := raw.recv(5 * time.Second); err != nil || f.Type != proto.TypeWelcome {
		t.Fatalf("hello: %v %v", f.Type, err)
	}
	start := time.Now()
	raw.expectClose(proto.CodeSessionExpired)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("closed %s after the welcome, for a 3 s token", d)
	}

	// A client whose tokens live 8 s, over 20 s.
	var reconnects, fetches atomic.Int32
	c, err := client.New(client.Options{
		URL: p.wsURL(),
		TokenFunc: func(context.Context) (string, error) {
			fetches.Add(1)
			return token("bob", 8*time.Second), nil
		},
		Config: core.Config{DeviceID: "renewer", TokenRefresh: true, Heartbeat: time.Second},
		OnEvent: func(e core.Event) {
			if e.Kind == core.EventState && e.State == core.StateReconnecting {
				reconnects.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := proto.P2PID("bob", "carol")
	for i := range 10 {
		time.Sleep(2 * time.Second)
		if _, err := c.SendText(ctx, conv, "still here "+string(rune('0'+i))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := reconnects.Load(); n != 0 {
		t.Fatalf("the renewing client reconnected %d times", n)
	}
	if n := fetches.Load(); n < 3 {
		t.Fatalf("%d token fetches in 20 s of 8 s tokens: the session was not renewed", n)
	}
	// The count of renewals is served on the native relay's admin listener.
	if !edgeTarget() {
		if got := metric(t, p, "parley_token_renewals_total"); got < 2 {
			t.Fatalf("parley_token_renewals_total %d, want at least 2", got)
		}
	}
}
