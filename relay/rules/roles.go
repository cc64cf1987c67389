package rules

import (
	"slices"

	"github.com/parley-im/parley/proto"
)

// Group roles and what they allow. The planner below is a pure function of
// a group's stored state and one operation: a store loads the state inside
// its write transaction, asks PlanGroupOp what changes, and applies the plan
// in the same transaction, so a check and the write it guards never race.

// Rank orders roles: owner 3, admin 2, member 1, anything else (not a
// member) 0.
func Rank(role string) int {
	switch role {
	case proto.RoleOwner:
		return 3
	case proto.RoleAdmin:
		return 2
	case proto.RoleMember:
		return 1
	}
	return 0
}

// AtLeast reports whether role is min or higher: AtLeast(role,
// proto.RoleAdmin) is "may moderate".
func AtLeast(role, min string) bool { return Rank(role) > 0 && Rank(role) >= Rank(min) }

// Outranks reports whether a member of role actor may act on a member of
// role target: only on a strictly lower role.
func Outranks(actor, target string) bool { return Rank(actor) > Rank(target) }

// AdmitSpeech decides whether a group member of role, muted until
// mutedUntil (unix ms), may send at now (unix ms) in a group whose muteAll
// is on or off: 4224 when muted, or when everyone is muted and the role is
// below admin.
func AdmitSpeech(role string, mutedUntil int64, muteAll bool, now int64) *proto.Error {
	switch {
	case mutedUntil > now:
		return proto.Errorf(proto.CodeMuted, "muted in this group until %d", mutedUntil)
	case muteAll && !AtLeast(role, proto.RoleAdmin):
		return proto.Errorf(proto.CodeMuted, "only admins may send in this group now")
	}
	return nil
}

// GroupInfo is what a store keeps of a group besides its name, members and
// log.
type GroupInfo struct {
	Avatar     string `json:"avatar,omitempty"`
	Notice     string `json:"notice,omitempty"`
	Custom     string `json:"custom,omitempty"`
	JoinPolicy string `json:"joinPolicy,omitempty"` // proto.JoinInvite when empty
	MuteAll    bool   `json:"muteAll,omitempty"`
}

// Policy returns the join policy, proto.JoinInvite when unset.
func (i GroupInfo) Policy() string {
	if i.JoinPolicy == "" {
		return proto.JoinInvite
	}
	return i.JoinPolicy
}

// GroupMember is a member's stored state.
type GroupMember struct {
	Role       string
	JoinedAt   int64 // unix ms
	MutedUntil int64 // unix ms; 0: not muted
}

// GroupState is a group as a store loads it for PlanGroupOp.
type GroupState struct {
	ID, Name string
	Info     GroupInfo
	Members  map[string]GroupMember       // current members only
	Pending  map[string]proto.GroupNotice // invitations and join requests, by user
}

// GroupPlan is what one operation changes; a store applies it in order:
// Name and Info, Put (members added or changed), Remove (members who are
// no longer members, keeping what they could read), pending rows, then
// appends Events as system messages from the actor.
type GroupPlan struct {
	Name        *string
	Info        *GroupInfo
	Put         map[string]GroupMember
	Remove      []string // sorted
	PutPending  []proto.GroupNotice
	DropPending []string
	Events      []proto.GroupEvent
	// Notices are pushed to whom they concern (the invitee; a request's
	// admins).
	Notices []Notice
	// Ended are the invitations and join requests the plan ends
	// (accepted, declined, replaced, or ended with the group), Done set,
	// for whom they concerned.
	Ended []Notice
}

// endPending records that st's pending notice of u ends.
func (p *GroupPlan) endPending(st *GroupState, u string) {
	n, ok := st.Pending[u]
	if !ok {
		return
	}
	n.Done = true
	to := []string{u}
	if n.Kind == proto.PendingRequest {
		to = st.moderators()
	}
	p.Ended = append(p.Ended, Notice{To: to, Notice: n})
}

// FeedNotice is the user feed kind of invitations and join requests
// (proto.UserEntry.Notice); NoticeKey is an entry's key.
const FeedNotice = "n"

