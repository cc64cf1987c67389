//go:build !js

package relay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The tests in this file drive sessions through fakeTransport: the protocol
// logic without a socket. server_test.go covers the same behaviour end to
// end over WebSockets.

func TestSessionHello(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.Heartbeat = 7 * time.Second; o.MaxFrame = 32 << 10 })
	f, w := hello(t, srv, "alice", "phone")
	equal(t, w.UserID, "alice", "user")
	equal(t, w.Version, uint16(proto.Version), "version")
	equal(t, w.Epoch, srv.store.Epoch(), "epoch")
	equal(t, w.HeartbeatMs, uint32(7000), "heartbeat")
	equal(t, w.MaxFrame, uint32(32<<10), "max frame")
	equal(t, w.SessionID, f.sess.ID(), "session id")
	equal(t, srv.hub.count(), 1, "sessions in the hub")
	equal(t, srv.metrics.connections.Load(), int64(1), "connections")
	// A ping is answered; nothing else was written.
	equal(t, f.send(proto.Frame{Type: proto.TypePing, ID: 2, Body: &proto.Ping{Time: 42}}), true, "reads on after a ping")
	pong := f.next()
	equal(t, [2]any{pong.Type, pong.Body.(*proto.Pong).Time}, [2]any{proto.TypePong, int64(42)}, "pong")
	equal(t, f.pending(), 0, "frames after the pong")
	// The client leaves: the session leaves the hub and the server.
	f.hangUp()
	equal(t, srv.hub.count(), 0, "sessions in the hub after Gone")
	equal(t, srv.metrics.connections.Load(), int64(0), "connections after Gone")
	equal(t, len(srv.sessions), 0, "sessions the server tracks after Gone")
	equal(t, f.send(proto.Frame{Type: proto.TypePing, ID: 3, Body: &proto.Ping{}}), false, "reads on after Gone")
}

// TestSessionServes: a relay that serves some users (a shard) refuses a
// hello for another user with 4015 before it watches or counts anything,
// and welcomes the users it serves.
func TestSessionServes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.Serves = func(user string) bool { return user != "bob" } })
	bob := open(t, srv)
	tok, err := MintToken(testSecret, "bob", time.Hour, time.Now())
	ok(t, err)
	bob.sendRaw(helloFrame(tok, proto.Version, "phone"), true)
	equal(t, len(bob.expectClose(proto.CodeWrongShard)), 0, "frames before the close")
	equal(t, srv.hub.count(), 0, "sessions in the hub")
	_, w := hello(t, srv, "alice", "phone")
	equal(t, w.UserID, "alice", "the user the shard serves")
	equal(t, srv.hub.count(), 1, "sessions in the hub")
}

// TestSessionEnds: every message that ends a session gets its exact close
// code, the session asks its transport to stop reading, and nothing is
// written before the close.
func TestSessionEnds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.MaxFrame = 2048 })
	token := func(user string, at time.Time) string {
		tok, err := MintToken(testSecret, user, time.Hour, at)
		ok(t, err)
		return tok
	}
	helloMsg := func(tok string, version uint16) []byte {
		return proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: version, Token: tok, DeviceID: "d"}})
	}
	valid := helloMsg(token("alice", time.Now()), proto.Version)
	cases := []struct {
		name    string
		welcome bool // say hello first
		msg     []byte
		binary  bool
		code    proto.Code
	}{
		{"connected/forged token/4001", false, helloMsg(strings.Replace(token("alice", time.Now()), ".", ".x", 1), proto.Version), true, proto.CodeUnauthorized},
		{"connected/expired token/4002", false, helloMsg(token("alice", time.Now().Add(-2*time.Hour)), proto.Version), true, proto.CodeTokenExpired},
		{"connected/version too new/4005", false, helloMsg(token("alice", time.Now()), proto.Version+1), true, proto.CodeUnsupportedVersion},
		{"connected/ping first/4006", false, proto.MustEncode(proto.Frame{Type: proto.TypePing, ID: 1, Body: &proto.Ping{}}), true, proto.CodeProtocolError},
		{"connected/text message/4006", false, valid, false, proto.CodeProtocolError},
		{"connected/oversize/4007", false, make([]byte, 2049), true, proto.CodeFrameTooLarge},
		{"welcomed/second hello/4006", true, valid, true, proto.CodeProtocolError},
		{"welcomed/malformed cbor/4006", true, []byte{0xa1, 0x01}, true, proto.CodeProtocolError},
		{"welcomed/server frame/4006", true, proto.MustEncode(proto.Frame{Type: proto.TypeAck, ID: 5, Body: &proto.Ack{ConvID: "g:x"}}), true, proto.CodeProtocolError},
		{"welcomed/oversize/4007", true, make([]byte, 2049), true, proto.CodeFrameTooLarge},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f *fakeTransport
			if tc.welcome {
				f, _ = hello(t, srv, "alice", fmt.Sprint("dev", i))
			} else {
				f = open(t, srv)
			}
			before := srv.metrics.closeCount(tc.code)
			equal(t, f.sendRaw(tc.msg, tc.binary), false, "reads on")
			if got := f.expectClose(tc.code); len(got) != 0 {
				t.Fatalf("frames before the close: %s", frameTypes(got))
			}
			equal(t, srv.metrics.closeCount(tc.code), before+1, "closes counted")
			equal(t, f.sendRaw(valid, true), false, "reads on after the close")
		})
	}
}

