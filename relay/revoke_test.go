//go:build !js

package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// TestRevocation, on the memory store, SQLite and PostgreSQL: revoking a
// user's tokens closes their open sessions (4013) on every relay, refuses
// new hellos and renewals with the old tokens, and lets a token issued after
// it in; revoking everyone's does the same for every user; a relay started
// later on the same store refuses the old tokens too.
func TestRevocation(t *testing.T) {
	t.Parallel()
	onTwoRelays(t, func(t *testing.T, mod func(*Options), r1, r2 *testRelay) {
		past := time.Now().Add(-time.Minute)
		oldToken := func(user string) string {
			tok, err := MintToken(testSecret, user, time.Hour, past)
			ok(t, err)
			return tok
		}
		hello := func(r *testRelay, token, device string) *client {
			c := dial(t, r, true)
			c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: token, DeviceID: device}})
			return c
		}
		welcomed := func(c *client) {
			t.Helper()
			equal(t, c.reply(1).Type, proto.TypeWelcome, "welcome")
		}
		a1, a2 := hello(r1, oldToken("alice"), "laptop"), hello(r2, oldToken("alice"), "phone")
		bob := hello(r2, oldToken("bob"), "phone")
		welcomed(a1)
		welcomed(a2)
		welcomed(bob)

		began := time.Now()
		status, body := r1.admin("POST", "/admin/v1/revocations", testAdminSecret, map[string]any{"user": "alice"})
		equal(t, status, http.StatusOK, "revoke alice")
		a1.expectClose(proto.CodeTokenRevoked)
		a2.expectClose(proto.CodeTokenRevoked)
		if d := time.Since(began); d > time.Second {
			t.Errorf("sessions closed %s after the revocation, want within a second", d)
		}
		bob.quiet("bob's session stays")
		hello(r2, oldToken("alice"), "tablet").expectClose(proto.CodeTokenRevoked)
		// A token issued after the revocation.
		before := int64(body["before"].(float64))
		fresh, err := MintToken(testSecret, "alice", time.Hour, time.Unix(before, 0))
		ok(t, err)
		a3 := hello(r1, fresh, "tablet")
		welcomed(a3)
		// Renewing with an old token is refused, the session kept.
		equal(t, errCode(t, a3.call(proto.TypeRenew, &proto.Renew{Token: oldToken("alice")})), proto.CodeRenewRefused, "renew with a revoked token")
		a3.quiet("the session stays after a refused renewal")

		// Everyone's tokens issued before a time (bob's, and alice's fresh one).
		status, _ = r2.admin("POST", "/admin/v1/revocations", testAdminSecret, map[string]any{"before": before + 1})
		equal(t, status, http.StatusOK, "revoke everyone's")
		bob.expectClose(proto.CodeTokenRevoked)
		a3.expectClose(proto.CodeTokenRevoked)

		// Kept in the store: a relay started afterwards refuses them.
		r3 := startRelay(t, mod)
		hello(r3, oldToken("bob"), "phone").expectClose(proto.CodeTokenRevoked)
	})
}

// onTwoRelays runs f as parallel subtests on the memory store, SQLite and
// PostgreSQL, each with two relays sharing that store and one bus, and the
// admin secret set; mod sets the same options on a relay f starts later.
func onTwoRelays(t *testing.T, f func(t *testing.T, mod func(*Options), r1, r2 *testRelay)) {
	stores := map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemoryStore() },
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
			ok(t, err)
			return s
		},
		"postgres": func(t *testing.T) Store { return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4}) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store, bus := open(t), NewMemoryBus()
			mod := func(o *Options) { o.Store, o.Bus, o.AdminSecret = store, bus, testAdminSecret }
			f(t, mod, startRelay(t, mod), startRelay(t, mod))
		})
	}
}
