package relay

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// testStorePresence is the presence part of the conformance suite, run
// against the memory store, SQLite and PostgreSQL: presence counts of
// several nodes, status, last seen, the subscription limit and expiry, and
// profiles.
func testStorePresence(t *testing.T, open func(t *testing.T) Store) {
	ps := func(t *testing.T) PresenceStore {
		s, isPS := open(t).(PresenceStore)
		if !isPS {
			t.Fatal("the store keeps no presence")
		}
		return s
	}
	t.Run("presence/online while any node holds a session", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		got, err := s.Presence(ctx, []string{"alice", "bob"})
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "alice"}, {User: "bob"}}, "never seen")
		p, changed, err := setSession(ctx, s, "alice", "n1", 1, 100)
		ok(t, err)
		equal(t, [2]any{p, changed}, [2]any{proto.Presence{User: "alice", Online: true}, true}, "first session")
		p, changed, err = setSession(ctx, s, "alice", "n2", 2, 110)
		ok(t, err)
		equal(t, [2]any{p, changed}, [2]any{proto.Presence{User: "alice", Online: true}, false}, "second node")
		p, changed, err = setSession(ctx, s, "alice", "n1", 0, 120)
		ok(t, err)
		equal(t, [2]any{p, changed}, [2]any{proto.Presence{User: "alice", Online: true}, false}, "one node left, the other holds two")
		p, changed, err = setSession(ctx, s, "alice", "n2", 0, 130)
		ok(t, err)
		equal(t, [2]any{p, changed}, [2]any{proto.Presence{User: "alice", LastSeen: 130}, true}, "the last node left")
		p, changed, err = setSession(ctx, s, "alice", "n2", 0, 140)
		ok(t, err)
		equal(t, [2]any{p, changed}, [2]any{proto.Presence{User: "alice", LastSeen: 130}, false}, "no session, again")

		p, err = s.SetStatus(ctx, "alice", "in a meeting")
		ok(t, err)
		equal(t, p, proto.Presence{User: "alice", Status: "in a meeting", LastSeen: 130}, "status while offline")
		_, _, err = setSession(ctx, s, "alice", "n3", 1, 150)
		ok(t, err)
		got, err = s.Presence(ctx, []string{"bob", "alice"})
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "bob"}, {User: "alice", Online: true, Status: "in a meeting"}}, "in the order asked")
		p, err = s.SetStatus(ctx, "alice", "")
		ok(t, err)
		equal(t, p, proto.Presence{User: "alice", Online: true}, "status cleared")
	})
	t.Run("presence/a batch of users in one call", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		changed, err := s.SetSessions(ctx, "n1", []SessionCount{{"alice", 1}, {"bob", 2}, {"carol", 0}}, 100)
		ok(t, err)
		equal(t, changed, []proto.Presence{{User: "alice", Online: true}, {User: "bob", Online: true}}, "two came online, carol was never seen")
		changed, err = s.SetSessions(ctx, "n2", []SessionCount{{"bob", 1}}, 105)
		ok(t, err)
		equal(t, len(changed), 0, "bob on a second node")
		changed, err = s.SetSessions(ctx, "n1", []SessionCount{{"bob", 0}, {"alice", 0}, {"dave", 3}}, 110)
		ok(t, err)
		equal(t, changed, []proto.Presence{{User: "alice", LastSeen: 110}, {User: "dave", Online: true}}, "in the order of the counts; bob is still on n2")
		got, err := s.Presence(ctx, []string{"alice", "bob", "carol", "dave"})
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "alice", LastSeen: 110}, {User: "bob", Online: true}, {User: "carol"}, {User: "dave", Online: true}}, "stored")
		changed, err = s.SetSessions(ctx, "n1", nil, 120)
		ok(t, err)
		equal(t, len(changed), 0, "an empty batch")
	})
	t.Run("presence/subscription limit and expiry", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		const max = 5
		ok(t, subscribeOne(ctx, s, "alice", []string{"u1", "u2", "u3"}, 1000, 0, max))
		ok(t, subscribeOne(ctx, s, "alice", []string{"u3", "u4"}, 2000, 0, max)) // u3 renewed: 4 live
		err := subscribeOne(ctx, s, "alice", []string{"u4", "u5", "u6"}, 2000, 0, max)
		equal(t, storeCode(err), proto.CodePresenceLimit, "6 would pass the limit of 5")
		w, err := s.Watchers(ctx, "u5", 0)
		ok(t, err)
		equal(t, len(w), 0, "a refused request subscribed nobody")
		ok(t, subscribeOne(ctx, s, "bob", []string{"u1"}, 5000, 0, max))
		w, err = s.Watchers(ctx, "u1", 999)
		ok(t, err)
		equal(t, w, []string{"alice", "bob"}, "watchers of u1")
		w, err = s.Watchers(ctx, "u1", 1000)
		ok(t, err)
		equal(t, w, []string{"bob"}, "alice's subscription to u1 expired at 1000")
		w, err = s.Watchers(ctx, "u3", 1500)
		ok(t, err)
		equal(t, w, []string{"alice"}, "u3 was renewed to 2000")
		// At 1000 u1 and u2 expired: they no longer count against the limit.
		ok(t, subscribeOne(ctx, s, "alice", []string{"u5", "u6", "u7"}, 3000, 1000, max))
		ok(t, s.Unsubscribe(ctx, "alice", []string{"u5", "u6", "nobody"}))
		w, err = s.Watchers(ctx, "u5", 1000)
		ok(t, err)
		equal(t, len(w), 0, "unsubscribed")
		w, err = s.Watchers(ctx, "u7", 1000)
		ok(t, err)
		equal(t, w, []string{"alice"}, "still subscribed")
	})
	t.Run("presence/subscriptions in a batch", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		const max = 3
		refused, err := s.Subscribe(ctx, []PresenceSub{
			{Subscriber: "alice", Targets: []string{"u1", "u2"}, Expires: 1000},
			{Subscriber: "carol", Targets: []string{"u1", "u2", "u3", "u4"}, Expires: 1000},
			{Subscriber: "alice", Targets: []string{"u2", "u3", "u4"}, Expires: 2000},
			{Subscriber: "bob", Targets: []string{"u1"}, Expires: 1000},
			{Subscriber: "alice", Targets: []string{"u3"}, Expires: 2000},
		}, max)
		ok(t, err)
		if len(refused) != 5 {
			t.Fatalf("refused %v, want one per request", refused)
		}
		codes := make([]proto.Code, len(refused))
		for i, perr := range refused {
			if perr != nil {
				codes[i] = perr.Code
			}
		}
		equal(t, codes, []proto.Code{0, proto.CodePresenceLimit, proto.CodePresenceLimit, 0, 0},
			"carol above the limit alone; alice's second request counted with her first")
		for target, want := range map[string][]string{"u1": {"alice", "bob"}, "u2": {"alice"}, "u3": {"alice"}, "u4": nil} {
			w, err := s.Watchers(ctx, target, 500)
			ok(t, err)
			equal(t, len(w) == 0 && len(want) == 0 || slices.Equal(w, want), true, "watchers of "+target+": "+strings.Join(w, ","))
		}
		refused, err = s.Subscribe(ctx, nil, max)
		ok(t, err)
		equal(t, len(refused), 0, "an empty batch")
		refused, err = s.Subscribe(ctx, []PresenceSub{{Subscriber: "dave", Targets: []string{"u1"}, Expires: 1000}}, max)
		ok(t, err)
		equal(t, refused == nil, true, "nothing refused: nil")
	})
	t.Run("profiles/merge and read", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		str := func(v string) *string { return &v }
		got, err := s.Profiles(ctx, []string{"alice"})
		ok(t, err)
		equal(t, got, []proto.Profile{{User: "alice"}}, "never set")
		p, err := s.SetProfile(ctx, "alice", proto.SetProfile{Nickname: str("Alice"), Custom: str(`{"a":1}`)}, 100)
		ok(t, err)
		equal(t, p, proto.Profile{User: "alice", Nickname: "Alice", Custom: `{"a":1}`, UpdatedAt: 100}, "set")
		p, err = s.SetProfile(ctx, "alice", proto.SetProfile{Avatar: str("https://x/a.png"), Custom: str("")}, 90)
		ok(t, err)
		equal(t, p, proto.Profile{User: "alice", Nickname: "Alice", Avatar: "https://x/a.png", UpdatedAt: 101}, "merged; a clock behind still moves updatedAt on")
		got, err = s.Profiles(ctx, []string{"bob", "alice"})
		ok(t, err)
		equal(t, got, []proto.Profile{{User: "bob"}, p}, "in the order asked")
	})
	t.Run("presence/a dead node's sessions are reclaimed when its lease expires", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		nl, isNL := s.(NodeLeases)
		if !isNL {
			t.Fatal("the store keeps no node leases")
		}
		held, err := nl.RenewLease(ctx, "live", 1000, 100)
		ok(t, err)
		equal(t, held, false, "a new lease")
		held, err = nl.RenewLease(ctx, "dead", 500, 100)
		ok(t, err)
		equal(t, held, false, "a new lease")
		for _, x := range []struct {
			user, node string
		}{{"alice", "dead"}, {"bob", "dead"}, {"bob", "live"}, {"carol", "live"}, {"dave", "gone"}} {
			_, _, err := setSession(ctx, s, x.user, x.node, 1, 100)
			ok(t, err)
		}
		got, err := nl.ReclaimNodes(ctx, "", 400)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "dave", LastSeen: 400}}, "a node that holds no lease at all")
		got, err = nl.ReclaimNodes(ctx, "", 500)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "alice", LastSeen: 500}}, "the dead node's lease expired: bob is still on the live one")
		got, err = nl.ReclaimNodes(ctx, "", 600)
		ok(t, err)
		equal(t, len(got), 0, "nothing left to reclaim")
		pr, err := s.Presence(ctx, []string{"alice", "bob", "carol", "dave"})
		ok(t, err)
		equal(t, pr, []proto.Presence{{User: "alice", LastSeen: 500}, {User: "bob", Online: true}, {User: "carol", Online: true}, {User: "dave", LastSeen: 400}}, "after")

		held, err = nl.RenewLease(ctx, "dead", 2000, 700)
		ok(t, err)
		equal(t, held, false, "the expired lease is not held: the node writes its counts again")
		held, err = nl.RenewLease(ctx, "live", 2000, 700)
		ok(t, err)
		equal(t, held, true, "a live lease renewed")

		got, err = nl.ReclaimNodes(ctx, "live", 800)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "bob", LastSeen: 800}, {User: "carol", LastSeen: 800}}, "a node starting again under its id takes back its old counts")
		held, err = nl.RenewLease(ctx, "live", 3000, 900)
		ok(t, err)
		equal(t, held, false, "its lease went with them")
		ok(t, nl.DropLease(ctx, "live"))
		_, _, err = setSession(ctx, s, "erin", "live", 1, 1000)
		ok(t, err)
		got, err = nl.ReclaimNodes(ctx, "", 1000)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "erin", LastSeen: 1000}}, "a dropped lease")
	})
	t.Run("presence/a node without a lease restarts with the sessions it holds", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		nr, isNR := s.(NodeRestarter)
		if !isNR {
			t.Fatal("the store cannot restart a node without a lease")
		}
		// The node's earlier run counted alice, bob and carol; an older
		// id of the same object still counts dave; erin is on a node with
		// a live lease.
		for _, x := range []struct {
			user, node string
		}{{"alice", "obj"}, {"bob", "obj"}, {"carol", "obj"}, {"dave", "old-id"}, {"erin", "live"}, {"bob", "live"}} {
			_, _, err := setSession(ctx, s, x.user, x.node, 1, 100)
			ok(t, err)
		}
		if nl, isNL := s.(NodeLeases); isNL {
			_, err := nl.RenewLease(ctx, "live", 10_000, 100)
			ok(t, err)
		}
		// Started again, it holds alice's two sessions and frank's.
		got, err := nr.RestartNode(ctx, "obj", map[string]int{"alice": 2, "frank": 1}, 500)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "carol", LastSeen: 500}, {User: "dave", LastSeen: 500}},
			"carol and dave were online only through the earlier run; bob still is through a live node")
		pr, err := s.Presence(ctx, []string{"alice", "bob", "carol", "dave", "erin", "frank"})
		ok(t, err)
		equal(t, pr, []proto.Presence{{User: "alice", Online: true}, {User: "bob", Online: true}, {User: "carol", LastSeen: 500},
			{User: "dave", LastSeen: 500}, {User: "erin", Online: true}, {User: "frank", Online: true}}, "after the restart")
		// The counts are the node's own again: alice's last session
		// leaving takes her offline; a second restart with nothing held
		// takes frank.
		_, changed, err := setSession(ctx, s, "alice", "obj", 0, 600)
		ok(t, err)
		equal(t, changed, true, "alice's last session left")
		got, err = nr.RestartNode(ctx, "obj", nil, 700)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "frank", LastSeen: 700}}, "a restart holding nothing")
		got, err = nr.RestartNode(ctx, "obj", nil, 800)
		ok(t, err)
		equal(t, len(got), 0, "nothing left")
	})
	t.Run("presence/restarting nodes that hold leases leave each other's counts", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		nr, isNR := s.(NodeRestarter)
		nl, isNL := s.(NodeLeases)
		if !isNR || !isNL {
			t.Fatal("the store cannot restart nodes or keep leases")
		}
		// Two nodes that hibernate, each with a lease that does not run
		// out (the Workers relay's shards): each restarts when it wakes.
		for _, node := range []string{"shard-a", "shard-b"} {
			_, err := nl.RenewLease(ctx, node, 1<<50, 100)
			ok(t, err)
		}
		_, err := nr.RestartNode(ctx, "shard-a", map[string]int{"alice": 1}, 200)
		ok(t, err)
		_, err = nr.RestartNode(ctx, "shard-b", map[string]int{"bob": 1}, 300)
		ok(t, err)
		got, err := nr.RestartNode(ctx, "shard-a", map[string]int{"alice": 1}, 400)
		ok(t, err)
		equal(t, len(got), 0, "a restart holding the same sessions changes nothing")
		got, err = nr.RestartNode(ctx, "shard-b", nil, 500)
		ok(t, err)
		equal(t, got, []proto.Presence{{User: "bob", LastSeen: 500}}, "shard-b's restart holding nothing: bob only")
		pr, err := s.Presence(ctx, []string{"alice", "bob"})
		ok(t, err)
		equal(t, pr, []proto.Presence{{User: "alice", Online: true}, {User: "bob", LastSeen: 500}}, "alice online through shard-a, whose restarts kept its lease")
	})
	t.Run("users/erase a user", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := ps(t)
		er, isER := s.(UserEraser)
		if !isER {
			t.Fatal("the store erases no users")
		}
		feed := s.(UserFeed)
		nick := "Alice"
		_, err := s.SetProfile(ctx, "alice", proto.SetProfile{Nickname: &nick}, 100)
		ok(t, err)
		_, err = s.SetStatus(ctx, "alice", "away")
		ok(t, err)
		_, _, err = setSession(ctx, s, "alice", "n1", 1, 100)
		ok(t, err)
		ok(t, subscribeOne(ctx, s, "alice", []string{"bob"}, 10_000, 100, 10))
		ok(t, subscribeOne(ctx, s, "bob", []string{"alice", "carol"}, 10_000, 100, 10))
		rel := func(owner, other, state string, blocked bool) {
			_, err := feed.UpdateFeed(ctx, []FeedKey{{owner, rules.FeedRelation, other}}, func([]proto.UserEntry) ([]*proto.UserEntry, error) {
				return []*proto.UserEntry{{Relation: &proto.Relation{User: other, State: state, Blocked: blocked, At: 100}}}, nil
			})
			ok(t, err)
		}
		rel("alice", "bob", proto.RelContact, false)
		rel("bob", "alice", proto.RelContact, false)
		rel("carol", "alice", proto.RelNone, true)
		rel("carol", "bob", proto.RelContact, false)
		got, err := er.RelationsTo(ctx, "alice")
		ok(t, err)
		equal(t, got, []string{"bob", "carol"}, "who holds a relation to alice")

		p, err := er.EraseUser(ctx, "alice", 200)
		ok(t, err)
		equal(t, p, proto.Profile{User: "alice", UpdatedAt: 200, Deleted: true}, "the tombstone")
		prof, err := s.Profiles(ctx, []string{"alice"})
		ok(t, err)
		equal(t, prof, []proto.Profile{p}, "profile read back")
		pr, err := s.Presence(ctx, []string{"alice"})
		ok(t, err)
		equal(t, pr, []proto.Presence{{User: "alice"}}, "no status, no session, no last seen")
		w, err := s.Watchers(ctx, "alice", 150)
		ok(t, err)
		equal(t, len(w), 0, "nobody watches alice")
		w, err = s.Watchers(ctx, "bob", 150)
		ok(t, err)
		equal(t, len(w), 0, "alice watches nobody")
		w, err = s.Watchers(ctx, "carol", 150)
		ok(t, err)
		equal(t, w, []string{"bob"}, "others' subscriptions stay")
		entries, _, err := feed.Feed(ctx, "alice", 0, 100)
		ok(t, err)
		equal(t, len(entries), 0, "alice's feed is gone")
		entries, _, err = feed.Feed(ctx, "carol", 0, 100)
		ok(t, err)
		equal(t, len(entries), 2, "others' feeds are theirs to change (the relay writes them through UpdateFeed)")

		p, err = er.EraseUser(ctx, "alice", 150)
		ok(t, err)
		equal(t, p, proto.Profile{User: "alice", UpdatedAt: 201, Deleted: true}, "again: only updatedAt moves on")
		p, err = s.SetProfile(ctx, "alice", proto.SetProfile{Nickname: &nick}, 300)
		ok(t, err)
		equal(t, p, proto.Profile{User: "alice", Nickname: "Alice", UpdatedAt: 300}, "a new profile for the id")
	})
}

// setSession records one user's count on node, as the tracker does in a
// batch, and returns the user's presence after it and whether it flipped.
func setSession(ctx context.Context, s PresenceWriter, user, node string, n int, now int64) (proto.Presence, bool, error) {
	changed, err := s.SetSessions(ctx, node, []SessionCount{{user, n}}, now)
	if err != nil {
		return proto.Presence{}, false, err
	}
	if len(changed) == 1 {
		return changed[0], true, nil
	}
	got, err := s.Presence(ctx, []string{user})
	if err != nil {
		return proto.Presence{}, false, err
	}
	return got[0], false, nil
}

// subscribeOne subscribes subscriber to targets alone in a batch, as
// Subscribe did before it took batches, and returns its refusal.
func subscribeOne(ctx context.Context, s PresenceSubs, subscriber string, targets []string, expires, now int64, max int) error {
	refused, err := s.Subscribe(ctx, []PresenceSub{{Subscriber: subscriber, Targets: targets, Expires: expires, Now: now}}, max)
	if err != nil {
		return err
	}
	if refused != nil && refused[0] != nil {
		return refused[0]
	}
	return nil
}
