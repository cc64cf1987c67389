package relay

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// testStoreKeyedCreate: creates without an id, carrying an idempotency key,
// give one group per (creator, key) in every store — a resend gets the group
// the first request made, even after its members changed — and another
// creator's same key is another group.
func testStoreKeyedCreate(t *testing.T, open func(t *testing.T) Store) {
	t.Run("groups/keyed create is idempotent per creator and key", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		req := &proto.CreateGroup{Name: "trip", Members: []string{"bob", "carol"}, Key: "k1"}
		plan := func(creator string) GroupSpec {
			spec, perr := rules.PlanGroup(creator, req, time.UnixMilli(7), newGroupID(creator, req))
			if perr != nil {
				t.Fatal(perr)
			}
			return spec
		}
		first, created, err := s.CreateGroup(ctx, plan("alice"))
		ok(t, err)
		equal(t, created, true, "first create")
		equal(t, first.ID, KeyedGroupID("alice", "k1"), "keyed id")
		again, created, err := s.CreateGroup(ctx, plan("alice"))
		ok(t, err)
		equal(t, created, false, "resend creates")
		equal(t, again.ID, first.ID, "resend id")
		// The members change; a late resend still names the same group.
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: 8, Op: proto.GroupOp{ConvID: first.ID, Op: proto.OpRemove, Users: []string{"carol"}}})
		ok(t, err)
		late, created, err := s.CreateGroup(ctx, plan("alice"))
		ok(t, err)
		equal(t, created, false, "late resend creates")
		equal(t, late.ID, first.ID, "late resend id")
		// Bob's key k1 is his own group.
		bobs, created, err := s.CreateGroup(ctx, plan("bob"))
		ok(t, err)
		equal(t, created, true, "another creator's key")
		if bobs.ID == first.ID {
			t.Fatalf("bob's key k1 named alice's group %s", first.ID)
		}
		total, _, err := s.(GroupCounter).GroupsCreated(ctx, "alice", 0)
		ok(t, err)
		equal(t, total, 1, "groups alice created")
	})
}
