package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// TestAdmitAmend is the table of who may recall, delete, edit, react to and
// hide a message: operation × actor role × sender role × age.
func TestAdmitAmend(t *testing.T) {
	t.Parallel()
	const now = int64(1_000_000_000)
	window := DefaultRecallWindow
	fresh, old := now-window.Milliseconds(), now-window.Milliseconds()-1
	manyReactions := make([]proto.Reaction, proto.MaxReactionKeys)
	for i := range manyReactions {
		manyReactions[i] = proto.Reaction{Emoji: fmt.Sprint(i), Users: []string{"x"}}
	}
	type tc struct {
		op        string
		kind      string
		actor     string // "self" (the sender) or "other"
		actorRole string
		sendRole  string
		at        int64
		target    func(*AmendTarget)
		emoji     string
		want      proto.Code
	}
	cases := []tc{
		// recall and delete: sender within the window; admins on lower roles at any time
		{proto.MsgRecall, proto.KindP2P, "self", RoleMember, RoleMember, fresh, nil, "", 0},
		{proto.MsgRecall, proto.KindP2P, "self", RoleMember, RoleMember, old, nil, "", proto.CodeRecallWindow},
		{proto.MsgRecall, proto.KindP2P, "other", RoleMember, RoleMember, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgRecall, proto.KindGroup, "self", RoleMember, RoleMember, old, nil, "", proto.CodeRecallWindow},
		{proto.MsgRecall, proto.KindGroup, "other", RoleMember, RoleMember, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgRecall, proto.KindGroup, "other", RoleAdmin, RoleMember, old, nil, "", 0},
		{proto.MsgRecall, proto.KindGroup, "other", RoleOwner, RoleMember, old, nil, "", 0},
		{proto.MsgRecall, proto.KindGroup, "other", RoleOwner, RoleAdmin, old, nil, "", 0},
		{proto.MsgRecall, proto.KindGroup, "other", RoleAdmin, RoleAdmin, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgRecall, proto.KindGroup, "other", RoleAdmin, RoleOwner, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgRecall, proto.KindGroup, "self", RoleAdmin, RoleAdmin, old, nil, "", 0},
		{proto.MsgRecall, proto.KindGroup, "self", RoleOwner, RoleOwner, old, nil, "", 0},
		{proto.MsgRecall, proto.KindP2P, "other", RoleOwner, RoleMember, fresh, nil, "", proto.CodeNotSender}, // no admins in p2p
		{proto.MsgDelete, proto.KindGroup, "self", RoleMember, RoleMember, fresh, nil, "", 0},
		{proto.MsgDelete, proto.KindGroup, "self", RoleMember, RoleMember, old, nil, "", proto.CodeRecallWindow},
		{proto.MsgDelete, proto.KindGroup, "other", RoleAdmin, RoleMember, old, nil, "", 0},
		{proto.MsgDelete, proto.KindGroup, "other", RoleMember, RoleAdmin, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgRecall, proto.KindGroup, "self", RoleMember, RoleMember, fresh, func(t *AmendTarget) { t.Recalled = true }, "", proto.CodeRecalled},
		{proto.MsgRecall, proto.KindGroup, "self", RoleMember, RoleMember, fresh, func(t *AmendTarget) { t.Found = false }, "", proto.CodeNoSuchMessage},
		// edit: the sender, text only, any time
		{proto.MsgEdit, proto.KindGroup, "self", RoleMember, RoleMember, old, nil, "", 0},
		{proto.MsgEdit, proto.KindGroup, "other", RoleOwner, RoleMember, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgEdit, proto.KindP2P, "other", RoleMember, RoleMember, fresh, nil, "", proto.CodeNotSender},
		{proto.MsgEdit, proto.KindP2P, "self", RoleMember, RoleMember, fresh, func(t *AmendTarget) { t.MsgType = proto.MsgCustom }, "", proto.CodeNotEditable},
		{proto.MsgEdit, proto.KindP2P, "self", RoleMember, RoleMember, fresh, func(t *AmendTarget) { t.Recalled = true }, "", proto.CodeRecalled},
		{proto.MsgEdit, proto.KindP2P, "self", RoleMember, RoleMember, fresh, func(t *AmendTarget) { t.Found = false }, "", proto.CodeNoSuchMessage},
		// react, unreact: anyone, within the emoji limit
		{proto.MsgReact, proto.KindGroup, "other", RoleMember, RoleOwner, old, nil, "👍", 0},
		{proto.MsgReact, proto.KindGroup, "self", RoleMember, RoleMember, old, nil, "👍", 0},
		{proto.MsgReact, proto.KindGroup, "other", RoleMember, RoleMember, old, func(t *AmendTarget) { t.Reactions = manyReactions }, "👍", proto.CodeTooManyReactions},
		{proto.MsgReact, proto.KindGroup, "other", RoleMember, RoleMember, old, func(t *AmendTarget) { t.Reactions = manyReactions }, "3", 0},
		{proto.MsgReact, proto.KindGroup, "other", RoleMember, RoleMember, old, func(t *AmendTarget) { t.Recalled = true }, "👍", proto.CodeRecalled},
		{proto.MsgReact, proto.KindGroup, "other", RoleMember, RoleMember, old, func(t *AmendTarget) { t.Found = false }, "👍", proto.CodeNoSuchMessage},
		{proto.MsgUnreact, proto.KindP2P, "other", RoleMember, RoleMember, old, nil, "👍", 0},
		// hide is no amend any more (it is an entry of the user's feed)
		{proto.MsgHide, proto.KindGroup, "other", RoleMember, RoleOwner, old, nil, "", proto.CodeBadRequest},
	}
	for _, c := range cases {
		actor := "alice"
		if c.actor == "other" {
			actor = "bob"
		}
		tg := AmendTarget{Found: true, Sender: "alice", SenderRole: c.sendRole, MsgType: proto.MsgText, CreatedAt: c.at}
		if c.target != nil {
			c.target(&tg)
		}
		name := strings.Join([]string{c.op, c.kind, c.actor, c.actorRole, "on", c.sendRole}, "/")
		err := AdmitAmend(AmendActor{User: actor, Role: c.actorRole, Kind: c.kind}, c.op, tg, c.emoji, now, window)
		var got proto.Code
		if err != nil {
			got = err.Code
		}
		if got != c.want {
			t.Errorf("%s (age %v): code %d, want %d", name, time.Duration(now-c.at)*time.Millisecond, got, c.want)
		}
	}
}

func TestCreatorRole(t *testing.T) {
	t.Parallel()
	if r := CreatorRole(proto.KindGroup, "alice", "alice"); r != RoleOwner {
		t.Errorf("group creator: %s", r)
	}
	if r := CreatorRole(proto.KindGroup, "alice", "bob"); r != RoleMember {
		t.Errorf("group member: %s", r)
	}
	if r := CreatorRole(proto.KindP2P, "alice", "alice"); r != RoleMember {
		t.Errorf("p2p starter: %s", r)
	}
}

func TestReceiptSplit(t *testing.T) {
	t.Parallel()
	read, unread := ReceiptSplit("alice", []string{"alice", "bob", "carol", "dave"},
		map[string]uint64{"alice": 1, "bob": 5, "carol": 4}, 5)
	if strings.Join(read, ",") != "bob" || strings.Join(unread, ",") != "carol,dave" {
		t.Errorf("read %v unread %v", read, unread)
	}
	if err := AdmitReply(5, 4); err == nil || err.Code != proto.CodeNoSuchMessage {
		t.Errorf("reply beyond the last seq: %v", err)
	}
	if err := AdmitReply(4, 4); err != nil {
		t.Errorf("reply to the last seq: %v", err)
	}
}
