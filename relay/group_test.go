package relay

import (
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestGroupConsent: under --invite-policy consent, the members named at
// creation and those added later are invited, not added: the invitee gets
// a group-notice push and lists it with pending; accepting makes them a
// member, and every member's sessions get the system messages.
func TestGroupConsent(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.InvitePolicy = "consent" })
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	res := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob"}})
	g := res.Body.(*proto.ConvResult).Conversation
	equal(t, [3]any{g.Role, g.Members, g.LastSeq}, [3]any{proto.RoleOwner, []string{"alice"}, uint64(2)}, "alice's group (created, then invited): bob only invited")
	n := bob.push(proto.TypeGroupNotice).Body.(*proto.GroupNotice)
	equal(t, *n, proto.GroupNotice{Kind: proto.PendingInvite, ConvID: g.ID, Name: "trip", User: "bob", By: "alice", At: n.At}, "bob's invitation")
	list := bob.call(proto.TypePending, &proto.Pending{}).Body.(*proto.PendingList)
	equal(t, len(list.Items), 1, "bob's pending invitations")
	// Not a member yet: bob cannot send or read.
	e := bob.call(proto.TypeSend, &proto.Send{ConvID: g.ID, ClientID: "c1", MsgType: proto.MsgText, Text: "hi"})
	equal(t, e.Body.(*proto.ErrorBody).Code, proto.CodeForbidden, "send before accepting")
	acc := bob.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: g.ID, Op: proto.OpAnswerInvite, On: true})
	mine := acc.Body.(*proto.ConvResult).Conversation
	equal(t, [2]any{mine.Role, mine.Members}, [2]any{proto.RoleMember, []string{"alice", "bob"}}, "bob's view after accepting")
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
