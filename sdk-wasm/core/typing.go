package core

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// TypingEvery is how often a device tells a conversation's members that
// its user types: at most once per conversation in this interval, however
// often the application calls Typing (on every key press, typically).
const TypingEvery = 3 * time.Second

// TypingShowFor is how long an application shows "… is typing" after the
// last typing event of that user in that conversation: a little more than
// TypingEvery, so a user who keeps typing shows without a gap.
const TypingShowFor = 5 * time.Second

// Typing tells the other members of conv that this user types. It is
// best-effort and transient: throttled to one per TypingEvery per
// conversation, dropped while not connected, never queued, never stored.
// Only an invalid conversation id is an error.
func (c *Core) Typing(now time.Time, conv string) error {
	if !proto.ValidConvID(conv) {
		return invalid("typing: invalid conversation id")
	}
	if c.phase != phaseReady {
		return nil
	}
	if at, ok := c.typedAt[conv]; ok && now.Sub(at) < TypingEvery {
		return nil
	}
	if c.typedAt == nil || len(c.typedAt) >= 256 {
		c.typedAt = make(map[string]time.Time) // forget the old ones: at worst one more frame each
	}
	c.typedAt[conv] = now
	c.begin()
	defer c.flush()
	c.write(proto.TypeTyping, 0, &proto.Typing{ConvID: conv})
	return nil
}

// typing handles a Typing the relay passed on: an event, unless it is this
// user's own (from another of their devices).
func (c *Core) typing(now time.Time, t *proto.Typing) {
	if !proto.ValidConvID(t.ConvID) || !proto.ValidName(t.User) {
		c.badReply(now, 0, nil, "typing without a valid conversation or user")
		return
	}
	if t.User == c.meta.UserID {
		return
	}
	c.emit(Event{Kind: EventTyping, Typing: &Typing{ConvID: t.ConvID, User: t.User}})
}
