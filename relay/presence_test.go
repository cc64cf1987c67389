//go:build !js

package relay

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// TestPresence: a subscriber's devices are told when a user goes online
// (first device) and offline (last device, with when), and when the
// status changes; a second device coming or going changes nothing.
func TestPresence(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice1, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	presences := func(f proto.Frame) []proto.Presence {
		t.Helper()
		if f.Type != proto.TypePresences {
			t.Fatalf("got %s %+v, want presences", f.Type, f.Body)
		}
		return f.Body.(*proto.Presences).List
	}
	got := presences(alice1.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"bob", "carol", "bob"}}))
	equal(t, got, []proto.Presence{{User: "bob"}, {User: "carol"}}, "never seen, repeats dropped")

	bob1, _ := login(t, r, "bob", "one")
	for _, a := range []*client{alice1, alice2} {
		equal(t, presences(a.push(proto.TypePresences)), []proto.Presence{{User: "bob", Online: true}}, "bob online, on both of alice's devices")
	}
	bob2, _ := login(t, r, "bob", "two")
	equal(t, bob1.call(proto.TypeSetStatus, &proto.SetStatus{Status: "in a meeting"}).Type, proto.TypeOK, "set status")
	for _, a := range []*client{alice1, alice2} {
		equal(t, presences(a.push(proto.TypePresences)), []proto.Presence{{User: "bob", Online: true, Status: "in a meeting"}}, "status, on both of alice's devices")
	}
	bob2.c.CloseNow()
	alice1.quiet("one of bob's two devices left")
	before := time.Now().UnixMilli()
	bob1.c.CloseNow()
	p := presences(alice1.push(proto.TypePresences))[0]
	if p.Online || p.LastSeen < before || p.Status != "in a meeting" {
		t.Fatalf("after the last device left: %+v", p)
	}
	equal(t, presences(alice2.push(proto.TypePresences)), []proto.Presence{p}, "offline, on alice's other device")
	got = presences(alice2.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"bob"}, Op: proto.PresenceQuery}))
	equal(t, got, []proto.Presence{p}, "a query reads the same")

	// Unsubscribed: no more pushes.
	equal(t, len(presences(alice2.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"bob"}, Op: proto.PresenceUnsubscribe}))), 0, "unsubscribe answer")
	login(t, r, "bob", "three")
	alice1.quiet("bob online after the unsubscribe")
	alice2.quiet("bob online after the unsubscribe")
}

// TestPresenceHeartbeat: a client that dies without a word is offline
// once the heartbeat timeout closes its session.
func TestPresenceHeartbeat(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Heartbeat, o.HeartbeatTimeout = 200*time.Millisecond, 400*time.Millisecond })
	alice, _ := login(t, r, "alice", "d")
	alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"bob"}})
	login(t, r, "bob", "d") // then silent: never pings
	equal(t, alice.push(proto.TypePresences).Body.(*proto.Presences).List[0].Online, true, "bob online")
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // alice stays alive
		defer close(stopped)
		ping := proto.MustEncode(proto.Frame{Type: proto.TypePing, Body: &proto.Ping{}})
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				alice.c.Write(context.Background(), websocket.MessageBinary, ping)
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	equal(t, alice.push(proto.TypePresences).Body.(*proto.Presences).List[0].Online, false, "bob offline after the heartbeat timeout")
}

// TestPresenceBadInput: each refusal has its code and changes nothing; the
// connection is kept.
func TestPresenceBadInput(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	users := func(from, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "u" + strconv.Itoa(from+i)
		}
		return out
	}
	for i := 0; i < proto.MaxPresenceSubs; i += proto.MaxPresenceBatch {
		f := alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: users(i, proto.MaxPresenceBatch)})
		equal(t, f.Type, proto.TypePresences, "subscribing up to the limit")
	}
	f := alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"u0", "one-more"}})
	equal(t, errCode(t, f), proto.CodePresenceLimit, "one more than 3,000")
	f = alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"u0", "u1"}, TTLMs: 60000})
	equal(t, f.Type, proto.TypePresences, "renewing held subscriptions is not over the limit")
	f = alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: users(0, proto.MaxPresenceBatch+1)})
	equal(t, errCode(t, f), proto.CodeTooManyUsers, "more users than one request may carry")
	f = alice.call(proto.TypeSetStatus, &proto.SetStatus{Status: strings.Repeat("x", proto.MaxStatusBytes+1)})
	equal(t, errCode(t, f), proto.CodeStatusTooLong, "status of 65 bytes")
	f = alice.call(proto.TypeSetStatus, &proto.SetStatus{Status: "evil\u202e"})
	equal(t, errCode(t, f), proto.CodeBadProfile, "status with a bidi override")
	nick := strings.Repeat("n", proto.MaxNicknameBytes+1)
	f = alice.call(proto.TypeSetProfile, &proto.SetProfile{Nickname: &nick})
	equal(t, errCode(t, f), proto.CodeBadProfile, "nickname of 65 bytes")
	f = alice.call(proto.TypeSetProfile, &proto.SetProfile{})
	equal(t, errCode(t, f), proto.CodeBadRequest, "a profile change with nothing")
	f = alice.call(proto.TypeGetProfiles, &proto.GetProfiles{Users: []string{"bob", "not valid"}})
	equal(t, errCode(t, f), proto.CodeBadRequest, "invalid user id")
	got, err := r.srv.Presence(t.Context(), []string{"alice"})
	ok(t, err)
	equal(t, got, []proto.Presence{{User: "alice", Online: true}}, "status unchanged by the refusals")
	p := alice.call(proto.TypeGetProfiles, &proto.GetProfiles{Users: []string{"alice"}}).Body.(*proto.Profiles).List
	equal(t, p, []proto.Profile{{User: "alice"}}, "profile unchanged by the refusals")
}

