package rules

import (
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// TypingInterval is how often one connection may say it types in one
// conversation; the SDK sends at most one every 3 s, so an honest client
// never meets it. Typing frames above it are dropped, the connection kept.
const TypingInterval = time.Second

// TypingTracked bounds the conversations a connection's typing throttle
// remembers, so a client naming new conversations cannot grow it.
const TypingTracked = 64

// TypingThrottle remembers when a connection last had a typing frame
// passed on, per conversation. The zero value is ready; it is not safe for
// concurrent use.
type TypingThrottle struct {
	last map[string]time.Time
}

// Allow reports whether a typing frame for conv at now may pass, and
// records it when it does.
func (t *TypingThrottle) Allow(conv string, now time.Time) bool {
	if t.last == nil {
		t.last = make(map[string]time.Time)
	}
	if at, ok := t.last[conv]; ok && now.Sub(at) < TypingInterval {
		return false
	}
	if len(t.last) >= TypingTracked {
		for c, at := range t.last {
			if now.Sub(at) >= TypingInterval {
				delete(t.last, c)
			}
		}
		if len(t.last) >= TypingTracked {
			return false
		}
	}
	t.last[conv] = now
	return true
}

// TypingRecipients returns who sees user typing in conv: the other
// members, or nil when user may not (not a member, or no such
// conversation). members is the group's stored member list; p2p
// conversations take theirs from the id.
func TypingRecipients(user, conv string, members []string) []string {
	if a, b, ok := proto.P2PMembers(conv); ok {
		members = []string{a, b}
	}
	if !slices.Contains(members, user) {
		return nil
	}
	out := make([]string, 0, len(members)-1)
	for _, m := range members {
		if m != user {
			out = append(out, m)
		}
	}
	return out
}
