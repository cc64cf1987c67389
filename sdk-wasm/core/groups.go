package core

import (
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

// Groups: operations on a group's members, roles, mutes and information,
// invitations and join requests. Each is one request to the relay, which
// answers with this user's view of the group (merged into the cache) or OK.
// Every change is also a system message in the group's log; a device that
// receives one live syncs, so its cached state (role, members, info) is the
// relay's, and an offline device converges through the same sync.

// Member is one member of a group.
type Member struct {
	User       string `json:"user"`
	Role       string `json:"role"`                 // `owner`, `admin` or `member`
	JoinedAt   int64  `json:"joinedAt"`             // unix ms
	MutedUntil int64  `json:"mutedUntil,omitempty"` // unix ms; absent: may speak
}

// GroupNotice is a pending invitation (kind `invite`: User is invited by
// By) or join request (kind `request`: User asks to join).
type GroupNotice struct {
	Kind   string `json:"kind"`
	ConvID string `json:"conversationId"`
	Name   string `json:"name,omitempty"` // the group's name
	User   string `json:"user"`
	By     string `json:"by,omitempty"`
	Note   string `json:"note,omitempty"`
	At     int64  `json:"at"` // unix ms
	// No longer pending (accepted, declined, replaced, or ended with the
	// group), on this device or another: an `invitation` or `joinRequest`
	// event with it set withdraws the one announced before.
	Done bool `json:"done,omitempty"`
}

// GroupOp asks the relay for a group operation (see proto.GroupOp). It
// needs a connection. The operation resolves with Result.Conversation, the
// user's view of the group afterwards, or with none when the user has no
// view of it (a join request, a declined invitation).
func (c *Core) GroupOp(now time.Time, op proto.GroupOp) (uint64, error) {
	c.begin()
	defer c.flush()
	if err := proto.Validate(&op); err != nil {
		return 0, invalid(err.Message)
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "group operations need a connection"}
	}
	id := c.newOp()
	c.request(now, &request{kind: reqGroup, op: id, conv: op.ConvID}, proto.TypeGroupOp, &op)
	return id, nil
}

// FetchMembers asks for a page of the members of group conv after user
// after (empty: from the start), at most limit (0: the relay's default).
// The operation resolves with Result.Members and Result.More.
func (c *Core) FetchMembers(now time.Time, conv, after string, limit int) (uint64, error) {
	c.begin()
	defer c.flush()
	if limit < 0 || limit > 1<<16 {
		limit = 0
	}
	q := proto.Members{ConvID: conv, After: after, Limit: uint32(limit)}
	if err := proto.Validate(&q); err != nil {
		return 0, invalid(err.Message)
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "members needs a connection"}
	}
	id := c.newOp()
	c.request(now, &request{kind: reqMembers, op: id, conv: conv}, proto.TypeMembers, &q)
	return id, nil
}

// FetchPending asks for this user's pending invitations (conv empty) or
// the join requests of group conv (admins). The operation resolves with
// Result.Notices.
func (c *Core) FetchPending(now time.Time, conv string) (uint64, error) {
	c.begin()
	defer c.flush()
	q := proto.Pending{ConvID: conv}
	if err := proto.Validate(&q); err != nil {
		return 0, invalid(err.Message)
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "pending needs a connection"}
	}
	id := c.newOp()
	c.request(now, &request{kind: reqPending, op: id}, proto.TypePending, &q)
	return id, nil
}

// groupResult takes the relay's answer to a GroupOp.
func (c *Core) groupResult(r *request, rc *proto.Conversation) bool {
	cv := c.merge(rc)
	if cv == nil {
		return false
	}
	c.resolve(r.op, Result{Conversation: copyConv(cv)})
	return true
}

// memberPage resolves a FetchMembers.
func (c *Core) memberPage(r *request, p *proto.MemberPage) {
	out := make([]Member, len(p.Members))
	for i, m := range p.Members {
		out[i] = Member{User: m.User, Role: m.Role, JoinedAt: m.JoinedAt, MutedUntil: m.MutedUntil}
	}
	c.resolve(r.op, Result{Members: out, More: p.More})
}

// pendingList resolves a FetchPending.
func (c *Core) pendingList(r *request, p *proto.PendingList) {
	out := make([]GroupNotice, len(p.Items))
	for i := range p.Items {
		out[i] = noticeFrom(&p.Items[i])
	}
	c.resolve(r.op, Result{Notices: out})
}

func noticeFrom(n *proto.GroupNotice) GroupNotice {
	return GroupNotice{Kind: n.Kind, ConvID: n.ConvID, Name: n.Name, User: n.User, By: n.By, Note: n.Note, At: n.At, Done: n.Done}
}

// noticeKey keys a pending notice in the account: one invitation per
// group, one join request per group and requester.
func noticeKey(n *GroupNotice) string {
	if n.Kind == proto.PendingRequest {
		return n.Kind + " " + n.ConvID + " " + n.User
	}
	return n.Kind + " " + n.ConvID
}

// groupNotice folds a pushed invitation or join request (a relay that
// does not write them to the user feed pushes them so).
func (c *Core) groupNotice(n *proto.GroupNotice) {
	c.applyNotice(n)
	c.saveAccount()
}

// applyNotice folds an invitation or join request of the user feed into
// the account: a new pending one is announced (`invitation`,
// `joinRequest`), and one that ends is announced again with Done — once
// each, however often the feed lists it.
func (c *Core) applyNotice(n *proto.GroupNotice) {
	if (n.Kind != proto.PendingInvite && n.Kind != proto.PendingRequest) || !proto.ValidGroupID(n.ConvID) || !proto.ValidName(n.User) {
		return
	}
	gn := noticeFrom(n)
	k := noticeKey(&gn)
	old, had := c.acct.notices[k]
	switch {
	case gn.Done && !had:
		return
	case gn.Done:
		delete(c.acct.notices, k)
	case had && old == gn:
		return
	default:
		c.acct.notices[k] = gn
	}
	kind := EventInvitation
	if gn.Kind == proto.PendingRequest {
		kind = EventJoinRequest
	}
	c.emit(Event{Kind: kind, Notice: &gn})
}

// sortedNotices returns the pending invitations of this user and join requests
// of the groups this user administers, as the user feed last said.
func (c *Core) sortedNotices() []GroupNotice {
	out := make([]GroupNotice, 0, len(c.acct.notices))
	for _, n := range c.acct.notices {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return noticeKey(&out[i]) < noticeKey(&out[j]) })
	return out
}

// mergeGroup applies the group state of a relay view rc to cv when rc is
// not older than what cv holds (version, the version cv had before rc).
func mergeGroup(cv *Conversation, rc *proto.Conversation, version uint64) {
	if rc.Kind != proto.KindGroup || rc.Version < version {
		return
	}
	cv.Role, cv.Avatar, cv.Notice, cv.Custom = rc.Role, rc.Avatar, rc.Notice, rc.Custom
	cv.JoinPolicy, cv.MutedUntil, cv.MuteAll = rc.JoinPolicy, rc.MutedUntil, rc.MuteAll
	if rc.Role == "" {
		cv.Members = nil // no longer a member: the list is not ours to know
	}
}

// systemBody turns a system message's CBOR body into JSON, the form every
// cache and the application see; a body that does not decode is dropped.
func systemBody(b []byte) []byte {
	e, err := proto.DecodeGroupEvent(b)
	if err != nil {
		return nil
	}
	return e.AppendJSON(nil)
}
