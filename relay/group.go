package relay

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// Groups: roles, member changes, information, mutes, invitations and join
// requests. A store loads a group's state inside its write transaction,
// asks rules.PlanGroupOp what an operation changes, applies the plan and
// appends one system message per event to the group's log, in the same
// transaction. A member who is removed (or leaves, or whose group is
// dismissed) keeps the member row with the seq of the system message that
// ended the membership: their history stops there, they receive nothing
// after it, and their sync shows the group as of that message, with no
// role.

// GroupRequest is one GroupOp by Actor.
type GroupRequest struct {
	Actor string
	Op    proto.GroupOp
	Now   int64 // unix milliseconds, relay clock
	// Direct is the invitation policy: nil adds every user at once.
	Direct rules.DirectAdd
	// Feed: the store writes the invitations and join requests the change
	// opens or ends into the user feeds of whom they concern, in the same
	// transaction as the change (GroupOutcome.Feed).
	Feed bool
}

// GroupOutcome is what a GroupOp did.
type GroupOutcome struct {
	// Feed are the user feed entries written with the change
	// (GroupRequest.Feed): FeedKeys[i] got Feed[i] when it is not nil.
	FeedKeys []FeedKey
	Feed     []*proto.UserEntry
	// View is the actor's view of the group after the change; nil when the
	// actor has none (a join request, a declined invitation).
	View *proto.Conversation
	// Messages are the system messages appended, in seq order.
	Messages []proto.Message
	// To are the users the messages are delivered to: the members after
	// the change, and those whose membership it ended. Sorted.
	To []string
	// Notices are the invitations and join requests the change opened,
	// and Ended those it ended (Done set), each for whom it concerns.
	Notices []rules.Notice
	Ended   []rules.Notice
}

// Grouper is the group side of a store.
type Grouper interface {
	// ChangeGroup applies one group operation, or refuses it with its
	// code and changes nothing.
	ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error)
	// GroupMembers returns a page of the members of group q.ConvID, which
	// user must be a member of (4203), in user id order after q.After.
	GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error)
	// GroupPending returns user's pending invitations (conv empty) or the
	// join requests of group conv, which user must administer (4220).
	GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error)
	// MemberRole returns user's role in conv: proto.RoleOwner, RoleAdmin or
	// RoleMember for a group member, RoleMember for a party of a p2p
	// conversation, "" for anyone else. It is what other features ask
	// before acting on someone else's message (an admin's recall).
	MemberRole(ctx context.Context, conv, user string) (string, error)
	// ReadSpans returns the seqs of conv user may read (rules.Spans): all
	// of a one-to-one conversation for its parties, the memberships of a
	// group for a present or former member, nil for anyone else. Read
	// receipts and attachment downloads are decided by it.
	ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error)
	// Readers returns the current members of group conv whose
	// memberships hold seq, sorted.
	Readers(ctx context.Context, conv string, seq uint64) ([]string, error)
}

// memberPageLimit is the default and largest Members page.
const memberPageLimit = 500

// pageLimit normalises a Members limit.
func pageLimit(n uint32) int {
	if n == 0 || n > memberPageLimit {
		return memberPageLimit
	}
	return int(n)
}

// systemMessages turns the events of a plan into the messages appended
// after seq last.
func systemMessages(conv, actor string, events []proto.GroupEvent, last uint64, now int64) []proto.Message {
	out := make([]proto.Message, len(events))
	for i := range events {
		out[i] = proto.Message{ConvID: conv, Seq: last + uint64(i) + 1, Sender: actor, ClientID: "sys-" + randomHex(10),
			MsgType: proto.MsgSystem, Body: proto.EncodeGroupEvent(&events[i]), CreatedAt: now}
	}
	return out
}

// recipients returns the sorted union of the members before the change
// (minus nobody: the removed still get the message that removes them) and
// those the plan adds.
func recipients(st *rules.GroupState, p *rules.GroupPlan) []string {
	out := make([]string, 0, len(st.Members)+len(p.Put))
	for u := range st.Members {
		out = append(out, u)
	}
	for u := range p.Put {
		out = append(out, u)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// membersAfter returns the sorted member list after plan p.
func membersAfter(st *rules.GroupState, p *rules.GroupPlan) []string {
	out := make([]string, 0, len(st.Members)+len(p.Put))
	for u := range st.Members {
		if !slices.Contains(p.Remove, u) {
			out = append(out, u)
		}
	}
	for u := range p.Put {
		if _, ok := st.Members[u]; !ok {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// encodeInfo and decodeInfo store rules.GroupInfo as JSON text.
func encodeInfo(i rules.GroupInfo) string {
	if i == (rules.GroupInfo{}) {
		return ""
	}
	b, _ := json.Marshal(i)
	return string(b)
}

func decodeInfo(s string) rules.GroupInfo {
	var i rules.GroupInfo
	if s != "" {
		_ = json.Unmarshal([]byte(s), &i) // written by encodeInfo only
	}
	return i
}

// groupView adds the group state to a conversation view: the group's info
// and user's membership (role "" for a former member).
func groupView(c *proto.Conversation, info rules.GroupInfo, m rules.GroupMember) {
	if c.Kind != proto.KindGroup {
		return
	}
	c.Avatar, c.Notice, c.Custom, c.JoinPolicy, c.MuteAll = info.Avatar, info.Notice, info.Custom, info.Policy(), info.MuteAll
	c.Role, c.MutedUntil = m.Role, m.MutedUntil
}

// speechGate is what a store needs to decide whether a group member may
// send: whether everyone is muted, and the members whose role or mute
// differs from a plain member's.
type speechGate struct {
	muteAll bool
	special map[string]rules.GroupMember
}

// admit decides whether user may send at now (unix ms).
func (g *speechGate) admit(user string, now int64) *proto.Error {
	if user == proto.SystemUser {
		return nil // the admin API's system messages are never muted
	}
	m, ok := g.special[user]
	if !ok {
		m.Role = proto.RoleMember
	}
	return rules.AdmitSpeech(m.Role, m.MutedUntil, g.muteAll, now)
}

// noticeFeed returns the user feed keys the notices of a group change
// concern (an invitee; a group's admins and owner) and the plan that
// writes them (UserFeed.UpdateFeed). A key written twice (a request ended
// and opened again) keeps the last: the one opened. An ended notice is
// written only for whom it was open.
func noticeFeed(ended, opened []rules.Notice) ([]FeedKey, func([]proto.UserEntry) ([]*proto.UserEntry, error)) {
	var keys []FeedKey
	var entries []proto.GroupNotice
	for _, list := range [][]rules.Notice{ended, opened} {
		for _, n := range list {
			for _, u := range n.To {
				keys = append(keys, FeedKey{User: u, Kind: rules.FeedNotice, Key: rules.NoticeKey(&n.Notice)})
				entries = append(entries, n.Notice)
			}
		}
	}
	last := make(map[FeedKey]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	return keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		res := make([]*proto.UserEntry, len(keys))
		for i, k := range keys {
			if last[k] != i || (entries[i].Done && (cur[i].Notice == nil || cur[i].Notice.Done)) {
				continue // nothing to end for someone who never had it
			}
			n := entries[i]
			res[i] = &proto.UserEntry{Notice: &n}
		}
		return res, nil
	}
}
