package relay

import (
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// directAdd is the invitation policy of the relay: nil (every add is
// direct) under "direct"; under "consent" nobody is added without
// accepting. A per-user setting (say, direct adds only from contacts)
// plugs in here: it returns true for the inviters the invitee accepts
// directly.
func (s *Session) directAdd(invitees []string) rules.DirectAdd {
	if s.env.limits.invitePolicy == "consent" {
		return func(invitee, inviter string) bool { return false }
	}
	return s.contactsOnlyAdds(invitees) // contacts.go
}

// consentMembers takes out of a new group's members those who must accept
// an invitation first, and returns them.
func (s *Session) consentMembers(spec *GroupSpec) []string {
	direct := s.directAdd(spec.Members)
	if direct == nil {
		return nil
	}
	var keep, invite []string
	for _, u := range spec.Members {
		if u == spec.Creator || direct(u, spec.Creator) {
			keep = append(keep, u)
		} else {
			invite = append(invite, u)
		}
	}
	spec.Members = keep
	return invite
}

// inviteAtCreation invites users into the group conv just created by this
// session's user.
func (s *Session) inviteAtCreation(now time.Time, conv string, users []string) (GroupOutcome, bool) {
	out, err := s.env.store.ChangeGroup(s.env.ctx, GroupRequest{Actor: s.user, Now: now.UnixMilli(),
		Op: proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: users}, Direct: s.directAdd(users), Feed: true})
	if err != nil {
		s.env.log.Warn("group invitations at creation failed", "conv", conv, "err", err)
		return out, false
	}
	s.groupFanout(&out)
	return out, true
}

// groupOp serves a GroupOp: the store decides and applies it; the system
// messages go to every member concerned (the removed included), the
// notices to whom they concern, and the caller gets its view.
func (s *Session) groupOp(now time.Time, id uint64, b *proto.GroupOp) {
	var invitees []string
	if b.Op == proto.OpAdd {
		invitees = b.Users
	}
	out, err := s.env.store.ChangeGroup(s.env.ctx, GroupRequest{Actor: s.user, Op: *b, Now: now.UnixMilli(), Direct: s.directAdd(invitees), Feed: true})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	if out.View != nil {
		s.reply(proto.Frame{Type: proto.TypeConvResult, ID: id, Body: &proto.ConvResult{Conversation: *out.View}})
	} else {
		s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	}
	s.groupFanout(&out)
	if out.View != nil && len(out.Messages) > 0 {
		s.env.hooks.groupChanged(*out.View, b.Op) // webhooks.go
	}
}

// groupFanout delivers what a group change produced (fanout.groupOutcome).
func (s *Session) groupFanout(out *GroupOutcome) { s.env.fan.groupOutcome(out) }

func (s *Session) members(id uint64, b *proto.Members) {
	page, err := s.env.store.GroupMembers(s.env.ctx, s.user, *b)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeMemberPage, ID: id, Body: &page})
}

func (s *Session) pending(id uint64, b *proto.Pending) {
	items, err := s.env.store.GroupPending(s.env.ctx, s.user, b.ConvID)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypePendingList, ID: id, Body: &proto.PendingList{Items: items}})
}

// publishCreated pushes a new group to its members: the creator's other
// sessions get the creator's view, the other members theirs — the same
// group as a plain member who has read nothing.
func (s *Session) publishCreated(spec GroupSpec, conv proto.Conversation) {
	s.env.fan.publish([]string{spec.Creator}, s.id,
		proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: conv}}))
	others := slices.DeleteFunc(slices.Clone(spec.Members), func(u string) bool { return u == spec.Creator })
	if len(others) == 0 {
		return
	}
	theirs := conv
	theirs.Role, theirs.ReadSeq, theirs.MutedUntil = proto.RoleMember, 0, 0
	s.env.fan.publish(others, "",
		proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: theirs}}))
}

// admitSeq refuses (4203) what this session's user asks about seq of a
// group they were not a member at (group_spans.go): a former member's
// history ends at the removal, a member added again does not see the gap.
// A user who never was a member is left to the store's own answer.
func (s *Session) admitSeq(conv string, seq uint64) (*proto.Error, error) {
	if proto.KindOf(conv) != proto.KindGroup || seq == 0 {
		return nil, nil
	}
	spans, err := s.env.store.ReadSpans(s.env.ctx, conv, s.user)
	if err != nil || spans == nil || spans.Has(seq) {
		return nil, err
	}
	return proto.Errorf(proto.CodeForbidden, "message %d of %s was sent while you were not a member", seq, conv), nil
}

// onlyReaders keeps, of a message's read receipts, the members whose
// memberships hold it: a member added after it was sent neither read it
// nor has it unread.
func (s *Session) onlyReaders(conv string, seq uint64, read, unread []string) ([]string, []string, error) {
	if proto.KindOf(conv) != proto.KindGroup {
		return read, unread, nil
	}
	readers, err := s.env.store.Readers(s.env.ctx, conv, seq)
	if err != nil {
		return nil, nil, err
	}
	out := func(us []string) []string {
		return slices.DeleteFunc(us, func(u string) bool { _, ok := slices.BinarySearch(readers, u); return !ok })
	}
	return out(read), out(unread), nil
}

// groupOutcome delivers what a group change produced: its system messages
// to every member concerned (out.To: the members after the change and those
// whose membership it ended), then the user feed entries the store wrote in
// the change's transaction (GroupRequest.Feed) to all the sessions of whom
// they concern. A device offline now finds both in its next sync, and an
// answered invitation or join request is Done on every device concerned.
// A member's own request and the admin API publish the same way.
func (f *fanout) groupOutcome(out *GroupOutcome) {
	for i := range out.Messages {
		f.publish(out.To, "", proto.MustEncode(proto.Frame{Type: proto.TypeDeliver,
			Body: &proto.Deliver{Message: out.Messages[i]}}))
	}
	for i, e := range out.Feed {
		if e != nil {
			f.publish([]string{out.FeedKeys[i].User}, "",
				proto.MustEncode(proto.Frame{Type: proto.TypeUserUpdate, Body: &proto.UserUpdate{Entry: *e}}))
		}
	}
}
