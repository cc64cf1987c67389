package relay

import (
	"bytes"
	"context"
	"testing"

	"github.com/parley-im/parley/proto"
)

// testStoreGroupCreated: a group the relay creates (GroupSpec.Announce)
// exists only with its created message as seq 1, written by the store in
// the same transaction; a repeat writes nothing; a create whose message
// cannot be written leaves no group.
func testStoreGroupCreated(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("groups/created message is written with the group", func(t *testing.T) {
		s := open(t)
		spec := GroupSpec{ID: "g:made", Name: "crew", Creator: "carol", Members: []string{"alice", "bob", "carol"},
			CreatedAt: 1234, Announce: true}
		name := "crew"
		want := proto.Message{ConvID: "g:made", Seq: 1, Sender: "carol", ClientID: createdClientID("g:made"), Device: "relay",
			MsgType: proto.MsgSystem, CreatedAt: 1234,
			Body: proto.EncodeGroupEvent(&proto.GroupEvent{Event: proto.EventCreated, By: "carol", Users: []string{"alice", "bob"}, Name: &name})}
		v, created, err := s.CreateGroup(ctx, spec)
		ok(t, err)
		if !created || v.LastSeq != 1 || v.ReadSeq != 1 || v.LastMessage == nil {
			t.Fatalf("created %v, view %+v: want the created message as seq 1, read by the creator", created, v)
		}
		equal(t, *v.LastMessage, want, "view's last message")
		for _, u := range []string{"alice", "carol"} {
			h, err := s.History(ctx, u, proto.History{ConvID: "g:made", Limit: 10})
			ok(t, err)
			if len(h.Messages) != 1 || !bytes.Equal(h.Messages[0].Body, want.Body) || h.Messages[0].ClientID != want.ClientID {
				t.Fatalf("%s's history %+v: want only the created message", u, h.Messages)
			}
		}
		// A resend of the create returns the group and writes nothing.
		v2, created, err := s.CreateGroup(ctx, spec)
		ok(t, err)
		if created || v2.LastSeq != 1 {
			t.Fatalf("repeat: created %v, last seq %d", created, v2.LastSeq)
		}
		// The older relay's append of it is a duplicate, not a second entry.
		res, err := s.Append(ctx, []AppendRequest{{Sender: "carol", Device: "relay", CreatedAt: 1300, Send: proto.Send{
			ConvID: "g:made", ClientID: createdClientID("g:made"), MsgType: proto.MsgSystem, Body: want.Body}}})
		ok(t, err)
		if res[0].Err != nil || !res[0].Duplicate || res[0].Message.Seq != 1 {
			t.Fatalf("append of the created message again: %+v", res[0])
		}
		res, err = s.Append(ctx, []AppendRequest{textRequest("alice", "g:made", "a1")})
		ok(t, err)
		if res[0].Err != nil || res[0].Message.Seq != 2 {
			t.Fatalf("first member message: %+v", res[0])
		}
	})
	t.Run("groups/a create whose created message fails leaves no group", func(t *testing.T) {
		s := open(t)
		// The creator already used the created message's client id
		// elsewhere: the message cannot be written, so neither is the group.
		res, err := s.Append(ctx, []AppendRequest{textRequest("carol", proto.P2PID("alice", "carol"), createdClientID("g:blocked"))})
		ok(t, err)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if !samePartition(s, proto.P2PID("alice", "carol"), "g:blocked") {
			// A client id is deduplicated within its conversation's
			// partition (PartitionStore): used in another partition, it
			// does not stand in the group's way.
			c, created, err := s.CreateGroup(ctx, GroupSpec{ID: "g:blocked", Creator: "carol", Members: []string{"alice", "carol"},
				CreatedAt: 1234, Announce: true})
			ok(t, err)
			equal(t, [2]any{created, c.LastSeq}, [2]any{true, uint64(1)}, "group created, with its created message, in another partition")
			return
		}
		_, _, err = s.CreateGroup(ctx, GroupSpec{ID: "g:blocked", Creator: "carol", Members: []string{"alice", "carol"},
			CreatedAt: 1234, Announce: true})
		if err == nil {
			t.Fatal("create succeeded although its created message could not be written")
		}
		for _, u := range []string{"alice", "carol"} {
			convs, _, err := s.Sync(ctx, u, 0, 100)
			ok(t, err)
			for _, c := range convs {
				if c.ID == "g:blocked" {
					t.Fatalf("%s sees the group %+v without its created message", u, c)
				}
			}
		}
		if _, err := s.History(ctx, "carol", proto.History{ConvID: "g:blocked", Limit: 10}); err == nil {
			t.Fatal("history of the group that was not created")
		}
	})
}