// TestSessionSendAck: the committer acks the sender and delivers the
// message, encoded once, to every other session of every member — not to the
// sending one.
func TestSessionSendAck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	phone, _ := hello(t, srv, "alice", "phone")
	laptop, _ := hello(t, srv, "alice", "laptop")
	bob, _ := hello(t, srv, "bob", "d")
	carol, _ := hello(t, srv, "carol", "d")
	conv := proto.P2PID("alice", "bob")

	phone.send(textSend(7, conv, "c1", "hi"))
	f := phone.next()
	equal(t, [2]any{f.Type, f.ID}, [2]any{proto.TypeAck, uint64(7)}, "reply to the send")
	ack := f.Body.(*proto.Ack)
	equal(t, [3]any{ack.ConvID, ack.ClientID, ack.Seq}, [3]any{conv, "c1", uint64(1)}, "ack")
	for name, c := range map[string]*fakeTransport{"bob": bob, "alice's laptop": laptop} {
		d := c.next()
		equal(t, d.Type, proto.TypeDeliver, name+" gets a deliver")
		m := d.Body.(*proto.Deliver).Message
		equal(t, [4]any{m.Seq, m.Sender, m.Text, m.Device}, [4]any{uint64(1), "alice", "hi", "phone"}, name+"'s message")
	}
	// The same client id again is the same message: the original ack, no
	// second deliver.
	phone.send(textSend(8, conv, "c1", "hi"))
	dup := phone.next().Body.(*proto.Ack)
	equal(t, [2]any{dup.Seq, dup.Duplicate}, [2]any{uint64(1), true}, "duplicate ack")
	// A ping round trip orders everything queued before it.
	for name, c := range map[string]*fakeTransport{"phone": phone, "bob": bob, "laptop": laptop, "carol": carol} {
		c.send(proto.Frame{Type: proto.TypePing, ID: 99, Body: &proto.Ping{}})
		equal(t, c.next().Type, proto.TypePong, name+": only the pong is left")
	}
	equal(t, srv.metrics.stored.Load(), uint64(1), "stored")
	equal(t, srv.metrics.dedup.Load(), uint64(1), "dedup")
}

