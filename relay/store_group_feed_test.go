package relay

import (
	"context"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// testStoreGroupFeed: with GroupRequest.Feed the invitations and join
// requests a group change opens or ends are in the user feeds of whom they
// concern as soon as the change is, written in its transaction; a change
// whose feed write fails leaves neither.
func testStoreGroupFeed(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	never := func(invitee, inviter string) bool { return false }
	feedOf := func(t *testing.T, s Store, user string) []proto.UserEntry {
		t.Helper()
		entries, _, err := s.Feed(ctx, user, 0, 100)
		ok(t, err)
		var out []proto.UserEntry
		for _, e := range entries {
			if e.Notice != nil {
				out = append(out, e)
			}
		}
		return out
	}
	newGroup := func(t *testing.T, s Store, conv string) {
		t.Helper()
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: conv, Name: "feed", Creator: "owner", Members: []string{"admin", "owner"},
			CreatedAt: 10, Info: rules.GroupInfo{JoinPolicy: proto.JoinApproval}})
		ok(t, err)
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 11, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRole, Users: []string{"admin"}, Role: proto.RoleAdmin}})
		ok(t, err)
	}
	t.Run("groups/notices are written to the feeds with the change", func(t *testing.T) {
		s := open(t)
		conv := "g:feed"
		newGroup(t, s, conv)
		out, err := s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 20, Direct: never, Feed: true,
			Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"newbie"}}})
		ok(t, err)
		inv := feedOf(t, s, "newbie")
		if len(inv) != 1 || inv[0].Notice.Kind != proto.PendingInvite || inv[0].Notice.ConvID != conv || inv[0].Notice.Done {
			t.Fatalf("invitee's feed %+v: want the open invitation", inv)
		}
		if len(out.Feed) != 1 || out.Feed[0] == nil || out.FeedKeys[0].User != "newbie" || out.Feed[0].Pos != inv[0].Pos {
			t.Fatalf("outcome feed %+v %+v: want the entry written", out.FeedKeys, out.Feed)
		}
		// A join request reaches the owner and the admin.
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "outsider", Now: 30, Feed: true, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRequest, Note: "me"}})
		ok(t, err)
		for _, u := range []string{"owner", "admin"} {
			req := feedOf(t, s, u)
			if len(req) != 1 || req[0].Notice.Kind != proto.PendingRequest || req[0].Notice.User != "outsider" {
				t.Fatalf("%s's feed %+v: want the join request", u, req)
			}
		}
		// Answering ends it on the invitee's feed in the same change.
		out, err = s.ChangeGroup(ctx, GroupRequest{Actor: "newbie", Now: 40, Feed: true, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAnswerInvite, On: true}})
		ok(t, err)
		inv = feedOf(t, s, "newbie")
		if len(inv) != 1 || !inv[0].Notice.Done || out.View == nil {
			t.Fatalf("after accepting: feed %+v, view %v", inv, out.View != nil)
		}
		// Without Feed the store writes none (the caller does).
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 50, Direct: never, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"other"}}})
		ok(t, err)
		equal(t, len(feedOf(t, s, "other")), 0, "entries without Feed")
	})
	// Only the SQL stores can fail between the change and its feed write
	// (a trigger injects the failure); the memory store plans the feed
	// before it changes anything, so it has no in-between to test.
	// The store asked is closed at once: no store stays open beside the
	// subtests' own (a Durable Object's storage holds one at a time).
	probe := open(t)
	_, memory := servedStore(probe).(*MemoryStore)
	probe.Close()
	if memory {
		return
	}
	t.Run("groups/a change whose feed write fails leaves neither", func(t *testing.T) {
		s := open(t)
		undo := failFeedWrites(t, s)
		if undo == nil {
			t.Fatalf("no way to make %T's feed writes fail", s)
		}
		conv := "g:feedfail"
		newGroup(t, s, conv)
		_, err := s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 20, Direct: never, Feed: true,
			Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"newbie"}}})
		if err == nil {
			t.Fatal("the change succeeded although its feed entry could not be written")
		}
		inv, err := s.GroupPending(ctx, "newbie", "")
		ok(t, err)
		equal(t, len(inv), 0, "invitation left by the failed change")
		equal(t, len(feedOf(t, s, "newbie")), 0, "feed entries of the failed change")
		undo()
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 21, Direct: never, Feed: true,
			Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"newbie"}}})
		ok(t, err)
		inv, err = s.GroupPending(ctx, "newbie", "")
		ok(t, err)
		equal(t, [2]int{len(inv), len(feedOf(t, s, "newbie"))}, [2]int{1, 1}, "invitation and its feed entry after the retry")
	})
}

// failFeedWrites makes every write of a user feed entry in s fail, by a
// trigger in its database; it returns what removes the trigger, nil for
// the memory store.
func failFeedWrites(t *testing.T, s Store) func() {
	t.Helper()
	ctx := context.Background()
	if ps, isPart := s.(*partSuiteStore); isPart {
		return ps.failFeedWrites(t)
	}
	s = servedStore(s)
	switch s := s.(type) {
	case *SQLiteStore:
		_, err := s.wc.ExecContext(ctx, `CREATE TRIGGER feed_fail BEFORE INSERT ON user_feed BEGIN SELECT RAISE(ABORT, 'injected'); END`)
		ok(t, err)
		return func() {
			_, err := s.wc.ExecContext(ctx, `DROP TRIGGER feed_fail`)
			ok(t, err)
		}
	}
	return postgresFailFeedWrites(t, s)
}
