package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The group part of the store conformance suite (run by testStore against
// the memory store, SQLite and PostgreSQL): every operation by every role
// on every target role, allowed or refused with its code and nothing
// changed; then each state change and what it does to sends, history and
// sync.

// groupSnap is everything a group operation can change, as the store
// answers it.
type groupSnap struct {
	Codes    [2]proto.Code // of the reads the owner may no longer make
	Members  []proto.Member
	View     proto.Conversation
	LastSeq  uint64
	Requests []proto.GroupNotice
	Invites  []proto.GroupNotice
}

func snapGroup(t *testing.T, s Store, conv string) groupSnap {
	t.Helper()
	ctx := context.Background()
	var snap groupSnap
	page, err := s.GroupMembers(ctx, "owner", proto.Members{ConvID: conv})
	snap.Codes[0] = storeCode(err)
	convs, _, err := s.Sync(ctx, "owner", 0, 100)
	ok(t, err)
	var view proto.Conversation
	for _, c := range convs {
		if c.ID == conv {
			view = c
		}
	}
	h, err := s.History(ctx, "owner", proto.History{ConvID: conv, Limit: 100})
	ok(t, err)
	req, err := s.GroupPending(ctx, "owner", conv)
	snap.Codes[1] = storeCode(err)
	inv, err := s.GroupPending(ctx, "newbie", "")
	ok(t, err)
	snap.Members, snap.View, snap.LastSeq, snap.Requests, snap.Invites = page.Members, view, h.LastSeq, req, inv
	return snap
}

// newRoleGroup creates conv with owner, admins admin and admin2, members
// member and member2; "outsider" asked to join (approval policy).
func newRoleGroup(t *testing.T, s Store, conv string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := s.CreateGroup(ctx, GroupSpec{ID: conv, Name: "roles", Creator: "owner",
		Members: []string{"admin", "admin2", "member", "member2", "owner"}, CreatedAt: 10, Info: rules.GroupInfo{JoinPolicy: proto.JoinApproval}})
	ok(t, err)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 11, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRole, Users: []string{"admin", "admin2"}, Role: proto.RoleAdmin}})
	ok(t, err)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "outsider", Now: 12, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRequest, Note: "me"}})
	ok(t, err)
}