// TestSessionRequests covers the request errors a session answers without
// closing, and the replies of the other requests.
func TestSessionRequests(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	alice, _ := hello(t, srv, "alice", "d")
	bob, _ := hello(t, srv, "bob", "d")
	call := func(c *fakeTransport, typ proto.Type, id uint64, body any) proto.Frame {
		t.Helper()
		equal(t, c.send(proto.Frame{Type: typ, ID: id, Body: body}), true, "reads on")
		f := c.next()
		equal(t, f.ID, id, "reply id")
		return f
	}
	code := func(f proto.Frame) proto.Code {
		t.Helper()
		if f.Type != proto.TypeError {
			t.Fatalf("got %s, want an error", f.Type)
		}
		return f.Body.(*proto.ErrorBody).Code
	}
	equal(t, code(call(alice, proto.TypeSend, 1, &proto.Send{ConvID: proto.P2PID("bob", "carol"), ClientID: "x", MsgType: proto.MsgText, Text: "x"})),
		proto.CodeForbidden, "send to someone else's p2p")
	equal(t, code(call(alice, proto.TypeSend, 2, &proto.Send{ConvID: "g:none", ClientID: "y", MsgType: proto.MsgText, Text: "x"})),
		proto.CodeForbidden, "send to no group")
	equal(t, code(call(alice, proto.TypeSend, 3, &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "z", MsgType: proto.MsgText})),
		proto.CodeBadRequest, "empty text")
	equal(t, code(call(alice, proto.TypeHistory, 4, &proto.History{ConvID: proto.P2PID("bob", "carol")})), proto.CodeForbidden, "history of someone else's p2p")

	g := call(alice, proto.TypeCreateGroup, 5, &proto.CreateGroup{ConvID: "g:alice.team", Name: "team", Members: []string{"bob"}})
	equal(t, g.Type, proto.TypeConvResult, "create group")
	equal(t, g.Body.(*proto.ConvResult).Conversation.Members, []string{"alice", "bob"}, "members")
	equal(t, bob.next().Type, proto.TypeConvUpdate, "bob learns of the group")
	equal(t, bob.next().Type, proto.TypeDeliver, "bob gets its created message")
	ack := call(bob, proto.TypeSend, 6, &proto.Send{ConvID: "g:alice.team", ClientID: "b1", MsgType: proto.MsgText, Text: "yo"})
	equal(t, ack.Type, proto.TypeAck, "bob writes to the group")
	equal(t, alice.next().Type, proto.TypeDeliver, "alice gets bob's message")

	page := call(alice, proto.TypeHistory, 7, &proto.History{ConvID: "g:alice.team"})
	equal(t, len(page.Body.(*proto.HistoryPage).Messages), 2, "history: created, bob's")
	res := call(alice, proto.TypeSync, 8, &proto.Sync{})
	equal(t, len(res.Body.(*proto.SyncResult).Conversations), 1, "sync")
	equal(t, call(alice, proto.TypeRead, 9, &proto.Read{ConvID: "g:alice.team", Seq: 1}).Type, proto.TypeOK, "read")
	equal(t, alice.pending(), 0, "the reading session gets no update of its own read")
}

// TestSessionSlowConsumer: a session whose transport refuses a frame (its
// queue is full) is closed with 4102, what it had queued is dropped, and the
// others keep going.
func TestSessionSlowConsumer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	alice, _ := hello(t, srv, "alice", "d")
	slow, _ := hello(t, srv, "bob", "slow")
	healthy, _ := hello(t, srv, "bob", "healthy")
	slow.setLimit(2)
	conv := proto.P2PID("alice", "bob")
	for k := range 3 {
		alice.send(textSend(uint64(k+1), conv, fmt.Sprint(k), "x"))
		equal(t, alice.next().Type, proto.TypeAck, "ack")
	}
	if got := slow.expectClose(proto.CodeSlowConsumer); len(got) != 0 {
		t.Fatalf("a slow consumer's queue is flushed: %s", frameTypes(got))
	}
	equal(t, srv.metrics.closeCount(proto.CodeSlowConsumer), uint64(1), "4102 closes")
	for k := range 3 {
		equal(t, healthy.next().Body.(*proto.Deliver).Message.Seq, uint64(k+1), "the healthy device's deliver")
	}
	alice.send(textSend(9, conv, "later", "x"))
	equal(t, alice.next().Type, proto.TypeAck, "ack after the slow device left")
	equal(t, healthy.next().Type, proto.TypeDeliver, "the healthy device still gets every message")
	equal(t, srv.hub.count(), 2, "sessions in the hub")
}

// TestSessionDeadlines: a connection that says no Hello in time is closed
// with 4001, a welcomed one that goes silent with 4103, and one that keeps
// sending stays.
func TestSessionDeadlines(t *testing.T) {
	t.Parallel()
	// Generous margins: the suite runs in parallel on two cores under -race.
	srv := newServer(t, func(o *Options) {
		o.AuthTimeout = 200 * time.Millisecond
		o.Heartbeat = 100 * time.Millisecond
		o.HeartbeatTimeout = 600 * time.Millisecond
	})
	mute := open(t, srv)
	silent, _ := hello(t, srv, "alice", "silent")
	alive, _ := hello(t, srv, "alice", "alive")
	start := time.Now()
	mute.expectClose(proto.CodeUnauthorized)
	for time.Since(start) < time.Second {
		alive.send(proto.Frame{Type: proto.TypePing, ID: 1, Body: &proto.Ping{}})
		equal(t, alive.next().Type, proto.TypePong, "pong")
		time.Sleep(50 * time.Millisecond)
	}
	silent.expectClose(proto.CodeHeartbeatTimeout)
	equal(t, alive.isClosed(), false, "a pinging session is closed")
}

