//go:build !js

package relay

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
)

// TestBan, on the memory store, SQLite and PostgreSQL, two relays on one
// store and one bus: a ban made on one relay closes the user's sessions on
// both (4004, the reason), leaves other users alone, refuses every later
// hello of the user (any token, any device, on either relay, and on a relay
// started afterwards) and counts the refusals; a renewal is refused too;
// GET reads it back; lifting it lets a hello in again.
func TestBan(t *testing.T) {
	t.Parallel()
	onTwoRelays(t, func(t *testing.T, mod func(*Options), r1, r2 *testRelay) {
		a1, a2 := loginOn(t, r1, "alice", "laptop", "web"), loginOn(t, r2, "alice", "phone", "react-native")
		bob := loginOn(t, r2, "bob", "phone", "react-native")

		began := time.Now()
		status, body := r1.admin("PUT", "/admin/v1/users/alice/ban", testAdminSecret, map[string]any{"reason": "spam"})
		equal(t, status, http.StatusOK, "ban alice")
		equal(t, [3]any{body["user"], body["banned"], body["until"]}, [3]any{"alice", true, nil}, "the ban, until lifted")
		for _, c := range []*client{a1, a2} {
			c.expectClose(proto.CodeBanned)
			equal(t, c.closeFrame.Reason, "spam", "close reason")
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("sessions closed %s after the ban, want within a second", d)
		}
		bob.quiet("bob's session stays")

		hello := func(r *testRelay, token, device string) *client {
			c := dial(t, r, true)
			c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: token, DeviceID: device}})
			return c
		}
		// A token minted after the ban, another device, either relay.
		fresh, err := MintToken(testSecret, "alice", time.Hour, time.Now().Add(time.Second))
		ok(t, err)
		for _, r := range []*testRelay{r1, r2} {
			c := hello(r, fresh, "tablet")
			c.expectClose(proto.CodeBanned)
			equal(t, c.closeFrame.Reason, "spam", "refused hello's reason")
		}
		equal(t, r1.srv.metrics.banned.Load()+r2.srv.metrics.banned.Load(), uint64(2), "hellos refused for a ban")
		_, page := r2.get("/metrics")
		if !strings.Contains(page, "parley_hello_banned_total 1") {
			t.Errorf("/metrics does not count the refused hello:\n%s", page)
		}

		status, body = r2.admin("GET", "/admin/v1/users/alice/ban", testAdminSecret, nil)
		equal(t, status, http.StatusOK, "read the ban")
		equal(t, [3]any{body["banned"], body["reason"], body["at"] != nil}, [3]any{true, "spam", true}, "read on the other relay")
		status, body = r2.admin("GET", "/admin/v1/users/bob/ban", testAdminSecret, nil)
		equal(t, [2]any{status, body}, [2]any{http.StatusOK, map[string]any{"user": "bob", "banned": false}}, "bob is not banned")

		// Kept in the store: a relay started afterwards refuses too.
		r3 := startRelay(t, mod)
		hello(r3, fresh, "desk").expectClose(proto.CodeBanned)

		status, body = r2.admin("DELETE", "/admin/v1/users/alice/ban", testAdminSecret, nil)
		equal(t, [2]any{status, body}, [2]any{http.StatusOK, map[string]any{"user": "alice", "banned": false}}, "lift the ban")
		a3 := loginOn(t, r1, "alice", "tablet", "web")
		a3.quiet("alice signs in again")
		status, _ = r1.admin("DELETE", "/admin/v1/users/alice/ban", testAdminSecret, nil)
		equal(t, status, http.StatusOK, "lifting no ban")
		status, body = r1.admin("GET", "/admin/v1/users/alice/ban", testAdminSecret, nil)
		equal(t, [2]any{status, body["banned"]}, [2]any{http.StatusOK, false}, "lifted")
	})
}