func testStoreGroups(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("groups/authorisation table", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// target: the user the operation is about, by role.
		target := map[string]string{"owner": "owner", "admin": "admin2", "member": "member2", "self": "", "stranger": "stranger"}
		type row struct {
			op     string
			actor  string // owner, admin, member, outsider
			target string // owner, admin, member, self, stranger, "" (none)
			want   proto.Code
		}
		var rows []row
		// remove and mute: admin+, only lower roles.
		for _, op := range []string{proto.OpRemove, proto.OpMute} {
			rows = append(rows,
				row{op, "owner", "admin", 0}, row{op, "owner", "member", 0}, row{op, "owner", "self", proto.CodeRank},
				row{op, "owner", "stranger", proto.CodeNotMember},
				row{op, "admin", "owner", proto.CodeRank}, row{op, "admin", "admin", proto.CodeRank},
				row{op, "admin", "self", proto.CodeRank}, row{op, "admin", "member", 0},
				row{op, "member", "member", proto.CodeRole}, row{op, "member", "admin", proto.CodeRole},
				row{op, "member", "owner", proto.CodeRole}, row{op, "member", "self", proto.CodeRole},
				row{op, "outsider", "member", proto.CodeForbidden})
		}
		// role: owner only, on others.
		rows = append(rows,
			row{proto.OpRole, "owner", "member", 0}, row{proto.OpRole, "owner", "admin", 0},
			row{proto.OpRole, "owner", "self", proto.CodeRank}, row{proto.OpRole, "owner", "stranger", proto.CodeNotMember},
			row{proto.OpRole, "admin", "member", proto.CodeRole}, row{proto.OpRole, "admin", "admin", proto.CodeRole},
			row{proto.OpRole, "admin", "self", proto.CodeRole}, row{proto.OpRole, "member", "member", proto.CodeRole},
			row{proto.OpRole, "member", "self", proto.CodeRole}, row{proto.OpRole, "outsider", "member", proto.CodeForbidden})
		// transfer: owner only, to another member.
		rows = append(rows,
			row{proto.OpTransfer, "owner", "admin", 0}, row{proto.OpTransfer, "owner", "member", 0},
			row{proto.OpTransfer, "owner", "self", proto.CodeRank}, row{proto.OpTransfer, "owner", "stranger", proto.CodeNotMember},
			row{proto.OpTransfer, "admin", "member", proto.CodeRole}, row{proto.OpTransfer, "admin", "self", proto.CodeRole},
			row{proto.OpTransfer, "member", "member", proto.CodeRole}, row{proto.OpTransfer, "outsider", "member", proto.CodeForbidden})
		// update, add, muteAll: admin+.
		for _, op := range []string{proto.OpUpdate, proto.OpAdd, proto.OpMuteAll} {
			rows = append(rows, row{op, "owner", "", 0}, row{op, "admin", "", 0},
				row{op, "member", "", proto.CodeRole}, row{op, "outsider", "", proto.CodeForbidden})
		}
		// dismiss: owner. leave: anyone but the owner of a group with others.
		rows = append(rows,
			row{proto.OpDismiss, "owner", "", 0}, row{proto.OpDismiss, "admin", "", proto.CodeRole},
			row{proto.OpDismiss, "member", "", proto.CodeRole}, row{proto.OpDismiss, "outsider", "", proto.CodeForbidden},
			row{proto.OpLeave, "owner", "", proto.CodeOwnerLeave}, row{proto.OpLeave, "admin", "", 0},
			row{proto.OpLeave, "member", "", 0}, row{proto.OpLeave, "outsider", "", proto.CodeForbidden})
		// join requests: admins answer one that exists.
		rows = append(rows,
			row{proto.OpAnswerJoin, "owner", "outsider", 0}, row{proto.OpAnswerJoin, "admin", "outsider", 0},
			row{proto.OpAnswerJoin, "admin", "stranger", proto.CodeNoPending},
			row{proto.OpAnswerJoin, "member", "outsider", proto.CodeRole},
			row{proto.OpAnswerInvite, "outsider", "", proto.CodeNoPending},
			row{proto.OpRequest, "member", "", 0}) // a member asking to join: nothing to do
		for i, r := range rows {
			conv := fmt.Sprintf("g:auth%d", i)
			newRoleGroup(t, s, conv)
			op := proto.GroupOp{ConvID: conv, Op: r.op}
			switch r.op {
			case proto.OpRole:
				op.Role = proto.RoleAdmin
			case proto.OpMute:
				op.Until = 1 << 50
			case proto.OpMuteAll:
				op.On = true
			case proto.OpUpdate:
				name := "renamed"
				op.Info = &proto.GroupInfo{Name: &name}
			case proto.OpAdd:
				op.Users = []string{"newbie"}
			case proto.OpAnswerJoin:
				op.On = true
			}
			if r.target != "" {
				u, known := target[r.target]
				if !known {
					u = r.target
				}
				if u == "" {
					u = r.actor
				}
				op.Users = []string{u}
			}
			name := fmt.Sprintf("%s by %s on %s", r.op, r.actor, r.target)
			if err := proto.Validate(&op); err != nil {
				t.Fatalf("%s: invalid op: %v", name, err)
			}
			before := snapGroup(t, s, conv)
			out, err := s.ChangeGroup(ctx, GroupRequest{Actor: r.actor, Op: op, Now: 100})
			if got := storeCode(err); got != r.want || (r.want == 0 && err != nil) {
				t.Errorf("%s: got %v, want code %d", name, err, r.want)
				continue
			}
			after := snapGroup(t, s, conv)
			if r.want != 0 {
				equal(t, after, before, name+": store unchanged")
				continue
			}
			if r.op == proto.OpRequest {
				equal(t, after, before, name+": nothing to do")
				continue
			}
			if after.LastSeq != before.LastSeq+1 || len(out.Messages) != 1 || out.Messages[0].MsgType != proto.MsgSystem {
				t.Errorf("%s: one system message: last seq %d → %d, %d messages", name, before.LastSeq, after.LastSeq, len(out.Messages))
			}
		}
	})

	t.Run("groups/mute, mute all and speech", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		conv := "g:mute"
		newRoleGroup(t, s, conv)
		send := func(user, id string, at int64) proto.Code {
			res, err := s.Append(ctx, []AppendRequest{{Sender: user, Device: "d", CreatedAt: at,
				Send: proto.Send{ConvID: conv, ClientID: id, MsgType: proto.MsgText, Text: "hi"}}})
			ok(t, err)
			if res[0].Err != nil {
				return res[0].Err.Code
			}
			return 0
		}
		equal(t, send("member", "m1", 100), proto.Code(0), "member speaks")
		_, err := s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 100, Op: proto.GroupOp{ConvID: conv, Op: proto.OpMute, Users: []string{"member"}, Until: 5000}})
		ok(t, err)
		equal(t, send("member", "m2", 200), proto.CodeMuted, "muted member")
		equal(t, send("member2", "m3", 200), proto.Code(0), "other member")
		equal(t, send("member", "m4", 5000), proto.Code(0), "the mute ran out")
		page, err := s.GroupMembers(ctx, "member2", proto.Members{ConvID: conv, After: "admin2", Limit: 1})
		ok(t, err)
		equal(t, page, proto.MemberPage{ConvID: conv, Members: []proto.Member{{User: "member", Role: proto.RoleMember, JoinedAt: 10, MutedUntil: 5000}}, More: true}, "member page")
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 300, Op: proto.GroupOp{ConvID: conv, Op: proto.OpMute, Users: []string{"member"}}})
		ok(t, err)
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin2", Now: 300, Op: proto.GroupOp{ConvID: conv, Op: proto.OpMuteAll, On: true}})
		ok(t, err)
		equal(t, send("member", "m5", 400), proto.CodeMuted, "everyone muted")
		equal(t, send("admin", "a1", 400), proto.Code(0), "admins still speak")
		equal(t, send("owner", "o1", 400), proto.Code(0), "the owner still speaks")
		convs, _, err := s.Sync(ctx, "member", 0, 100)
		ok(t, err)
		equal(t, [2]any{convs[0].MuteAll, convs[0].MutedUntil}, [2]any{true, int64(0)}, "member's view")
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 500, Op: proto.GroupOp{ConvID: conv, Op: proto.OpMuteAll}})
		ok(t, err)
		equal(t, send("member", "m6", 600), proto.Code(0), "mute all off")
		role, err := s.MemberRole(ctx, conv, "admin")
		ok(t, err)
		equal(t, role, proto.RoleAdmin, "role lookup")
		role, err = s.MemberRole(ctx, conv, "stranger")
		ok(t, err)
		equal(t, role, "", "a stranger's role")
	})

	t.Run("groups/removed member keeps history up to the removal", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		conv := "g:removed"
		newRoleGroup(t, s, conv)
		text := func(user, id string) {
			res, err := s.Append(ctx, []AppendRequest{{Sender: user, Device: "d", CreatedAt: 50,
				Send: proto.Send{ConvID: conv, ClientID: id, MsgType: proto.MsgText, Text: id}}})
			ok(t, err)
			if res[0].Err != nil {
				t.Fatalf("%s: %v", id, res[0].Err)
			}
		}
		text("member", "before")
		_, cursor, err := syncAllOf(s, "member", 0)
		ok(t, err)
		out, err := s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 60, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRemove, Users: []string{"member"}}})
		ok(t, err)
		if !slices.Contains(out.To, "member") {
			t.Errorf("the removal is not delivered to the removed member: %v", out.To)
		}
		removedAt := out.Messages[0].Seq
		text("owner", "after")
		members, err := s.Members(ctx, conv)
		ok(t, err)
		equal(t, slices.Contains(members, "member"), false, "not in the member list")
		res, err := s.Append(ctx, []AppendRequest{{Sender: "member", Device: "d", CreatedAt: 70,
			Send: proto.Send{ConvID: conv, ClientID: "late", MsgType: proto.MsgText, Text: "late"}}})
		ok(t, err)
		equal(t, storeCode(res[0].Err), proto.CodeForbidden, "a removed member's send")
		h, err := s.History(ctx, "member", proto.History{ConvID: conv, Limit: 100})
		ok(t, err)
		equal(t, h.LastSeq, removedAt, "history ends at the removal")
		equal(t, h.Messages[len(h.Messages)-1].Seq, removedAt, "last message read")
		// The removed member's offline device learns it from sync: the
		// group as of the removal, no role, no member list.
		convs, _, err := syncAllOf(s, "member", cursor)
		ok(t, err)
		equal(t, len(convs), 1, "listed once more")
		c := convs[0]
		equal(t, [4]any{c.LastSeq, c.Role, len(c.Members), c.LastMessage.MsgType}, [4]any{removedAt, "", 0, proto.MsgSystem}, "removed member's view")
		_, next, err := syncAllOf(s, "member", 0)
		ok(t, err)
		text("owner", "later")
		convs, _, err = syncAllOf(s, "member", next)
		ok(t, err)
		equal(t, len(convs), 0, "nothing after the removal")
		_, err = s.GroupMembers(ctx, "member", proto.Members{ConvID: conv})
		equal(t, storeCode(err), proto.CodeForbidden, "members of a group one left")
		// Added again, the member is back.
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 80, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"member"}}})
		ok(t, err)
		convs, _, err = syncAllOf(s, "member", next)
		ok(t, err)
		equal(t, [2]any{len(convs), convs[0].Role}, [2]any{1, proto.RoleMember}, "member again")
	})

	t.Run("groups/consent invitations, join requests, open groups, dismissal", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		conv := "g:consent"
		newRoleGroup(t, s, conv)
		never := func(invitee, inviter string) bool { return false }
		out, err := s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 20, Direct: never, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"newbie"}}})
		ok(t, err)
		equal(t, len(out.Notices), 1, "the invitee is notified")
		inv, err := s.GroupPending(ctx, "newbie", "")
		ok(t, err)
		equal(t, inv, []proto.GroupNotice{{Kind: proto.PendingInvite, ConvID: conv, Name: "roles", User: "newbie", By: "admin", At: 20}}, "invitation")
		role, err := s.MemberRole(ctx, conv, "newbie")
		ok(t, err)
		equal(t, role, "", "not a member before accepting")
		out, err = s.ChangeGroup(ctx, GroupRequest{Actor: "newbie", Now: 30, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAnswerInvite, On: true}})
		ok(t, err)
		equal(t, [2]any{out.View != nil, out.View.Role}, [2]any{true, proto.RoleMember}, "accepted")
		inv, err = s.GroupPending(ctx, "newbie", "")
		ok(t, err)
		equal(t, len(inv), 0, "no invitation left")
		// Join requests: admins see them, members do not.
		req, err := s.GroupPending(ctx, "admin", conv)
		ok(t, err)
		equal(t, [2]any{len(req), req[0].User}, [2]any{1, "outsider"}, "requests")
		_, err = s.GroupPending(ctx, "member", conv)
		equal(t, storeCode(err), proto.CodeRole, "a member lists requests")
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 40, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAnswerJoin, Users: []string{"outsider"}}})
		ok(t, err)
		role, err = s.MemberRole(ctx, conv, "outsider")
		ok(t, err)
		equal(t, role, "", "declined")
		// Open: anyone joins, any member adds.
		open := proto.JoinOpen
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 50, Op: proto.GroupOp{ConvID: conv, Op: proto.OpUpdate, Info: &proto.GroupInfo{JoinPolicy: open}}})
		ok(t, err)
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "walker", Now: 60, Op: proto.GroupOp{ConvID: conv, Op: proto.OpRequest}})
		ok(t, err)
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "member", Now: 60, Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"friend"}}})
		ok(t, err)
		for _, u := range []string{"walker", "friend"} {
			role, err = s.MemberRole(ctx, conv, u)
			ok(t, err)
			equal(t, role, proto.RoleMember, u+" joined an open group")
		}
		// Transfer, then the old owner may leave; the new one dismisses.
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 70, Op: proto.GroupOp{ConvID: conv, Op: proto.OpTransfer, Users: []string{"admin"}}})
		ok(t, err)
		_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 71, Op: proto.GroupOp{ConvID: conv, Op: proto.OpLeave}})
		ok(t, err)
		out, err = s.ChangeGroup(ctx, GroupRequest{Actor: "admin", Now: 72, Op: proto.GroupOp{ConvID: conv, Op: proto.OpDismiss}})
		ok(t, err)
		equal(t, out.View.Role, "", "the dismisser has no role left")
		members, err := s.Members(ctx, conv)
		ok(t, err)
		equal(t, len(members), 0, "nobody left")
		res, err := s.Append(ctx, []AppendRequest{{Sender: "admin", Device: "d", CreatedAt: 80,
			Send: proto.Send{ConvID: conv, ClientID: "after-dismiss", MsgType: proto.MsgText, Text: "x"}}})
		ok(t, err)
		equal(t, storeCode(res[0].Err), proto.CodeForbidden, "a send to a dismissed group")
		h, err := s.History(ctx, "member2", proto.History{ConvID: conv, Limit: 100})
		ok(t, err)
		ev, err := proto.DecodeGroupEvent(h.Messages[len(h.Messages)-1].Body)
		ok(t, err)
		equal(t, [2]string{ev.Event, ev.By}, [2]string{proto.EventDismissed, "admin"}, "the last event")
	})
}

// syncAllOf syncs user from cursor to the end: the conversations, the
// final cursor.
func syncAllOf(s Store, user string, cursor uint64) ([]proto.Conversation, uint64, error) {
	var all []proto.Conversation
	for {
		page, more, err := s.Sync(context.Background(), user, cursor, 100)
		if err != nil {
			return nil, 0, err
		}
		for _, c := range page {
			cursor = max(cursor, c.Version)
		}
		all = append(all, page...)
		if !more {
			return all, cursor, nil
		}
	}
}
