package relay

import (
	"context"
	"sync"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// testStoreFeed is the conformance test of UserFeed, run on every store by
// testStore: positions from the change counter (above a conversation's,
// in commit order), pages, entries read back, a refused plan writing
// nothing, and racing updates of one entry serialised.
func testStoreFeed(t *testing.T, open func(t *testing.T) Store) {
	t.Run("feed/positions, pages, entries, refusals", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		res, err := s.Append(ctx, []AppendRequest{textRequest("alice", proto.P2PID("alice", "bob"), "c1")})
		ok(t, err)
		sync0, _, err := s.Sync(ctx, "alice", 0, 10)
		ok(t, err)
		convPos := sync0[0].Version
		_ = res

		contact := func(user string, c proto.Contact) ([]*proto.UserEntry, error) {
			keys := []FeedKey{{user, rules.FeedRelation, c.User}, {c.User, rules.FeedRelation, user}}
			return s.UpdateFeed(ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
				mine, theirs, perr := rules.PlanContact(user, &c, relationOf(cur[0], c.User), relationOf(cur[1], user), 7)
				if perr != nil {
					return nil, perr
				}
				out := make([]*proto.UserEntry, 2)
				if mine != nil {
					out[0] = &proto.UserEntry{Relation: mine}
				}
				if theirs != nil {
					out[1] = &proto.UserEntry{Relation: theirs}
				}
				return out, nil
			})
		}
		out, err := contact("alice", proto.Contact{Op: proto.ContactRequest, User: "bob", Note: "hi bob"})
		ok(t, err)
		if out[0] == nil || out[1] == nil || out[0].Pos <= convPos || out[1].Pos <= out[0].Pos {
			t.Fatalf("positions %+v %+v after the conversation's %d", out[0], out[1], convPos)
		}
		equal(t, *out[1].Relation, proto.Relation{User: "alice", State: proto.RelPending, Note: "hi bob", At: 7}, "bob's side")

		// A refused plan writes nothing.
		_, err = contact("alice", proto.Contact{Op: proto.ContactAccept, User: "bob"})
		equal(t, storeCode(err), proto.CodeNoRequest, "alice accepting her own request")
		_, err = contact("bob", proto.Contact{Op: proto.ContactAccept, User: "alice"})
		ok(t, err)
		_, err = contact("bob", proto.Contact{Op: proto.ContactBlock, User: "carol"})
		ok(t, err)
		_, err = contact("carol", proto.Contact{Op: proto.ContactRequest, User: "bob"})
		equal(t, storeCode(err), proto.CodeBlocked, "carol's request to bob, who blocked her")

		feed, more, err := s.Feed(ctx, "bob", 0, 10)
		ok(t, err)
		equal(t, more, false, "more")
		equal(t, len(feed), 2, "bob's entries")
		equal(t, *feed[0].Relation, proto.Relation{User: "alice", State: proto.RelContact, At: 7}, "bob's contact")
		equal(t, *feed[1].Relation, proto.Relation{User: "carol", Blocked: true, At: 7}, "bob's block")
		page, more, err := s.Feed(ctx, "bob", 0, 1)
		ok(t, err)
		equal(t, len(page) == 1 && more, true, "a page of one")
		rest, more, err := s.Feed(ctx, "bob", page[0].Pos, 10)
		ok(t, err)
		equal(t, len(rest) == 1 && !more && rest[0].Pos == feed[1].Pos, true, "the next page")

		got, err := s.FeedEntries(ctx, []FeedKey{{"bob", rules.FeedRelation, "carol"}, {"bob", rules.FeedPrefs, ""}, {"carol", rules.FeedRelation, "bob"}})
		ok(t, err)
		equal(t, got[0], feed[1], "bob's entry for carol")
		equal(t, got[1], proto.UserEntry{}, "bob's prefs, never set")
		equal(t, got[2], proto.UserEntry{}, "carol's side: nothing")

		// An entry written again moves to its new position.
		_, err = contact("bob", proto.Contact{Op: proto.ContactUnblock, User: "carol"})
		ok(t, err)
		last, _, err := s.Feed(ctx, "bob", feed[1].Pos, 10)
		ok(t, err)
		equal(t, len(last), 1, "entries after the block")
		equal(t, last[0].Relation.Blocked, false, "unblocked")
	})
	t.Run("feed/racing updates of one entry are serialised", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		key := []FeedKey{{"alice", rules.FeedSetting, "g:x"}}
		var wg sync.WaitGroup
		const n = 20
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdateFeed(ctx, key, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
					next := proto.ConvSetting{ConvID: "g:x"}
					if cur[0].Setting != nil {
						next = *cur[0].Setting
					}
					next.HiddenSeq++ // a counter: a lost update shows as a smaller count
					return []*proto.UserEntry{{Setting: &next}}, nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, err := s.FeedEntries(ctx, key)
		ok(t, err)
		equal(t, got[0].Setting.HiddenSeq, uint64(n), "updates counted")
	})
}
