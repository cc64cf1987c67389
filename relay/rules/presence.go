package rules

import (
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// PresenceTTL is how long a presence subscription asked for with ttlMs
// lasts: a day for 0, otherwise ttlMs clamped to [proto.MinPresenceTTLMs,
// proto.MaxPresenceTTLMs].
func PresenceTTL(ttlMs int64) time.Duration {
	switch {
	case ttlMs <= 0:
		ttlMs = proto.DefaultPresenceTTLMs
	case ttlMs < proto.MinPresenceTTLMs:
		ttlMs = proto.MinPresenceTTLMs
	case ttlMs > proto.MaxPresenceTTLMs:
		ttlMs = proto.MaxPresenceTTLMs
	}
	return time.Duration(ttlMs) * time.Millisecond
}

// AdmitPresenceSubs decides whether a user holding live subscriptions may
// add fresh ones (users not subscribed to yet; renewals are free): 4270
// when the total would pass max. The request is refused whole, so nothing
// changes.
func AdmitPresenceSubs(live, fresh, max int) *proto.Error {
	if live+fresh > max {
		return proto.Errorf(proto.CodePresenceLimit, "%d presence subscriptions is the most one user may hold (%d live, %d new)", max, live, fresh)
	}
	return nil
}

// UniqueUsers returns users without repeats, in first-seen order; the
// input is not modified.
func UniqueUsers(users []string) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// MergeProfile applies a SetProfile to the stored profile p at now (unix
// ms): the fields it carries replace p's, and UpdatedAt moves to now (and
// never backwards, whatever the clocks of several relays say).
func MergeProfile(p proto.Profile, set proto.SetProfile, now int64) proto.Profile {
	if set.Nickname != nil {
		p.Nickname = *set.Nickname
	}
	if set.Avatar != nil {
		p.Avatar = *set.Avatar
	}
	if set.Custom != nil {
		p.Custom = *set.Custom
	}
	p.UpdatedAt = max(now, p.UpdatedAt+1)
	p.Deleted = false // the application gave a deleted user's id a new life
	return p
}

// Successor returns who takes over a group from owner, who is leaving it
// (the admin API deleting the owner): the admin who joined first, or else
// the member who joined first (ties by user id); "" when owner is alone.
func Successor(members []proto.Member, owner string) string {
	var best *proto.Member
	rank := func(m *proto.Member) int {
		if m.Role == proto.RoleAdmin {
			return 0
		}
		return 1
	}
	for i := range members {
		m := &members[i]
		if m.User == owner {
			continue
		}
		if best == nil || rank(m) < rank(best) ||
			rank(m) == rank(best) && (m.JoinedAt < best.JoinedAt || m.JoinedAt == best.JoinedAt && m.User < best.User) {
			best = m
		}
	}
	if best == nil {
		return ""
	}
	return best.User
}