// TestBanEnds: a ban with an end refuses hellos until then, by the relay's
// clock, and not after, with nothing to sweep it; a later ban replaces an
// earlier one; without a reason the close says until when; a renewal of a
// session still open while its user is banned is refused.
func TestBanEnds(t *testing.T) {
	t.Parallel()
	r := startRelay(t, withAdmin)
	until := time.Now().Unix() + 2
	status, body := r.admin("PUT", "/admin/v1/users/alice/ban", testAdminSecret, map[string]any{"until": until, "reason": "cooling off"})
	equal(t, status, http.StatusOK, "ban alice for a while")
	equal(t, body["until"], any(float64(until)), "until")
	status, _ = r.admin("PUT", "/admin/v1/users/alice/ban", testAdminSecret, map[string]any{"until": until})
	equal(t, status, http.StatusOK, "again, without a reason: replaces it")
	c := dial(t, r, true)
	c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r.token("alice"), DeviceID: "d"}})
	c.expectClose(proto.CodeBanned)
	equal(t, c.closeFrame.Reason, "banned until "+time.Unix(until, 0).UTC().Format(time.RFC3339), "reason of a ban without one")

	// A session that stayed open (its close lost on the bus, say) cannot
	// renew while the ban holds.
	ok(t, r.srv.store.(Banner).LiftBan(context.Background(), "alice"))
	open := loginOn(t, r, "alice", "phone", "web")
	ok(t, r.srv.store.(Banner).SetBan(context.Background(), "alice", Ban{At: time.Now().Unix(), Until: until}))
	equal(t, errCode(t, open.call(proto.TypeRenew, &proto.Renew{Token: r.token("alice")})), proto.CodeRenewRefused, "renewal while banned")

	for time.Now().Unix() < until {
		time.Sleep(100 * time.Millisecond)
	}
	status, body = r.admin("GET", "/admin/v1/users/alice/ban", testAdminSecret, nil)
	equal(t, [2]any{status, body["banned"]}, [2]any{http.StatusOK, false}, "an ended ban reads as none")
	loginOn(t, r, "alice", "laptop", "web").quiet("signs in once the ban ended")
}

// TestBanRefused: bad input to the ban routes is refused with its code and
// bans nobody.
func TestBanRefused(t *testing.T) {
	t.Parallel()
	r := startRelay(t, withAdmin)
	alice := loginOn(t, r, "alice", "laptop", "web")
	now := time.Now().Unix()
	bad := []struct {
		what, method, user string
		body               any
	}{
		{"a bad user id", "PUT", "a%20b", map[string]any{}},
		{"system", "PUT", "system", map[string]any{}},
		{"system's ban read", "GET", "system", nil},
		{"system's ban lifted", "DELETE", "system", nil},
		{"a bad user id read", "GET", "a%20b", nil},
		{"a bad user id lifted", "DELETE", "a%20b", nil},
		{"an unknown field", "PUT", "alice", map[string]any{"reason": "x", "forever": true}},
		{"until in the past", "PUT", "alice", map[string]any{"until": now - 10}},
		{"until now", "PUT", "alice", map[string]any{"until": now}},
		{"until negative", "PUT", "alice", map[string]any{"until": -1}},
		{"until in milliseconds", "PUT", "alice", map[string]any{"until": time.Now().Add(time.Hour).UnixMilli()}},
		{"until not an integer", "PUT", "alice", map[string]any{"until": "tomorrow"}},
		{"a reason above 256 bytes", "PUT", "alice", map[string]any{"reason": strings.Repeat("é", 129)}},
	}
	for _, c := range bad {
		status, e := r.admin(c.method, "/admin/v1/users/"+c.user+"/ban", testAdminSecret, c.body)
		equal(t, status, http.StatusBadRequest, c.what)
		equal(t, e["code"], any(float64(proto.CodeBadRequest)), c.what+": code")
	}
	alice.quiet("nothing from refused calls")
	status, body := r.admin("GET", "/admin/v1/users/alice/ban", testAdminSecret, nil)
	equal(t, [2]any{status, body["banned"]}, [2]any{http.StatusOK, false}, "alice not banned")
	status, _ = r.admin("PUT", "/admin/v1/users/alice/ban", testAdminSecret, map[string]any{"reason": strings.Repeat("é", 128)})
	equal(t, status, http.StatusOK, "a reason of 256 bytes")
	alice.expectClose(proto.CodeBanned)
	equal(t, alice.closeFrame.Reason, strings.Repeat("é", 128), "the whole reason in the Close frame")
}

