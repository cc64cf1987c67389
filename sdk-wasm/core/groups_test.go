package core

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
)

// groupView is the relay's view of g:team for alice at version v.
func groupView(v uint64, role string, last uint64, members ...string) *proto.Conversation {
	return &proto.Conversation{ID: "g:team", Kind: proto.KindGroup, Name: "team", Members: members, LastSeq: last,
		Version: v, Role: role, JoinPolicy: proto.JoinInvite}
}

// TestGroupOpResolvesWithView: a group operation is one request; its reply
// (this user's view) is merged into the cache and resolves the operation,
// a refusal resolves it with the relay's code, and offline it is refused
// at once.
func TestGroupOpResolvesWithView(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	op := proto.GroupOp{ConvID: "g:team", Op: proto.OpRole, Users: []string{"bob"}, Role: proto.RoleAdmin}
	if _, err := h.c.GroupOp(h.now, op); err == nil || err.(*proto.Error).Code != proto.CodeNotConnected {
		t.Fatalf("offline group op: %v", err)
	}
	if _, err := h.c.GroupOp(h.now, proto.GroupOp{ConvID: "g:team", Op: "nonsense"}); err == nil || err.(*proto.Error).Code != proto.CodeInvalidArgument {
		t.Fatalf("invalid group op: %v", err)
	}
	h.connect("e1")
	h.relay(proto.TypeConvUpdate, 0, &proto.ConvUpdate{Conversation: *groupView(5, proto.RoleOwner, 0, "alice", "bob")})
	id, err := h.c.GroupOp(h.now, op)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	w := h.lastWrite(proto.TypeGroupOp)
	equalT(t, *w.Body.(*proto.GroupOp), op, "written op")
	v := groupView(6, proto.RoleOwner, 1, "alice", "bob")
	v.MuteAll, v.Notice = true, "be kind"
	h.relay(proto.TypeConvResult, w.ID, &proto.ConvResult{Conversation: *v})
	r := h.done[id].Result
	if r.Err != nil || r.Conversation == nil || !r.Conversation.MuteAll || r.Conversation.Notice != "be kind" || r.Conversation.Role != proto.RoleOwner {
		t.Fatalf("result %+v", r)
	}
	// Refused: the code reaches the caller, the cache keeps its state.
	id, _ = h.c.GroupOp(h.now, proto.GroupOp{ConvID: "g:team", Op: proto.OpDismiss})
	h.poll()
	w = h.lastWrite(proto.TypeGroupOp)
	h.relay(proto.TypeError, w.ID, &proto.ErrorBody{Code: proto.CodeRole, Message: "owner only"})
	if err := h.done[id].Result.Err; err == nil || err.(*proto.Error).Code != proto.CodeRole {
		t.Fatalf("refusal: %v", err)
	}
	cv, _ := h.c.Conversation("g:team")
	equalT(t, [2]any{cv.Role, cv.MuteAll}, [2]any{proto.RoleOwner, true}, "state kept")
}

