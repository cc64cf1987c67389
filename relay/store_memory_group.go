package relay

import (
	"context"
	"slices"
	"strings"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Grouper = (*MemoryStore)(nil)

// groupState is c as rules.PlanGroupOp reads it.
func (c *memConv) groupState() *rules.GroupState {
	st := &rules.GroupState{ID: c.id, Name: c.name, Info: c.info,
		Members: make(map[string]rules.GroupMember, len(c.memberList)), Pending: c.pending}
	for _, u := range c.memberList {
		st.Members[u] = c.members[u].GroupMember
	}
	return st
}

// ChangeGroup implements Grouper.
func (s *MemoryStore) ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return GroupOutcome{}, ErrClosed
	}
	c := s.convs[req.Op.ConvID]
	var st *rules.GroupState
	if c != nil && c.kind == proto.KindGroup {
		st = c.groupState()
	}
	plan, perr := rules.PlanGroupOp(st, req.Actor, &req.Op, req.Now, req.Direct)
	if perr != nil {
		return GroupOutcome{}, perr
	}
	out := GroupOutcome{Notices: plan.Notices, Ended: plan.Ended}
	var feed []*proto.UserEntry
	keys, feedPlan := noticeFeed(plan.Ended, plan.Notices)
	if req.Feed && len(keys) > 0 {
		// Planned first: the memory store changes nothing unless all of
		// it succeeds. The plan never fails.
		cur := make([]proto.UserEntry, len(keys))
		for i, k := range keys {
			cur[i] = s.feed[k.User][[2]string{k.Kind, k.Key}]
		}
		var err error
		if feed, err = feedPlan(cur); err != nil {
			return GroupOutcome{}, err
		}
	}
	to := recipients(st, &plan)
	changed := plan.MembersChanged(st)
	if plan.Name != nil {
		c.name = *plan.Name
	}
	if plan.Info != nil {
		c.info = *plan.Info
	}
	before := uint64(len(c.msgs))
	for u, gm := range plan.Put {
		m := c.members[u]
		switch {
		case m == nil:
			m = &memMember{}
			c.members[u] = m
			s.users[u] = append(s.users[u], c)
			m.readSeq, m.from = before, before+1
		case m.left > 0:
			m.past = append(m.past, rules.Span{From: max(m.from, 1), To: m.left})
			m.left, m.readSeq, m.from = 0, max(m.readSeq, before), before+1
		}
		m.GroupMember = gm
	}
	out.Messages = systemMessages(c.id, req.Actor, plan.Events, before, req.Now)
	for _, m := range out.Messages {
		s.byClient[clientKey{m.Sender, m.ClientID}] = msgRef{c.id, m.Seq}
	}
	c.msgs = append(c.msgs, out.Messages...)
	if c.pending == nil && len(plan.PutPending) > 0 {
		c.pending = make(map[string]proto.GroupNotice)
	}
	for _, u := range plan.DropPending {
		delete(c.pending, u)
	}
	for _, n := range plan.PutPending {
		c.pending[n.User] = n
	}
	if len(out.Messages) > 0 {
		c.pos = s.nextPos()
		if a := c.members[req.Actor]; a != nil && a.left == 0 {
			a.readSeq = uint64(len(c.msgs)) // what a user did, they have read
		}
		for _, u := range plan.Remove {
			m := c.members[u]
			m.left, m.pos, m.GroupMember = uint64(len(c.msgs)), s.counter, rules.GroupMember{}
		}
		if changed {
			c.membersPos = s.counter
			c.memberList = membersAfter(st, &plan)
		}
		out.To = to
	}
	if feed != nil {
		out.FeedKeys = keys
		out.Feed, _ = s.updateFeed(keys, func([]proto.UserEntry) ([]*proto.UserEntry, error) { return feed, nil })
	}
	if c.members[req.Actor] != nil {
		v := s.view(c, req.Actor)
		out.View = &v
	}
	return out, nil
}

// GroupMembers implements Grouper.
func (s *MemoryStore) GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return proto.MemberPage{}, ErrClosed
	}
	page := proto.MemberPage{ConvID: q.ConvID, Members: []proto.Member{}}
	c := s.convs[q.ConvID]
	if c == nil || c.kind != proto.KindGroup || !c.isMember(user) {
		return page, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	limit := pageLimit(q.Limit)
	i, _ := slices.BinarySearch(c.memberList, q.After)
	for ; i < len(c.memberList); i++ {
		u := c.memberList[i]
		if u == q.After {
			continue
		}
		if len(page.Members) == limit {
			page.More = true
			break
		}
		m := c.members[u]
		page.Members = append(page.Members, proto.Member{User: u, Role: m.Role, JoinedAt: m.JoinedAt, MutedUntil: m.MutedUntil})
	}
	return page, nil
}

// GroupPending implements Grouper.
func (s *MemoryStore) GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := []proto.GroupNotice{}
	if conv == "" {
		for _, c := range s.convs {
			if n, ok := c.pending[user]; ok && n.Kind == proto.PendingInvite {
				out = append(out, n)
			}
		}
		slices.SortFunc(out, func(a, b proto.GroupNotice) int { return strings.Compare(a.ConvID, b.ConvID) })
		return out, nil
	}
	c := s.convs[conv]
	if c == nil || c.kind != proto.KindGroup || !c.isMember(user) {
		return nil, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	if !rules.CanSeeRequests(c.members[user].Role) {
		return nil, proto.Errorf(proto.CodeRole, "only admins see join requests")
	}
	for _, n := range c.pending {
		if n.Kind == proto.PendingRequest {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b proto.GroupNotice) int { return strings.Compare(a.User, b.User) })
	return out, nil
}

// MemberRole implements Grouper.
func (s *MemoryStore) MemberRole(ctx context.Context, conv, user string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return "", ErrClosed
	}
	c := s.convs[conv]
	if c == nil || !c.isMember(user) {
		return "", nil
	}
	if c.kind != proto.KindGroup {
		return proto.RoleMember, nil
	}
	return c.members[user].Role, nil
}

// ReadSpans implements Grouper.
func (s *MemoryStore) ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	c := s.convs[conv]
	if c == nil || c.members[user] == nil {
		return nil, nil
	}
	return c.spans(c.members[user]), nil
}

// Readers implements Grouper.
func (s *MemoryStore) Readers(ctx context.Context, conv string, seq uint64) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	var out []string
	for _, u := range c.memberList {
		if c.spans(c.members[u]).Has(seq) {
			out = append(out, u)
		}
	}
	return out, nil
}
