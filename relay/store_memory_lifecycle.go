package relay

import (
	"context"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The message lifecycle in the MemoryStore: replies, amends (recall,
// delete, edit, reactions, hide) and read receipts.

// admitLifecycle decides a reply's target or an amend's right, before
// anything of req is stored. c is nil for a conversation that does not
// exist yet.
func (s *MemoryStore) admitLifecycle(c *memConv, req *AppendRequest) *proto.Error {
	send := &req.Send
	if req.Target == 0 {
		if send.ReplyTo == 0 {
			return nil
		}
		var last uint64
		if c != nil {
			last = uint64(len(c.msgs))
		}
		return rules.AdmitReply(send.ReplyTo, last)
	}
	var t rules.AmendTarget
	actor := rules.AmendActor{User: req.Sender, Role: rules.RoleMember, Kind: proto.KindOf(send.ConvID)}
	if c != nil {
		actor.Role = c.roleOf(req.Sender)
		if req.Target <= uint64(len(c.msgs)) {
			m := &c.msgs[req.Target-1]
			t = amendTarget(m, c.roleOf(m.Sender))
		}
	}
	return rules.AdmitAmend(actor, send.MsgType, t, send.Text, req.CreatedAt, req.RecallWindow)
}

// amendTarget describes stored message m, sent by a member of role, to
// rules.AdmitAmend.
func amendTarget(m *proto.Message, role string) rules.AmendTarget {
	return rules.AmendTarget{
		Found: !proto.IsLifecycle(m.MsgType), Sender: m.Sender, SenderRole: role, MsgType: m.MsgType,
		CreatedAt: m.CreatedAt, Recalled: m.Recalled, Reactions: m.Reactions,
	}
}

// applyLifecycle changes the target of ev, a lifecycle event just stored
// in c. A recall also erases the text of the edits of its target. With
// release, the release of an attachment it erases is recorded, and its id
// returned.
func (s *MemoryStore) applyLifecycle(c *memConv, ev *proto.Message, release bool) (released string) {
	if ev.Target == 0 {
		return ""
	}
	t := &c.msgs[ev.Target-1]
	if release {
		if released = erasedAttachment(t, ev); released != "" {
			s.addRelease(ev, released)
		}
	}
	t.Apply(ev)
	if t.Recalled {
		for i := int(ev.Target); i < len(c.msgs); i++ {
			if e := &c.msgs[i]; e.MsgType == proto.MsgEdit && e.Target == ev.Target {
				e.Text = ""
			}
		}
	}
	return released
}

var _ ReceiptReader = (*MemoryStore)(nil)

// Receipts implements ReceiptReader.
func (s *MemoryStore) Receipts(ctx context.Context, user, conv string, seq uint64) (read, unread []string, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	c := s.convs[conv]
	isMember := c != nil && c.isMember(user)
	empty, perr := rules.AdmitRead(user, conv, c != nil, isMember)
	if perr != nil {
		return nil, nil, perr
	}
	if empty {
		return []string{}, []string{}, nil
	}
	reads := make(map[string]uint64, len(c.memberList))
	for _, u := range c.memberList {
		reads[u] = c.members[u].readSeq
	}
	read, unread = rules.ReceiptSplit(user, c.memberList, reads, seq)
	return read, unread, nil
}

// roleOf is user's role in c now: a former member's counts as none.
func (c *memConv) roleOf(user string) string {
	if c.kind != proto.KindGroup {
		return rules.RoleMember
	}
	if m := c.members[user]; m != nil && m.left == 0 {
		return m.Role
	}
	return ""
}

// peerRead is the read cursor of the other member of p2p conversation c.
func (c *memConv) peerRead(user string) uint64 {
	if c.kind != proto.KindP2P {
		return 0
	}
	for u, m := range c.members {
		if u != user {
			return m.readSeq
		}
	}
	return 0
}

var _ AttachmentUser = (*MemoryStore)(nil)

// AttachmentInUse implements AttachmentUser.
func (s *MemoryStore) AttachmentInUse(ctx context.Context, id string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	for _, c := range s.convs {
		for i := range c.msgs {
			if m := &c.msgs[i]; proto.IsAttachmentType(m.MsgType) && carries(m.Body, id) {
				return true, nil
			}
		}
	}
	return false, nil
}