// TestProfiles: a profile change answers the profile as stored and reaches
// the user's other devices and the user's watchers, not the device that
// made it; anyone reads it.
func TestProfiles(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice1, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	carol, _ := login(t, r, "carol", "d")
	bob.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"alice"}})
	nick, avatar := "Alice", "https://example.com/a.png"
	before := time.Now().UnixMilli()
	f := alice1.call(proto.TypeSetProfile, &proto.SetProfile{Nickname: &nick, Avatar: &avatar})
	p := f.Body.(*proto.Profiles).List[0]
	if p.User != "alice" || p.Nickname != nick || p.Avatar != avatar || p.UpdatedAt < before {
		t.Fatalf("set-profile answer %+v", p)
	}
	equal(t, alice2.push(proto.TypeProfiles).Body.(*proto.Profiles).List, []proto.Profile{p}, "alice's other device")
	equal(t, bob.push(proto.TypeProfiles).Body.(*proto.Profiles).List, []proto.Profile{p}, "a watcher of alice")
	alice1.quiet("the device that made the change")
	carol.quiet("a user not watching alice")
	got := carol.call(proto.TypeGetProfiles, &proto.GetProfiles{Users: []string{"alice", "dave"}}).Body.(*proto.Profiles).List
	equal(t, got, []proto.Profile{p, {User: "dave"}}, "read by anyone")
}

// TestTypingFlood: a flood of typing frames within the connection's rate
// limit is throttled to one pass per interval, and the connection is kept.
func TestTypingFlood(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	conv := proto.P2PID("alice", "bob")
	for range 300 {
		alice.write(proto.Frame{Type: proto.TypeTyping, Body: &proto.Typing{ConvID: conv}})
	}
	equal(t, alice.call(proto.TypePing, &proto.Ping{}).Type, proto.TypePong, "alice still connected after 300 typing frames")
	equal(t, bob.push(proto.TypeTyping).Body.(*proto.Typing).User, "alice", "one typing passed")
	bob.quiet("the other 299 were dropped")
}

// TestPresenceDeadNodes: the sessions a killed relay node left counted in
// the store end. A node started again under the same id takes back its own
// at once, even while its old lease still runs; a node without a lease is
// reclaimed at the first sweep; and a node whose lease expires later has its
// users pushed offline to their watchers then — on each store.
func TestPresenceDeadNodes(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemoryStore() },
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
			ok(t, err)
			return s
		},
		"postgres": func(t *testing.T) Store { return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4}) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := open(t)
			nl := store.(NodeLeases)
			ps := store.(PresenceStore)
			now := time.Now().UnixMilli()
			_, err := nl.RenewLease(ctx, "me", now+time.Hour.Milliseconds(), now)
			ok(t, err)
			for _, x := range [][2]string{{"carol", "me"}, {"bob", "ghost"}} {
				_, _, err := setSession(ctx, ps, x[0], x[1], 1, now-1000)
				ok(t, err)
			}
			r := startRelay(t, func(o *Options) { o.Store, o.NodeID, o.NodeLease = store, "me", time.Second })
			alice, _ := login(t, r, "alice", "d")
			// The reclaim at start runs beside the first sessions: wait
			// for it through the store, not the clock.
			deadline := time.Now().Add(30 * time.Second)
			for {
				got, err := ps.Presence(ctx, []string{"carol", "bob"})
				ok(t, err)
				if !got[0].Online && !got[1].Online {
					if got[0].LastSeen < now || got[1].LastSeen < now {
						t.Fatalf("reclaimed without a last-seen time of the reclaim: %+v", got)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still online: %+v", got)
				}
				time.Sleep(50 * time.Millisecond)
			}
			alice.call(proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"dave"}})
			// Another node counts dave's session, renews its lease once
			// and dies.
			now = time.Now().UnixMilli()
			_, err = nl.RenewLease(ctx, "dying", now+1000, now)
			ok(t, err)
			_, _, err = setSession(ctx, ps, "dave", "dying", 1, now)
			ok(t, err)
			f := alice.awaitFor(30*time.Second, "dave offline", func(f proto.Frame) bool { return f.ID == 0 && f.Type == proto.TypePresences })
			p := f.Body.(*proto.Presences).List[0]
			if p.User != "dave" || p.Online || p.LastSeen < now+1000 {
				t.Fatalf("push: %+v", p)
			}
			me, err := ps.Presence(ctx, []string{"alice"})
			ok(t, err)
			equal(t, me[0].Online, true, "the live node's own user stays online through its sweeps")
		})
	}
}