// NoticeKey keys n in its owner's feed: one entry per group for an
// invitation, one per group and requester for a join request.
func NoticeKey(n *proto.GroupNotice) string {
	if n.Kind == proto.PendingRequest {
		return n.Kind + " " + n.ConvID + " " + n.User
	}
	return n.Kind + " " + n.ConvID
}

// Notice is a GroupNotice and who it is pushed to.
type Notice struct {
	To     []string
	Notice proto.GroupNotice
}

// MembersChanged reports whether the plan changes the member list.
func (p *GroupPlan) MembersChanged(st *GroupState) bool {
	if len(p.Remove) > 0 {
		return true
	}
	for u := range p.Put {
		if _, ok := st.Members[u]; !ok {
			return true
		}
	}
	return false
}

// DirectAdd decides, for an add by inviter, whether invitee becomes a
// member at once (true) or receives an invitation to accept (false). It is
// where the relay's invitation policy, and a user's own setting, decide.
type DirectAdd func(invitee, inviter string) bool

// PlanGroupOp decides what op by actor at now (unix ms) changes in st, or
// refuses it with its code. st is nil when no such group exists. direct is
// the invitation policy (nil: every add is direct).
func PlanGroupOp(st *GroupState, actor string, op *proto.GroupOp, now int64, direct DirectAdd) (GroupPlan, *proto.Error) {
	var p GroupPlan
	if st == nil {
		return p, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	me, isMember := st.Members[actor]
	if !isMember && op.Op != proto.OpRequest && op.Op != proto.OpAnswerInvite {
		return p, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	ev := func(e proto.GroupEvent) {
		e.By = actor
		p.Events = append(p.Events, e)
	}
	put := func(u string, m GroupMember) {
		if p.Put == nil {
			p.Put = make(map[string]GroupMember)
		}
		p.Put[u] = m
	}
	needRole := func(min string) *proto.Error {
		if !AtLeast(me.Role, min) {
			return proto.Errorf(proto.CodeRole, "%s needs the %s role or higher", op.Op, min)
		}
		return nil
	}
	// targets checks that every user is a member the actor outranks.
	targets := func() ([]string, *proto.Error) {
		users := slices.Clone(op.Users)
		slices.Sort(users)
		users = slices.Compact(users)
		for _, u := range users {
			t, ok := st.Members[u]
			if !ok {
				return nil, proto.Errorf(proto.CodeNotMember, "%s is not a member", u)
			}
			if !Outranks(me.Role, t.Role) {
				return nil, proto.Errorf(proto.CodeRank, "%s's role is not below yours", u)
			}
		}
		return users, nil
	}
	full := func(adding int) *proto.Error {
		if len(st.Members)+adding > proto.MaxGroupMembers {
			return proto.Errorf(proto.CodeGroupFull, "a group has at most %d members", proto.MaxGroupMembers)
		}
		return nil
	}
	join := func(u string) {
		put(u, GroupMember{Role: proto.RoleMember, JoinedAt: now})
		if _, ok := st.Pending[u]; ok {
			p.DropPending = append(p.DropPending, u)
			p.endPending(st, u)
		}
	}
	// moderation moves the pending join requests into the feed of u, who
	// becomes an admin (gain), or ends them there (u no longer is one).
	moderation := func(u string, gain bool) {
		users := make([]string, 0, len(st.Pending))
		for r, n := range st.Pending {
			if n.Kind == proto.PendingRequest {
				users = append(users, r)
			}
		}
		slices.Sort(users)
		for _, r := range users {
			n := st.Pending[r]
			if gain {
				p.Notices = append(p.Notices, Notice{To: []string{u}, Notice: n})
			} else {
				n.Done = true
				p.Ended = append(p.Ended, Notice{To: []string{u}, Notice: n})
			}
		}
	}
	// pend makes n the pending notice of its user, ending one of the
	// other kind.
	pend := func(n proto.GroupNotice, to []string) {
		if old, ok := st.Pending[n.User]; ok && old.Kind != n.Kind {
			p.endPending(st, n.User)
		}
		p.PutPending = append(p.PutPending, n)
		p.Notices = append(p.Notices, Notice{To: to, Notice: n})
	}
	switch op.Op {
	case proto.OpUpdate:
		if err := needRole(proto.RoleAdmin); err != nil {
			return p, err
		}
		in := op.Info
		e := proto.GroupEvent{Event: proto.EventUpdated}
		info := st.Info
		if in.Name != nil {
			if err := AdmitGroupName(*in.Name); err != nil {
				return p, err
			}
			p.Name, e.Name = in.Name, in.Name
		}
		if in.Avatar != nil {
			info.Avatar, e.Avatar = *in.Avatar, in.Avatar
		}
		if in.Notice != nil {
			info.Notice, e.Notice = *in.Notice, in.Notice
		}
		if in.Custom != nil {
			info.Custom, e.Custom = *in.Custom, in.Custom
		}
		if in.JoinPolicy != "" {
			info.JoinPolicy, e.JoinPolicy = in.JoinPolicy, in.JoinPolicy
		}
		p.Info = &info
		ev(e)
	case proto.OpAdd:
		if st.Info.Policy() != proto.JoinOpen {
			if err := needRole(proto.RoleAdmin); err != nil {
				return p, err
			}
		}
		var added, invited []string
		users := slices.Clone(op.Users)
		slices.Sort(users)
		for _, u := range slices.Compact(users) {
			if _, ok := st.Members[u]; ok {
				continue
			}
			if direct == nil || direct(u, actor) {
				added = append(added, u)
				join(u)
				continue
			}
			if old, ok := st.Pending[u]; ok && old.Kind == proto.PendingInvite {
				continue // invited already
			}
			invited = append(invited, u)
			pend(proto.GroupNotice{Kind: proto.PendingInvite, ConvID: st.ID, Name: st.Name, User: u, By: actor, At: now}, []string{u})
		}
		if err := full(len(added)); err != nil {
			return p, err
		}
		if len(added) > 0 {
			ev(proto.GroupEvent{Event: proto.EventAdded, Users: added})
		}
		if len(invited) > 0 {
			ev(proto.GroupEvent{Event: proto.EventInvited, Users: invited})
		}
	case proto.OpRemove:
		if err := needRole(proto.RoleAdmin); err != nil {
			return p, err
		}
		users, err := targets()
		if err != nil {
			return p, err
		}
		p.Remove = users
		for _, u := range users {
			if AtLeast(st.Members[u].Role, proto.RoleAdmin) {
				moderation(u, false)
			}
		}
		ev(proto.GroupEvent{Event: proto.EventRemoved, Users: users})
	case proto.OpLeave:
		if me.Role == proto.RoleOwner {
			if len(st.Members) > 1 {
				return p, proto.Errorf(proto.CodeOwnerLeave, "the owner must transfer the group before leaving it")
			}
			return dismiss(st, actor), nil
		}
		p.Remove = []string{actor}
		if AtLeast(me.Role, proto.RoleAdmin) {
			moderation(actor, false)
		}
		ev(proto.GroupEvent{Event: proto.EventLeft, Users: []string{actor}})
	case proto.OpDismiss:
		if err := needRole(proto.RoleOwner); err != nil {
			return p, err
		}
		return dismiss(st, actor), nil
	case proto.OpTransfer:
		if err := needRole(proto.RoleOwner); err != nil {
			return p, err
		}
		u := op.Users[0]
		t, ok := st.Members[u]
		if !ok {
			return p, proto.Errorf(proto.CodeNotMember, "%s is not a member", u)
		}
		if u == actor {
			return p, proto.Errorf(proto.CodeRank, "the group is yours already")
		}
		if !AtLeast(t.Role, proto.RoleAdmin) {
			moderation(u, true)
		}
		moderation(actor, false)
		t.Role = proto.RoleOwner
		t.MutedUntil = 0
		put(u, t)
		me.Role = proto.RoleMember
		put(actor, me)
		ev(proto.GroupEvent{Event: proto.EventTransferred, Users: []string{u}})
	case proto.OpRole:
		if err := needRole(proto.RoleOwner); err != nil {
			return p, err
		}
		users, err := targets()
		if err != nil {
			return p, err
		}
		for _, u := range users {
			t := st.Members[u]
			if was, is := AtLeast(t.Role, proto.RoleAdmin), AtLeast(op.Role, proto.RoleAdmin); was != is {
				moderation(u, is)
			}
			t.Role = op.Role
			put(u, t)
		}
		ev(proto.GroupEvent{Event: proto.EventRole, Users: users, Role: op.Role})
	case proto.OpMute:
		if err := needRole(proto.RoleAdmin); err != nil {
			return p, err
		}
		users, err := targets()
		if err != nil {
			return p, err
		}
		until := op.Until
		if until <= now {
			until = 0
		}
		for _, u := range users {
			t := st.Members[u]
			t.MutedUntil = until
			put(u, t)
		}
		ev(proto.GroupEvent{Event: proto.EventMuted, Users: users, Until: until})
	case proto.OpMuteAll:
		if err := needRole(proto.RoleAdmin); err != nil {
			return p, err
		}
		info := st.Info
		info.MuteAll = op.On
		p.Info = &info
		ev(proto.GroupEvent{Event: proto.EventMuteAll, On: op.On})
	case proto.OpRequest:
		if isMember {
			return p, nil
		}
		switch st.Info.Policy() {
		case proto.JoinOpen:
			if err := full(1); err != nil {
				return p, err
			}
			join(actor)
			ev(proto.GroupEvent{Event: proto.EventJoined, Users: []string{actor}})
		case proto.JoinApproval:
			pend(proto.GroupNotice{Kind: proto.PendingRequest, ConvID: st.ID, Name: st.Name, User: actor, Note: op.Note, At: now}, st.moderators())
		default:
			return p, proto.Errorf(proto.CodeJoinPolicy, "this group takes members by invitation only")
		}
	case proto.OpAnswerJoin:
		if err := needRole(proto.RoleAdmin); err != nil {
			return p, err
		}
		u := op.Users[0]
		if n, ok := st.Pending[u]; !ok || n.Kind != proto.PendingRequest {
			return p, proto.Errorf(proto.CodeNoPending, "no join request from %s", u)
		}
		if !op.On {
			p.DropPending = []string{u}
			p.endPending(st, u)
			ev(proto.GroupEvent{Event: proto.EventJoinDeclined, Users: []string{u}})
			break
		}
		if err := full(1); err != nil {
			return p, err
		}
		join(u)
		ev(proto.GroupEvent{Event: proto.EventJoined, Users: []string{u}})
	case proto.OpAnswerInvite:
		if n, ok := st.Pending[actor]; !ok || n.Kind != proto.PendingInvite {
			if isMember {
				return p, nil
			}
			return p, proto.Errorf(proto.CodeNoPending, "no invitation to this group")
		}
		if !op.On {
			p.DropPending = []string{actor}
			p.endPending(st, actor)
			ev(proto.GroupEvent{Event: proto.EventInviteDeclined, Users: []string{actor}})
			break
		}
		if err := full(1); err != nil {
			return p, err
		}
		join(actor)
		ev(proto.GroupEvent{Event: proto.EventJoined, Users: []string{actor}})
	default:
		return p, proto.Errorf(proto.CodeBadRequest, "unknown group operation %q", op.Op)
	}
	return p, nil
}

// dismiss ends the group: every member leaves at the dismissal, and what
// was pending is dropped.
func dismiss(st *GroupState, actor string) GroupPlan {
	p := GroupPlan{Events: []proto.GroupEvent{{Event: proto.EventDismissed, By: actor}}}
	for u := range st.Members {
		p.Remove = append(p.Remove, u)
	}
	slices.Sort(p.Remove)
	for u := range st.Pending {
		p.DropPending = append(p.DropPending, u)
	}
	slices.Sort(p.DropPending)
	for _, u := range p.DropPending {
		p.endPending(st, u)
	}
	return p
}

// moderators returns the sorted members of admin role or higher.
func (st *GroupState) moderators() []string {
	var out []string
	for u, m := range st.Members {
		if AtLeast(m.Role, proto.RoleAdmin) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// CanSeeRequests reports whether role may list a group's join requests.
func CanSeeRequests(role string) bool { return AtLeast(role, proto.RoleAdmin) }