// TestSessionRateLimit: frames beyond the burst close the session with 4104.
func TestSessionRateLimit(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.RateLimit = 1; o.RateBurst = 5 })
	f, _ := hello(t, srv, "alice", "d") // the hello took one token
	for k := range 4 {
		equal(t, f.send(proto.Frame{Type: proto.TypePing, ID: uint64(k + 2), Body: &proto.Ping{}}), true, "within the burst")
	}
	equal(t, f.send(proto.Frame{Type: proto.TypePing, ID: 9, Body: &proto.Ping{}}), false, "past the burst")
	if got := f.expectClose(proto.CodeRateLimited); len(got) != 4 {
		t.Fatalf("before the close: %s, want 4 pongs", frameTypes(got))
	}
}

// TestSessionReplaced: a second session of the same device closes the first
// with 4003, after what was queued for it.
func TestSessionReplaced(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	old, _ := hello(t, srv, "alice", "phone")
	old.send(proto.Frame{Type: proto.TypePing, ID: 5, Body: &proto.Ping{}})
	hello(t, srv, "alice", "phone")
	got := old.expectClose(proto.CodeKicked)
	equal(t, frameTypes(got), "[pong]", "the old session's queued frames go before its close")
	equal(t, srv.hub.count(), 1, "sessions in the hub")
}

// TestSessionShutdown: Shutdown lets the committer finish, closes every
// session with 4100 after the frames queued for it, and refuses new
// connections with 4100.
func TestSessionShutdown(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Data: t.TempDir(), Secret: testSecret, Logger: testLogger(), Store: NewMemoryStore()})
	ok(t, err)
	alice := &fakeTransport{t: t, signal: make(chan struct{}, 1), gone: make(chan struct{})}
	alice.sess = srv.Open(alice, ConnInfo{})
	tok, err := MintToken(testSecret, "alice", time.Hour, time.Now())
	ok(t, err)
	alice.send(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "d"}})
	for k := range 20 {
		alice.send(textSend(uint64(k+2), proto.P2PID("alice", "bob"), fmt.Sprint(k), "x"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok(t, srv.Shutdown(ctx))
	frames := alice.expectClose(proto.CodeShutdown)
	equal(t, frames[0].Type, proto.TypeWelcome, "first frame")
	for _, f := range frames[1:] {
		if f.Type != proto.TypeAck {
			t.Fatalf("before the close: %s", frameTypes(frames))
		}
	}
	equal(t, len(frames), 21, "every send submitted before Shutdown is acked before the close")

	late := &fakeTransport{t: t, signal: make(chan struct{}, 1), gone: make(chan struct{})}
	if srv.Open(late, ConnInfo{}) != nil {
		t.Fatal("Open while draining returned a session")
	}
	late.mu.Lock()
	defer late.mu.Unlock()
	equal(t, [2]any{late.closed, late.code}, [2]any{true, proto.CodeShutdown}, "a connection opened while draining")
}

// TestSessionStoreDown: a request the store fails is answered 4300; a send
// the store refuses also ends the connection with 4101 after its reply, so
// the client resends its outbox in order on a new one (see Session.send).
func TestSessionStoreDown(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	srv := newServer(t, func(o *Options) { o.Store = store })
	f, _ := hello(t, srv, "alice", "d")
	ok(t, store.Close())
	f.send(proto.Frame{Type: proto.TypeSync, ID: 3, Body: &proto.Sync{}})
	equal(t, f.next().Body.(*proto.ErrorBody).Code, proto.CodeUnavailable, "sync with the store down")
	equal(t, f.isClosed(), false, "closed after a refused sync")
	f.send(textSend(2, proto.P2PID("alice", "bob"), "c", "x"))
	frames := f.expectClose(proto.CodeOverloaded)
	equal(t, len(frames), 1, "frames before the close")
	equal(t, [2]any{frames[0].Type, frames[0].ID}, [2]any{proto.TypeError, uint64(2)}, "reply")
	equal(t, frames[0].Body.(*proto.ErrorBody).Code, proto.CodeUnavailable, "code")
}

// TestSessionTokenExpiry: a session ends (4110, retryable) when its token
// expires, unless the client renewed it in-band with a token of the same
// user; a refused renewal changes nothing.
func TestSessionTokenExpiry(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.TokenLeeway = -1 })
	helloFor := func(user string, ttl time.Duration) *fakeTransport {
		f := open(t, srv)
		tok, err := MintToken(testSecret, user, ttl, time.Now())
		ok(t, err)
		f.send(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "d-" + fmt.Sprint(ttl)}})
		equal(t, f.next().Type, proto.TypeWelcome, "welcome")
		return f
	}
	renew := func(f *fakeTransport, id uint64, tok string) proto.Frame {
		f.send(proto.Frame{Type: proto.TypeRenew, ID: id, Body: &proto.Renew{Token: tok}})
		r := f.next()
		equal(t, r.ID, id, "reply id")
		return r
	}
	mint := func(user string, ttl time.Duration) string {
		tok, err := MintToken(testSecret, user, ttl, time.Now())
		ok(t, err)
		return tok
	}

	expiring := helloFor("alice", 3*time.Second)
	renewed := helloFor("bob", 3*time.Second)
	r := renew(renewed, 2, mint("bob", time.Hour))
	equal(t, r.Type, proto.TypeRenewed, "renewal reply")
	if exp := r.Body.(*proto.Renewed).TokenExp; exp < time.Now().Add(59*time.Minute).Unix() {
		t.Fatalf("renewed until %d, want about an hour from now", exp)
	}
	refused := helloFor("carol", 3*time.Second)
	r = renew(refused, 2, mint("mallory", time.Hour))
	equal(t, r.Body.(*proto.ErrorBody).Code, proto.CodeRenewRefused, "renewal with another user's token")
	r = renew(refused, 3, strings.Replace(mint("carol", time.Hour), ".", ".x", 1))
	equal(t, r.Body.(*proto.ErrorBody).Code, proto.CodeRenewRefused, "renewal with a forged token")

	before := srv.metrics.closeCount(proto.CodeSessionExpired)
	expiring.expectClose(proto.CodeSessionExpired)
	refused.expectClose(proto.CodeSessionExpired)
	equal(t, srv.metrics.closeCount(proto.CodeSessionExpired), before+2, "expiry closes counted")
	equal(t, proto.CodeSessionExpired.Retryable(), true, "4110 is retryable")
	// The renewed session outlived its first token.
	equal(t, renewed.send(proto.Frame{Type: proto.TypePing, ID: 9, Body: &proto.Ping{}}), true, "renewed session reads on")
	equal(t, renewed.next().Type, proto.TypePong, "renewed session answers")
	equal(t, srv.metrics.renewals.Load(), uint64(1), "renewals counted")
}