// batchCountingStore is a memory store whose SetSessions records the size
// of each call, and holds the first call until release is closed.
type batchCountingStore struct {
	*MemoryStore
	*heldCalls
}

func (s *batchCountingStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) ([]proto.Presence, error) {
	s.enter(len(counts))
	return s.MemoryStore.SetSessions(ctx, node, counts, now)
}

// A relay that restarts sees its clients come back at once. The tracker
// writes their counts a batch of users per store transaction: one
// transaction, and one fsync, per user held the store's writer, and the
// messages queued behind it, for as long as the storm lasted.
func TestPresenceWritesInBatches(t *testing.T) {
	ctx := context.Background()
	store := &batchCountingStore{MemoryStore: NewMemoryStore(), heldCalls: newHeldCalls()}
	p := newPresenceTracker(ctx, store, nil, nil, Options{Logger: slog.Default()})
	const n = 1000
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
		p.joined(users[i])
	}
	close(store.release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := store.Presence(ctx, users)
		ok(t, err)
		online := 0
		for _, pr := range got {
			if pr.Online {
				online++
			}
		}
		if online == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d users online in the store", online, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop(ctx)
	// The first call holds whatever had joined when the tracker woke; the
	// rest wait for it and go in full batches.
	store.check(t, "users", n, presenceBatch, 1+(n+presenceBatch-1)/presenceBatch, false)
}

// subsCountingStore is a memory store whose Subscribe records the size of
// each call, and holds the first call until release is closed.
type subsCountingStore struct {
	*MemoryStore
	*heldCalls
}

func (s *subsCountingStore) Subscribe(ctx context.Context, subs []PresenceSub, max int) ([]*proto.Error, error) {
	s.enter(len(subs))
	return s.MemoryStore.Subscribe(ctx, subs, max)
}

// Clients that subscribe to presence as they start do so together when
// their users come back at once. The tracker writes the requests made at
// the same time in one store transaction, presenceSubBatch at most: one
// transaction, and one fsync, per request held the store's writer, and the
// messages behind it. Each request is still stored, or refused on its own,
// before its answer.
func TestPresenceSubscriptionsInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &subsCountingStore{MemoryStore: NewMemoryStore(), heldCalls: newHeldCalls()}
	p := newPresenceTracker(ctx, store, nil, nil, Options{Logger: slog.Default()})
	defer p.stop(ctx)
	const n, tooMany = 300, 7
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		sub := PresenceSub{Subscriber: fmt.Sprintf("u%04d", i), Targets: []string{"target"}, Expires: now + 60_000, Now: now}
		if i == tooMany {
			sub.Targets = make([]string, proto.MaxPresenceSubs+1)
			for j := range sub.Targets {
				sub.Targets[j] = fmt.Sprintf("t%d", j)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.subscribe(ctx, sub)
		}()
	}
	// The first call holds the store: wait until every request is in a
	// call or waits for one.
	store.releaseWhen(t, "requests", n, p.subs.waiting)
	wg.Wait()
	for i, err := range errs {
		if i == tooMany {
			equal(t, storeCode(err), proto.CodePresenceLimit, "the request above the limit")
			continue
		}
		ok(t, err)
	}
	w, err := store.Watchers(ctx, "target", now)
	ok(t, err)
	equal(t, len(w), n-1, "watchers stored")
	store.check(t, "requests", n, presenceSubBatch, 1+(n-1+presenceSubBatch-1)/presenceSubBatch, true)
}

// TestAbandonWritesNothing: a relay abandoned for a later run of its node
// (Server.Abandon, as the Workers relay does when a shard's object is
// constructed again) writes nothing more to the store: its sessions ending
// do not count their users offline, which would undo the counts the new
// run holds. The same relay shut down normally does count them offline.
func TestAbandonWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, abandon := range []bool{true, false} {
		// The relay's store is a RemoteStore, as on Workers: the relay
		// closes its client, and the store it serves stays readable.
		remote, store := remoteMemory(t)
		r := startRelay(t, func(o *Options) { o.Store, o.NodeID, o.NodeLease = remote, "shard-0", -1 })
		alice, _ := login(t, r, "alice", "phone")
		online := func() bool {
			p, err := store.Presence(ctx, []string{"alice"})
			ok(t, err)
			return p[0].Online
		}
		eventually(t, "alice counted online", online)
		if abandon {
			r.srv.Abandon()
		} else {
			go r.srv.Shutdown(ctx)
		}
		alice.c.CloseNow()
		if abandon {
			time.Sleep(300 * time.Millisecond)
			equal(t, online(), true, "alice's count after her session ended on an abandoned relay")
		} else {
			eventually(t, "alice counted offline by a relay shut down", func() bool { return !online() })
		}
	}
}