// TestGroupStateChanges: each change reaches the cache through the relay's
// view (a sync after the system message, or the operation's reply): role,
// information, mutes, and — once no longer a member — no role and no member
// list. An older view never overwrites a newer one. The system message's
// body reaches the application as JSON with the event's keys.
func TestGroupStateChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.relay(proto.TypeConvUpdate, 0, &proto.ConvUpdate{Conversation: *groupView(5, proto.RoleMember, 0, "alice", "bob")})
	steps := []struct {
		name string
		ev   proto.GroupEvent
		view func(v *proto.Conversation)
		want func(cv Conversation) bool
	}{
		{"promoted", proto.GroupEvent{Event: proto.EventRole, By: "bob", Users: []string{"alice"}, Role: proto.RoleAdmin},
			func(v *proto.Conversation) { v.Role = proto.RoleAdmin },
			func(cv Conversation) bool { return cv.Role == proto.RoleAdmin }},
		{"info updated", proto.GroupEvent{Event: proto.EventUpdated, By: "bob", Name: ptrS("crew"), Avatar: ptrS("a.png")},
			func(v *proto.Conversation) {
				v.Role, v.Name, v.Avatar, v.JoinPolicy = proto.RoleAdmin, "crew", "a.png", proto.JoinOpen
			},
			func(cv Conversation) bool {
				return cv.Name == "crew" && cv.Avatar == "a.png" && cv.JoinPolicy == proto.JoinOpen
			}},
		{"muted", proto.GroupEvent{Event: proto.EventMuted, By: "bob", Users: []string{"alice"}, Until: 99},
			func(v *proto.Conversation) { v.Role, v.MutedUntil = proto.RoleMember, 99 },
			func(cv Conversation) bool { return cv.MutedUntil == 99 && cv.Role == proto.RoleMember }},
		{"member added", proto.GroupEvent{Event: proto.EventAdded, By: "bob", Users: []string{"carol"}},
			func(v *proto.Conversation) { v.Role, v.Members = proto.RoleMember, []string{"alice", "bob", "carol"} },
			func(cv Conversation) bool { return len(cv.Members) == 3 && cv.MutedUntil == 0 }},
		{"removed", proto.GroupEvent{Event: proto.EventRemoved, By: "bob", Users: []string{"alice"}},
			func(v *proto.Conversation) { v.Role, v.Members = "", nil },
			func(cv Conversation) bool { return cv.Role == "" && len(cv.Members) == 0 }},
	}
	version := uint64(5)
	for i, s := range steps {
		seq := uint64(i + 1)
		version++
		h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: proto.Message{ConvID: "g:team", Seq: seq, Sender: "bob",
			ClientID: "sys", MsgType: proto.MsgSystem, Body: proto.EncodeGroupEvent(&s.ev), CreatedAt: 1}})
		// The system message asks for a sync; the relay's view answers it.
		sync := h.lastWrite(proto.TypeSync)
		h.takeWrites()
		v := groupView(version, proto.RoleMember, seq, "alice", "bob")
		s.view(v)
		h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Conversations: []proto.Conversation{*v}, Cursor: version})
		cv, _ := h.c.Conversation("g:team")
		if !s.want(cv) {
			t.Fatalf("%s: conversation %+v", s.name, cv)
		}
		m := h.store.messages["g:team"][seq]
		var body map[string]any
		if err := json.Unmarshal(m.Body, &body); err != nil || body["event"] != s.ev.Event || body["by"] != "bob" {
			t.Fatalf("%s: stored body %q (%v)", s.name, m.Body, err)
		}
	}
	// A stale view (an older version) changes nothing.
	h.relay(proto.TypeConvUpdate, 0, &proto.ConvUpdate{Conversation: *groupView(2, proto.RoleOwner, 1, "alice", "bob")})
	cv, _ := h.c.Conversation("g:team")
	equalT(t, cv.Role, "", "stale view ignored")
}

// TestGroupMembersPendingAndNotices: members and pending are requests
// resolved with their pages; invitation and join-request pushes are events.
func TestGroupMembersPendingAndNotices(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	id, err := h.c.FetchMembers(h.now, "g:team", "bob", 2)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	w := h.lastWrite(proto.TypeMembers)
	equalT(t, *w.Body.(*proto.Members), proto.Members{ConvID: "g:team", After: "bob", Limit: 2}, "members request")
	h.relay(proto.TypeMemberPage, w.ID, &proto.MemberPage{ConvID: "g:team", Members: []proto.Member{{User: "carol", Role: proto.RoleAdmin, JoinedAt: 3}}, More: true})
	r := h.done[id].Result
	equalT(t, [2]any{r.Members, r.More}, [2]any{[]Member{{User: "carol", Role: proto.RoleAdmin, JoinedAt: 3}}, true}, "members page")
	id, _ = h.c.FetchPending(h.now, "")
	h.poll()
	w = h.lastWrite(proto.TypePending)
	n := proto.GroupNotice{Kind: proto.PendingInvite, ConvID: "g:x", Name: "x", User: "alice", By: "bob", At: 7}
	h.relay(proto.TypePendingList, w.ID, &proto.PendingList{Items: []proto.GroupNotice{n}})
	equalT(t, h.done[id].Result.Notices, []GroupNotice{{Kind: "invite", ConvID: "g:x", Name: "x", User: "alice", By: "bob", At: 7}}, "pending")
	h.relay(proto.TypeGroupNotice, 0, &n)
	req := n
	req.Kind, req.User = proto.PendingRequest, "dave"
	h.relay(proto.TypeGroupNotice, 0, &req)
	var kinds []EventKind
	for _, e := range h.events {
		if e.Notice != nil {
			kinds = append(kinds, e.Kind)
		}
	}
	equalT(t, kinds, []EventKind{EventInvitation, EventJoinRequest}, "notice events")
	// A member page for another group than asked is a broken relay.
	_, _ = h.c.FetchMembers(h.now, "g:team", "", 0)
	h.poll()
	w = h.lastWrite(proto.TypeMembers)
	h.relay(proto.TypeMemberPage, w.ID, &proto.MemberPage{ConvID: "g:other", Members: []proto.Member{}})
	if len(h.closes) == 0 || h.closes[len(h.closes)-1].Code != proto.CodeBadServerFrame {
		t.Fatalf("closes %+v", h.closes)
	}
}

func ptrS(s string) *string { return &s }

func equalT[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}