// TestSessionGroupLimits: a user's group creations stop at the per-hour and
// the total limit (4257), counted by the store, and a name with a bidi
// override is refused (4256) without creating anything.
func TestSessionGroupLimits(t *testing.T) {
	t.Parallel()
	stores := map[string]Store{"memory": NewMemoryStore(), "sqlite": openSQLite(t, SQLiteOptions{}),
		"postgres": openPostgres(t, postgresDSN(t), PostgresOptions{})}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(o *Options) { o.Store = store; o.MaxGroupsPerHour = 3; o.MaxGroupsPerUser = 5 })
			alice, _ := hello(t, srv, "alice", "d")
			create := func(id uint64, name string) proto.Frame {
				alice.send(proto.Frame{Type: proto.TypeCreateGroup, ID: id, Body: &proto.CreateGroup{Name: name, Members: []string{"bob"}}})
				return alice.next()
			}
			equal(t, create(2, "evil\u202egnp.exe").Body.(*proto.ErrorBody).Code, proto.CodeBadName, "bidi override in the name")
			for i := range 3 {
				equal(t, create(uint64(3+i), "ok").Type, proto.TypeConvResult, fmt.Sprint("group ", i))
			}
			equal(t, create(9, "ok").Body.(*proto.ErrorBody).Code, proto.CodeGroupLimit, "fourth group within the hour")
			// Two more created "over an hour ago" bring alice to the total.
			old := time.Now().Add(-2 * time.Hour).UnixMilli()
			for i := range 2 {
				_, _, err := store.CreateGroup(context.Background(), GroupSpec{ID: fmt.Sprint("g:old", i), Creator: "alice", Members: []string{"alice"}, CreatedAt: old})
				ok(t, err)
			}
			total, recent, err := store.(GroupCounter).GroupsCreated(context.Background(), "alice", time.Now().Add(-time.Hour).UnixMilli())
			ok(t, err)
			equal(t, [2]int{total, recent}, [2]int{5, 3}, "groups counted (total, last hour)")
			equal(t, create(10, "ok").Body.(*proto.ErrorBody).Code, proto.CodeGroupLimit, "sixth group in all")
			bob, _ := hello(t, srv, "bob", "d")
			bob.send(proto.Frame{Type: proto.TypeCreateGroup, ID: 2, Body: &proto.CreateGroup{Name: "bob's"}})
			equal(t, bob.next().Type, proto.TypeConvResult, "another user is not limited by alice's groups")
		})
	}
}