// TestSignInRacesEnd: a hello that read neither a ban nor a revocation of
// its user, and registers its session only after the ban, the revocation
// or the user's deletion was stored and its close went round the relays, is
// refused all the same, without a Welcome: 4004 with the ban's reason, or
// 4013. A ban lifted before the hello registers refuses nothing: what the
// relay heard makes it read the store again, which decides. The hello is
// held on the second relay between its check and its session's
// registration; the first relay makes the change, and a revocation of
// bob's tokens made after it, which closes bob's session on the second
// relay, shows that relay has handled the change's close. On the memory
// store, SQLite and PostgreSQL, two relays on one store and bus.
func TestSignInRacesEnd(t *testing.T) {
	t.Parallel()
	type call struct {
		method, path string
		body         any
	}
	cases := []struct {
		name   string
		calls  []call
		code   proto.Code // 0: welcomed
		reason string
	}{
		{"ban", []call{{"PUT", "/admin/v1/users/alice/ban", map[string]any{"reason": "spam"}}}, proto.CodeBanned, "spam"},
		{"revocation", []call{{"POST", "/admin/v1/revocations", map[string]any{"user": "alice"}}}, proto.CodeTokenRevoked, "token revoked"},
		{"everyone's revocation", []call{{"POST", "/admin/v1/revocations", map[string]any{}}}, proto.CodeTokenRevoked, "token revoked"},
		{"deletion", []call{{"DELETE", "/admin/v1/users/alice", nil}}, proto.CodeUserDeleted, "user deleted"},
		{"ban lifted", []call{
			{"PUT", "/admin/v1/users/alice/ban", map[string]any{"reason": "spam"}},
			{"DELETE", "/admin/v1/users/alice/ban", nil},
		}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onTwoRelays(t, func(t *testing.T, _ func(*Options), r1, r2 *testRelay) {
				held, release := make(chan struct{}), make(chan struct{})
				var holding atomic.Bool
				hold := func(user string) {
					if user == "alice" && holding.CompareAndSwap(true, false) {
						close(held)
						<-release
					}
				}
				r2.srv.env.afterGate.Store(&hold)
				var released sync.Once
				free := func() { released.Do(func() { close(release) }) }
				t.Cleanup(free) // before the relays shut down, should the test fail early

				bob := loginOn(t, r2, "bob", "phone", "web")
				holding.Store(true)
				c := dial(t, r2, true)
				c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r2.token("alice"), DeviceID: "tablet"}})
				select {
				case <-held:
				case <-time.After(10 * time.Second):
					t.Fatal("the hello did not pass its check")
				}
				for _, a := range tc.calls {
					status, _ := r1.admin(a.method, a.path, testAdminSecret, a.body)
					equal(t, status, http.StatusOK, a.method+" "+a.path)
				}
				status, _ := r1.admin("POST", "/admin/v1/revocations", testAdminSecret, map[string]any{"user": "bob"})
				equal(t, status, http.StatusOK, "revoke bob's tokens")
				bob.expectClose(proto.CodeTokenRevoked)

				free()
				if tc.code == 0 {
					equal(t, c.reply(1).Type, proto.TypeWelcome, "welcomed")
					c.quiet("the session stays")
					return
				}
				got := c.expectClose(tc.code)
				equal(t, types(got), types(nil), "frames before the close")
				if !strings.HasPrefix(c.closeFrame.Reason, tc.reason) {
					t.Errorf("close reason %q, want %q…", c.closeFrame.Reason, tc.reason)
				}
			})
		})
	}
}

// TestSignInRacesBanOverNATS: with relays on NATS, a node hears a user's
// ban only while it watches the user. A hello on a relay holding no other
// session of alice, held between its check and its registration while the
// other relay bans her, is refused (4004) all the same: the relay watched
// alice before it read the store, so it heard the ban.
func TestSignInRacesBanOverNATS(t *testing.T) {
	t.Parallel()
	url, prefix, store := testsvc.NATSURL(t), "parleyrace"+randomHex(4), NewMemoryStore()
	start := func() *testRelay {
		bus, err := NewNATSBus(url, NATSOptions{Prefix: prefix, Logger: testLogger()})
		ok(t, err)
		t.Cleanup(bus.Close)
		return startRelay(t, func(o *Options) { o.Store, o.Bus, o.AdminSecret = store, bus, testAdminSecret })
	}
	r1, r2 := start(), start()
	held, release := make(chan struct{}), make(chan struct{})
	hold := func(user string) {
		close(held)
		<-release
	}
	r2.srv.env.afterGate.Store(&hold)
	var released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free)

	c := dial(t, r2, true)
	c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r2.token("alice"), DeviceID: "tablet"}})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the hello did not pass its check")
	}
	before := r2.srv.ctl.ends.mark()
	status, _ := r1.admin("PUT", "/admin/v1/users/alice/ban", testAdminSecret, map[string]any{"reason": "spam"})
	equal(t, status, http.StatusOK, "ban alice")
	eventually(t, "the hello's relay hears the ban", func() bool { return r2.srv.ctl.ends.mark() > before })
	free()
	got := c.expectClose(proto.CodeBanned)
	equal(t, types(got), types(nil), "frames before the close")
	equal(t, c.closeFrame.Reason, "spam", "close reason")
}

// TestRevokeClosesWithItsCode: a revocation closes the sessions it ends
// with the code it carries — a deletion's 4014 for a session that signed
// in between the deletion's close and its record — and with 4013 (token
// revoked) when it carries none.
func TestRevokeClosesWithItsCode(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "phone")
	bob, _ := login(t, r, "bob", "phone")
	before := time.Now().Unix() + 1
	r.srv.ctl.revoke("alice", before, proto.CodeUserDeleted, "user deleted")
	alice.expectClose(proto.CodeUserDeleted)
	if alice.closeFrame.Reason != "user deleted" {
		t.Errorf("close reason %q, want \"user deleted\"", alice.closeFrame.Reason)
	}
	r.srv.ctl.revoke("bob", before, 0, "")
	bob.expectClose(proto.CodeTokenRevoked)
}
