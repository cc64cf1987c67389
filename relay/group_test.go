//go:build !js

package relay

import (
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestGroupConsent: under --invite-policy consent, the members named at
// creation and those added later are invited, not added: the invitee gets
// the invitation in their user feed (pushed to every device, found by the
// user sync of one that was offline) and lists it with pending; accepting makes them a
// member, and every member's sessions get the system messages.
func TestGroupConsent(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.InvitePolicy = "consent" })
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	bob2, _ := login(t, r, "bob", "d2")
	res := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob"}})
	g := res.Body.(*proto.ConvResult).Conversation
	equal(t, [2]any{g.Role, g.Members}, [2]any{proto.RoleOwner, []string{"alice"}}, "alice's group: bob only invited")
	n := noticePush(bob)
	equal(t, *n, proto.GroupNotice{Kind: proto.PendingInvite, ConvID: g.ID, Name: "trip", User: "bob", By: "alice", At: n.At}, "bob's invitation")
	equal(t, noticePush(bob2).ConvID, g.ID, "bob's other device gets it too")
	list := bob.call(proto.TypePending, &proto.Pending{}).Body.(*proto.PendingList)
	equal(t, len(list.Items), 1, "bob's pending invitations")
	// Not a member yet: bob cannot send or read.
	e := bob.call(proto.TypeSend, &proto.Send{ConvID: g.ID, ClientID: "c1", MsgType: proto.MsgText, Text: "hi"})
	equal(t, e.Body.(*proto.ErrorBody).Code, proto.CodeForbidden, "send before accepting")
	// A device that was offline finds the invitation in its user sync.
	bob3, _ := login(t, r, "bob", "d3")
	feed := bob3.call(proto.TypeUserSync, &proto.UserSync{}).Body.(*proto.UserState)
	equal(t, len(feed.Entries) == 1 && feed.Entries[0].Notice != nil && feed.Entries[0].Notice.ConvID == g.ID && !feed.Entries[0].Notice.Done,
		true, "the invitation in bob's feed")
	acc := bob.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpAnswerInvite, On: true})
	mine := acc.Body.(*proto.ConvResult).Conversation
	equal(t, [2]any{mine.Role, mine.Members}, [2]any{proto.RoleMember, []string{"alice", "bob"}}, "bob's view after accepting")
	// Answered on one device, it is done on all, and in the feed.
	for _, c := range []*client{bob, bob2} {
		if n := noticePush(c); !n.Done || n.ConvID != g.ID {
			t.Fatalf("after the answer: %+v", n)
		}
	}
	later := bob3.call(proto.TypeUserSync, &proto.UserSync{Cursor: feed.Cursor}).Body.(*proto.UserState)
	equal(t, len(later.Entries) == 1 && later.Entries[0].Notice != nil && later.Entries[0].Notice.Done, true, "the answer in bob's feed")
	// The invitation and the join reach alice as system messages.
	d := alice.push(proto.TypeDeliver).Body.(*proto.Deliver)
	ev, err := proto.DecodeGroupEvent(d.Message.Body)
	ok(t, err)
	equal(t, [2]any{ev.Event, d.Message.Seq}, [2]any{proto.EventInvited, uint64(2)}, "alice sees the invitation (after the created message)")
	d = alice.push(proto.TypeDeliver).Body.(*proto.Deliver)
	ev, err = proto.DecodeGroupEvent(d.Message.Body)
	ok(t, err)
	equal(t, [3]any{d.Message.MsgType, ev.Event, ev.Users}, [3]any{proto.MsgSystem, proto.EventJoined, []string{"bob"}}, "alice sees bob join")
	// A member may not promote; the refusal changes nothing.
	e = bob.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpRole, Users: []string{"bob"}, Role: proto.RoleAdmin})
	equal(t, e.Body.(*proto.ErrorBody).Code, proto.CodeRole, "bob promotes himself")
	page := alice.call(proto.TypeMembers, &proto.Members{ConvID: g.ID}).Body.(*proto.MemberPage)
	equal(t, page.Members[1].Role, proto.RoleMember, "bob is still a member")
	// Malformed operations are refused before the store.
	e = alice.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: "promote-everyone"})
	equal(t, e.Body.(*proto.ErrorBody).Code, proto.CodeBadRequest, "unknown op")
}

// noticePush waits for the next invitation or join request pushed to c as
// a user feed entry.
func noticePush(c *client) *proto.GroupNotice {
	c.t.Helper()
	f := c.await("push of a group notice", func(f proto.Frame) bool {
		u, ok := f.Body.(*proto.UserUpdate)
		return f.ID == 0 && f.Type == proto.TypeUserUpdate && ok && u.Entry.Notice != nil
	})
	return f.Body.(*proto.UserUpdate).Entry.Notice
}

// TestJoinRequestsInTheFeed: a join request reaches the feed of every
// admin and the owner, a device offline at the time finds it in its user
// sync, an admin who is demoted has it ended and one who is promoted gets
// it, and the answer of one admin ends it in all of their feeds.
func TestJoinRequestsInTheFeed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	carol, _ := login(t, r, "carol", "d")
	dave, _ := login(t, r, "dave", "d")
	g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "club", Members: []string{"bob", "dave"}, JoinPolicy: proto.JoinApproval}).Body.(*proto.ConvResult).Conversation
	role := func(u, role string) {
		t.Helper()
		equal(t, alice.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpRole, Users: []string{u}, Role: role}).Type,
			proto.TypeConvResult, u+" made "+role)
	}
	role("bob", proto.RoleAdmin)
	equal(t, carol.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpRequest, Note: "me too"}).Type, proto.TypeOK, "carol asks")
	for _, c := range []*client{alice, bob} {
		n := noticePush(c)
		equal(t, [4]any{n.Kind, n.User, n.Note, n.Done}, [4]any{proto.PendingRequest, "carol", "me too", false}, "the request")
	}
	alice2, _ := login(t, r, "alice", "d2")
	feed := alice2.call(proto.TypeUserSync, &proto.UserSync{}).Body.(*proto.UserState)
	var seen *proto.GroupNotice
	for _, e := range feed.Entries {
		if e.Notice != nil {
			seen = e.Notice
		}
	}
	if seen == nil || seen.User != "carol" || seen.Done {
		t.Fatalf("alice's offline device: %+v", feed.Entries)
	}
	// bob steps down, dave steps up: the request follows the role.
	role("bob", proto.RoleMember)
	if n := noticePush(bob); !n.Done || n.User != "carol" {
		t.Fatalf("bob, no longer an admin: %+v", n)
	}
	role("dave", proto.RoleAdmin)
	if n := noticePush(dave); n.Done || n.User != "carol" {
		t.Fatalf("dave, a new admin: %+v", n)
	}
	equal(t, dave.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpAnswerJoin, Users: []string{"carol"}, On: true}).Type,
		proto.TypeConvResult, "dave accepts")
	for _, c := range []*client{alice, dave, alice2} {
		if n := noticePush(c); !n.Done || n.User != "carol" {
			t.Fatalf("after dave's answer: %+v", n)
		}
	}
}