// TestSessionGroupIDPolicy: by default a chosen id must be in the creator's
// namespace, so mallory cannot take an id alice expects; with "server" only
// the relay names groups.
func TestSessionGroupIDPolicy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		policy string
		id     string
		user   string
		code   proto.Code // 0: created
	}{
		{"", "g:alice.team", "alice", proto.CodeGroupID}, // the default: the relay names groups
		{"", "", "mallory", 0},
		{rules.GroupIDsClient, "g:alice.team", "alice", 0},
		{rules.GroupIDsClient, "g:alice.team", "mallory", proto.CodeGroupID},
		{rules.GroupIDsClient, "g:team", "alice", proto.CodeGroupID},
		{"namespaced", "g:alice.team", "alice", 0},
		{rules.GroupIDsServer, "g:alice.team", "alice", proto.CodeGroupID},
		{rules.GroupIDsServer, "", "alice", 0},
		{rules.GroupIDsAny, "g:team", "mallory", 0},
	} {
		srv := newServer(t, func(o *Options) { o.GroupIDs = c.policy })
		f, _ := hello(t, srv, c.user, "d")
		f.send(proto.Frame{Type: proto.TypeCreateGroup, ID: 2, Body: &proto.CreateGroup{ConvID: c.id, Members: []string{"alice"}}})
		r := f.next()
		switch {
		case c.code == 0 && r.Type != proto.TypeConvResult:
			t.Errorf("%q: %s asks for %q: got %s", c.policy, c.user, c.id, r.Type)
		case c.code == 0 && c.id == "" && !proto.ValidGroupID(r.Body.(*proto.ConvResult).Conversation.ID):
			t.Errorf("%q: relay-named id %q", c.policy, r.Body.(*proto.ConvResult).Conversation.ID)
		case c.code != 0 && (r.Type != proto.TypeError || r.Body.(*proto.ErrorBody).Code != c.code):
			t.Errorf("%q: %s asks for %q: got %s, want error %d", c.policy, c.user, c.id, r.Type, c.code)
		}
	}
	for _, o := range []Options{{GroupIDs: "mine"}, {InvitePolicy: "open"}} {
		o.Data, o.Secret, o.Logger, o.Store = t.TempDir(), testSecret, testLogger(), NewMemoryStore()
		if srv, err := New(o); err == nil {
			_ = srv.Shutdown(context.Background())
			t.Errorf("New accepted group ids %q, invite policy %q", o.GroupIDs, o.InvitePolicy)
		}
	}
}

// TestLateHelloNeverReplacesNewerSession: a hello read late from a
// connection the client has already left (it reconnected meanwhile) is
// closed, and the device's newer session keeps running. Before, the late
// hello replaced the newer session and closed the client's live
// connection with the terminal 4003 (found by TestInvariantsInMemory).
func TestLateHelloNeverReplacesNewerSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	old := open(t, srv) // the connection the client left
	time.Sleep(time.Millisecond)
	live, _ := hello(t, srv, "alice", "phone") // its new connection, opened later
	tok, err := MintToken(testSecret, "alice", time.Hour, time.Now())
	ok(t, err)
	old.send(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "phone"}})
	old.expectClose(proto.CodeKicked)
	equal(t, live.isClosed(), false, "the newer session closed by a late hello")
	equal(t, live.send(proto.Frame{Type: proto.TypePing, ID: 2, Body: &proto.Ping{}}), true, "the newer session reads on")
	equal(t, live.next().Type, proto.TypePong, "the newer session answers")
	// And a later connection still replaces it, as before.
	newer, _ := hello(t, srv, "alice", "phone")
	live.expectClose(proto.CodeKicked)
	equal(t, newer.isClosed(), false, "the newest session")
}
