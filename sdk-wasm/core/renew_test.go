package core_test

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// fetches returns the ActFetchToken actions in acts.
func fetches(acts []core.Action) []core.Action {
	var out []core.Action
	for _, a := range acts {
		if a.Kind == core.ActFetchToken {
			out = append(out, a)
		}
	}
	return out
}

// TestTokenRenewal: with TokenRefresh, the core asks its driver for a fresh
// token shortly before the session's token expires, renews the session in-band
// with it, and schedules the next renewal from the new expiry; a refused
// renewal leaves the session to end at expiry (4110, retryable), after which
// the core reconnects. Without TokenRefresh it never asks.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{TokenRefresh: true, Heartbeat: time.Hour, HeartbeatTimeout: 20 * time.Hour})
	hello := s.open()
	exp := s.now.Add(10 * time.Minute).Unix()
	sync := s.one(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1",
		HeartbeatMs: 18_000_000, TokenExp: exp}), proto.TypeSync)
	s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})

	// The first timer is the renewal, at 80 % of the token's life: two
	// minutes before exp.
	d, _ := s.c.NextDeadline()
	if want := time.Unix(exp, 0).Add(-2 * time.Minute); !d.Equal(want) {
		t.Fatalf("next deadline %v, want the renewal at %v", d, want)
	}
	acts := s.advance()
	f := fetches(acts)
	if len(f) != 1 || f[0].Conn != s.c.Conn() {
		t.Fatalf("at the renewal time: actions %v, want one fetch-token for the connection", kinds(acts))
	}
	// A token for a connection that is gone is dropped.
	s.c.HandleToken(s.now, s.c.Conn()+7, "stale")
	if w := s.wrote(s.poll()); len(w) != 0 {
		t.Fatalf("a token for another connection wrote %v", w)
	}
	s.c.HandleToken(s.now, s.c.Conn(), "fresh-token")
	renew := s.one(s.poll(), proto.TypeRenew)
	if renew.Body.(*proto.Renew).Token != "fresh-token" || renew.ID == 0 {
		t.Fatalf("renew frame %+v", renew)
	}
	exp2 := s.now.Add(time.Hour).Unix()
	s.frame(proto.TypeRenewed, renew.ID, &proto.Renewed{TokenExp: exp2})
	if d, _ := s.c.NextDeadline(); !d.Equal(time.Unix(exp2, 0).Add(-12 * time.Minute)) {
		t.Fatalf("after renewal the next deadline is %v, want 80 %% into the new token's hour", d)
	}

	// The second renewal is refused: nothing breaks until the relay closes
	// the session at expiry; then the core reconnects (and fetches a token
	// for the dial, as every dial does).
	if f := fetches(s.advance()); len(f) != 1 {
		t.Fatal("no second fetch-token")
	}
	s.c.HandleToken(s.now, s.c.Conn(), "other-users-token")
	renew = s.one(s.poll(), proto.TypeRenew)
	acts = s.frame(proto.TypeError, renew.ID, &proto.ErrorBody{Code: proto.CodeRenewRefused})
	if s.c.State() != core.StateConnected || len(s.wrote(acts)) != 0 {
		t.Fatalf("after a refused renewal: state %s, actions %v", s.c.State(), kinds(acts))
	}
	s.frame(proto.TypeClose, 0, &proto.Close{Code: proto.CodeSessionExpired, Reason: "token expired"})
	s.c.HandleClosed(s.now, s.c.Conn(), proto.CodeSessionExpired, "")
	s.poll()
	if s.c.State() != core.StateReconnecting {
		t.Fatalf("after 4110: state %s, want reconnecting", s.c.State())
	}
	var dialed bool
	for _, a := range s.advance() {
		dialed = dialed || a.Kind == core.ActDial
	}
	if !dialed {
		t.Fatal("no dial after the backoff")
	}
}

// TestTokenRenewalCachedToken: a driver that hands back a token expiring no
// later than the session's is not asked again at once (that would spin).
func TestTokenRenewalCachedToken(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{TokenRefresh: true, Heartbeat: time.Hour, HeartbeatTimeout: 20 * time.Hour})
	hello := s.open()
	exp := s.now.Add(10 * time.Minute).Unix()
	sync := s.one(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1",
		HeartbeatMs: 18_000_000, TokenExp: exp}), proto.TypeSync)
	s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	s.advance()
	s.c.HandleToken(s.now, s.c.Conn(), "same-token")
	renew := s.one(s.poll(), proto.TypeRenew)
	s.frame(proto.TypeRenewed, renew.ID, &proto.Renewed{TokenExp: exp})
	if d, ok := s.c.NextDeadline(); ok && !d.After(s.now) {
		t.Fatalf("deadline %v is due at once after renewing with the same expiry", d)
	}
}

// TestNoRenewalWithoutRefresh: a static token is never asked for again.
func TestNoRenewalWithoutRefresh(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{Heartbeat: time.Hour, HeartbeatTimeout: 20 * time.Hour})
	hello := s.open()
	exp := s.now.Add(10 * time.Minute).Unix()
	sync := s.one(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1",
		HeartbeatMs: 18_000_000, TokenExp: exp}), proto.TypeSync)
	s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	for range 3 {
		if f := fetches(s.advance()); len(f) != 0 {
			t.Fatal("fetch-token without TokenRefresh")
		}
	}
}
