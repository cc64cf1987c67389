package rules

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// Roles of a conversation member, highest first. A p2p conversation has
// members only.
const (
	RoleOwner  = proto.RoleOwner
	RoleAdmin  = proto.RoleAdmin
	RoleMember = proto.RoleMember
)

// DefaultRecallWindow is how long a sender may recall a message by default.
const DefaultRecallWindow = 2 * time.Minute

// roleRank orders roles; an unknown role ranks as a member.
func roleRank(role string) int {
	switch role {
	case RoleOwner:
		return 2
	case RoleAdmin:
		return 1
	}
	return 0
}

// CreatorRole is a member's role while a group records no roles of its
// own: its creator is the owner, everyone else a member.
func CreatorRole(kind, creator, user string) string {
	if kind == proto.KindGroup && user == creator {
		return RoleOwner
	}
	return RoleMember
}

// AmendTarget is what the store knows of the message an Amend names.
type AmendTarget struct {
	Found      bool   // a message of the conversation at that seq, and not itself a lifecycle event
	Sender     string // who sent it
	SenderRole string // the sender's role in the conversation now
	MsgType    string
	CreatedAt  int64 // unix ms
	Recalled   bool
	Reactions  []proto.Reaction
}

// AmendActor is who asks for an Amend: the user, their role in the
// conversation, and the conversation's kind.
type AmendActor struct {
	User, Role, Kind string
}

// AdmitAmend decides whether actor may apply op (an Amend's) to target at
// now (unix ms), given the relay's recall window; emoji is the reaction of
// react and unreact. Who may do what:
//
//   - recall, delete (for everyone): the sender within window; in a group,
//     an owner or admin at any time, on the messages of lower roles and
//     their own;
//   - edit: the sender, on a text message;
//   - react, unreact: any member, up to proto.MaxReactionKeys emoji.
//
// A recalled target takes nothing. ("Delete for me" is no amend: it is an
// entry of the user's own feed, proto.HideMessage.)
func AdmitAmend(actor AmendActor, op string, t AmendTarget, emoji string, now int64, window time.Duration) *proto.Error {
	switch op {
	case proto.MsgRecall, proto.MsgDelete, proto.MsgEdit, proto.MsgReact, proto.MsgUnreact:
	default:
		return proto.Errorf(proto.CodeBadRequest, "unknown op %q", op)
	}
	if !t.Found {
		return proto.Errorf(proto.CodeNoSuchMessage, "no such message in this conversation")
	}
	if t.Recalled {
		return proto.Errorf(proto.CodeRecalled, "the message was recalled")
	}
	switch op {
	case proto.MsgRecall, proto.MsgDelete:
		rank := roleRank(actor.Role)
		admin := actor.Kind == proto.KindGroup && rank >= roleRank(RoleAdmin)
		if admin && (actor.User == t.Sender || rank > roleRank(t.SenderRole)) {
			return nil
		}
		if actor.User != t.Sender {
			return proto.Errorf(proto.CodeNotSender, "only the sender or a group admin above them may %s this message", op)
		}
		if window < 0 || now-t.CreatedAt > window.Milliseconds() {
			return proto.Errorf(proto.CodeRecallWindow, "recall window of %s passed", window)
		}
	case proto.MsgEdit:
		if actor.User != t.Sender {
			return proto.Errorf(proto.CodeNotSender, "only the sender may edit this message")
		}
		if t.MsgType != proto.MsgText {
			return proto.Errorf(proto.CodeNotEditable, "only text messages can be edited")
		}
	case proto.MsgReact:
		for _, r := range t.Reactions {
			if r.Emoji == emoji {
				return nil
			}
		}
		if len(t.Reactions) >= proto.MaxReactionKeys {
			return proto.Errorf(proto.CodeTooManyReactions, "the message has %d distinct reactions", len(t.Reactions))
		}
	}
	return nil
}

// AdmitReply checks a Send's reply target against the conversation's last
// seq before the send: it must be an earlier message of the conversation.
func AdmitReply(replyTo, lastSeq uint64) *proto.Error {
	if replyTo > lastSeq {
		return proto.Errorf(proto.CodeNoSuchMessage, "reply to seq %d: no such message in this conversation", replyTo)
	}
	return nil
}

// ReceiptSplit splits the other members of a conversation by whether their
// read cursor (reads, by user) is at or past seq.
func ReceiptSplit(asker string, members []string, reads map[string]uint64, seq uint64) (read, unread []string) {
	read, unread = []string{}, []string{}
	for _, u := range members {
		if u == asker {
			continue
		}
		if reads[u] >= seq {
			read = append(read, u)
		} else {
			unread = append(unread, u)
		}
	}
	return read, unread
}

// PlanHide decides a HideMessage of message seq of conv against the
// owner's feed entry for it, cur (the zero entry when there is none): the
// entry to write, or nil when the message is hidden already.
func PlanHide(cur proto.UserEntry, conv string, seq uint64) *proto.UserEntry {
	if cur.Hidden != nil {
		return nil
	}
	return &proto.UserEntry{Hidden: &proto.HideMessage{ConvID: conv, Seq: seq}}
}
