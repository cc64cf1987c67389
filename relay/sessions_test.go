//go:build !js

package relay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// loginOn completes Hello for user on device with a platform.
func loginOn(t testing.TB, r *testRelay, user, device, platform string) *client {
	t.Helper()
	c := dial(t, r, true)
	f := c.call(proto.TypeHello, &proto.Hello{Version: proto.Version, Token: r.token(user), DeviceID: device, Platform: platform})
	if f.Type != proto.TypeWelcome {
		t.Fatalf("hello: got %s %+v, want welcome", f.Type, f.Body)
	}
	return c
}

// cluster starts n relays on one memory bus and one store: what NATS and
// PostgreSQL do for relays in several processes.
func cluster(t *testing.T, n int, mod func(*Options)) []*testRelay {
	bus, store := NewMemoryBus(), NewMemoryStore()
	var out []*testRelay
	for range n {
		out = append(out, startRelay(t, func(o *Options) {
			o.Bus, o.Store = bus, store
			if mod != nil {
				mod(o)
			}
		}))
	}
	return out
}

// deviceIDs lists the ids, platforms and current marks of a device list.
func deviceIDs(t testing.TB, c *client) []string {
	t.Helper()
	f := c.call(proto.TypeDevices, &proto.Devices{})
	if f.Type != proto.TypeDeviceList {
		t.Fatalf("devices: got %s %+v", f.Type, f.Body)
	}
	var out []string
	for _, d := range f.Body.(*proto.DeviceList).Devices {
		s := d.ID + "/" + d.Platform
		if d.Current {
			s += "*"
		}
		if d.ConnectedAt <= 0 {
			t.Errorf("device %s has no connectedAt", d.ID)
		}
		out = append(out, s)
	}
	return out
}

// eventually retries check until it reports true, for 5 s: what travels
// through the bus to another node arrives a little later.
func eventually(t testing.TB, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !check(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDevices: the list has every session of the user on every relay,
// oldest first, with its platform and the asking session marked; a session
// that ends leaves it.
func TestDevices(t *testing.T) {
	t.Parallel()
	rs := cluster(t, 2, nil)
	web := loginOn(t, rs[0], "alice", "laptop", "web")
	phone := loginOn(t, rs[1], "alice", "phone", "react-native")
	loginOn(t, rs[1], "bob", "x", "node")
	eventually(t, "both of alice's devices listed on each relay", func() bool {
		return len(deviceIDs(t, web)) == 2 && len(deviceIDs(t, phone)) == 2
	})
	equal(t, deviceIDs(t, web), []string{"laptop/web*", "phone/react-native"}, "from the laptop")
	equal(t, deviceIDs(t, phone), []string{"laptop/web", "phone/react-native*"}, "from the phone")
	// A third device on the first relay, without a platform.
	cli := loginOn(t, rs[0], "alice", "cli", "")
	eventually(t, "the third device listed on the other relay", func() bool { return len(deviceIDs(t, phone)) == 3 })
	equal(t, deviceIDs(t, cli), []string{"laptop/web", "phone/react-native", "cli/*"}, "from the cli")
	web.c.CloseNow()
	eventually(t, "the closed laptop gone from the other relay", func() bool { return len(deviceIDs(t, phone)) == 2 })
	equal(t, deviceIDs(t, phone), []string{"phone/react-native*", "cli/"}, "after the laptop left")
}

// TestKickDevice: a device closes another of the user's devices on
// whichever relay holds it, with the terminal code 4011; an unknown device
// is refused with 4285 and nothing closes; other users cannot be reached.
func TestKickDevice(t *testing.T) {
	t.Parallel()
	rs := cluster(t, 2, nil)
	web := loginOn(t, rs[0], "alice", "laptop", "web")
	phone := loginOn(t, rs[1], "alice", "phone", "react-native")
	bob := loginOn(t, rs[1], "bob", "phone", "react-native")
	eventually(t, "the phone listed on the laptop's relay", func() bool { return len(deviceIDs(t, web)) == 2 })

	equal(t, errCode(t, web.call(proto.TypeKickDevice, &proto.KickDevice{DeviceID: "tablet"})), proto.CodeNoSuchDevice, "unknown device")
	equal(t, errCode(t, web.call(proto.TypeKickDevice, &proto.KickDevice{DeviceID: "a:b"})), proto.CodeBadRequest, "invalid device id")
	phone.quiet("nothing closed by refused kicks")

	equal(t, web.call(proto.TypeKickDevice, &proto.KickDevice{DeviceID: "phone"}).Type, proto.TypeOK, "kick the phone")
	phone.expectClose(proto.CodeDeviceKicked)
	bob.quiet("bob's device of the same id is another user's")
	equal(t, proto.CodeDeviceKicked.Terminal(), true, "4011 is terminal: the client does not reconnect by itself")
	eventually(t, "the phone gone from the list", func() bool { return len(deviceIDs(t, web)) == 1 })
}

// TestDevicePolicy: with web=1, a second web session of the user, on any
// relay, closes the first with 4012; node sessions are unlimited; another
// user is not affected; the default policy limits nothing but one session
// per device id.
func TestDevicePolicy(t *testing.T) {
	t.Parallel()
	t.Run("web=1 across relays", func(t *testing.T) {
		t.Parallel()
		rs := cluster(t, 2, func(o *Options) { o.DevicePolicy = "web=1,node=unlimited,react-native=2" })
		tab1 := loginOn(t, rs[0], "alice", "tab1", "web")
		bob := loginOn(t, rs[0], "bob", "tab", "web")
		n1 := loginOn(t, rs[0], "alice", "bot1", "node")
		n2 := loginOn(t, rs[1], "alice", "bot2", "node")
		n3 := loginOn(t, rs[1], "alice", "bot3", "node")
		tab2 := loginOn(t, rs[1], "alice", "tab2", "web")
		fs := tab1.expectClose(proto.CodeDevicePolicy)
		_ = fs
		for _, c := range []*client{tab2, n1, n2, n3, bob} {
			c.quiet("other sessions stay")
		}
		eventually(t, "tab1 gone from the list", func() bool {
			ids := deviceIDs(t, tab2)
			return len(ids) == 4 && ids[3] == "tab2/web*"
		})
		// react-native=2: the third closes the oldest.
		p1 := loginOn(t, rs[0], "alice", "p1", "react-native")
		p2 := loginOn(t, rs[1], "alice", "p2", "react-native")
		p2.quiet("two phones are within the limit")
		p1.quiet("two phones are within the limit")
		loginOn(t, rs[1], "alice", "p3", "react-native")
		p1.expectClose(proto.CodeDevicePolicy)
		p2.quiet("the second phone stays")
	})
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		r := startRelay(t, nil)
		a := loginOn(t, r, "alice", "tab1", "web")
		b := loginOn(t, r, "alice", "tab2", "web")
		a.quiet("two web sessions by default")
		b.quiet("two web sessions by default")
		loginOn(t, r, "alice", "tab1", "web")
		a.expectClose(proto.CodeKicked) // the same device id
	})
	t.Run("bad policies refused", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"web", "web=0", "Web=1", "web=1,web=2"} {
			if _, err := New(Options{Data: t.TempDir(), Secret: testSecret, Store: NewMemoryStore(), DevicePolicy: p}); err == nil {
				t.Errorf("New accepted device policy %q", p)
			}
		}
	})
}

