package core

import (
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
	return GroupNotice{Kind: n.Kind, ConvID: n.ConvID, Name: n.Name, User: n.User, By: n.By, Note: n.Note, At: n.At}
}

// groupNotice emits a pushed invitation or join request.
func (c *Core) groupNotice(n *proto.GroupNotice) {
	gn := noticeFrom(n)
	kind := EventInvitation
	if n.Kind == proto.PendingRequest {
		kind = EventJoinRequest
	}
	c.emit(Event{Kind: kind, Notice: &gn})
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