// TestEndLog: which of the bans and revocations heard after a hello's
// mark concern the session it registers, and a mark older than what is kept.
func TestEndLog(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	var l endLog
	l.record(t0, "alice", 0) // before the mark
	mark := l.mark()
	l.record(t0, "bob", 0)
	l.record(t0, "carol", 500)
	l.record(t0, everyone, 300)
	for _, c := range []struct {
		user   string
		issued int64
		want   bool
	}{
		{"alice", 900, false}, // her ban came before the mark: the store read saw it
		{"bob", 900, true},
		{"carol", 499, true},
		{"carol", 500, false},
		{"dave", 299, true}, // everyone's
		{"dave", 300, false},
	} {
		equal(t, l.heard(mark, c.user, c.issued), c.want, fmt.Sprintf("%s issued at %d", c.user, c.issued))
	}

	// Entries older than endKeep are forgotten when the next one comes; a
	// mark before them can no longer be told, and counts as heard.
	l.record(t0.Add(endKeep+time.Second), "erin", 0)
	equal(t, len(l.list), 1, "entries kept")
	equal(t, l.heard(mark, "dave", 900), true, "a mark older than what is kept")
	equal(t, l.heard(l.mark()-1, "dave", 900), false, "a mark just before the kept entry, another user's")
	equal(t, l.heard(l.mark()-1, "erin", 900), true, "a mark just before the kept entry")
}

// A token issued to an account since deleted is refused with 4014; one
// issued after the deletion (a new account given the same id) is let in,
// unless a revocation covers it (4013).
func TestGateRefusesDeletedUsersTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	g := &gate{store: store}
	deleted := time.Now().Add(-time.Hour).Truncate(time.Second)
	ok(t, store.RecordDeletion(ctx, "alice", deleted.Unix()+1))
	token := func(issued time.Time) string {
		tok, err := MintToken(testSecret, "alice", 2*time.Hour, issued)
		ok(t, err)
		return tok
	}
	code := func(issued time.Time) proto.Code {
		perr, err := g.decide(ctx, time.Now(), "alice", token(issued))
		ok(t, err)
		if perr == nil {
			return 0
		}
		return perr.Code
	}
	equal(t, code(deleted.Add(-time.Minute)), proto.CodeUserDeleted, "issued before the deletion")
	equal(t, code(deleted), proto.CodeUserDeleted, "issued in the deletion's second")
	equal(t, code(deleted.Add(time.Minute)), proto.Code(0), "issued after it")
	ok(t, store.RevokeTokens(ctx, "alice", deleted.Add(2*time.Minute).Unix()))
	equal(t, code(deleted.Add(time.Minute)), proto.CodeTokenRevoked, "issued after it, then revoked")
	perr, err := g.decide(ctx, time.Now(), "bob", token(deleted.Add(-time.Minute)))
	ok(t, err)
	equal(t, perr == nil, true, "another user")
}
