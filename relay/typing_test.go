//go:build !js

package relay

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// TestTyping: a typing frame reaches the other members' sessions with the
// sender's user id, never the sender's own or a non-member's, and is never
// stored; too frequent or unauthorised ones are dropped without a reply,
// the connection kept.
func TestTyping(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice1, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	carol, _ := login(t, r, "carol", "d")
	p2p := proto.P2PID("alice", "bob")
	typing := func(c *client, conv string) {
		c.write(proto.Frame{Type: proto.TypeTyping, Body: &proto.Typing{ConvID: conv}})
	}
	typed := func(c *client) *proto.Typing {
		t.Helper()
		return c.push(proto.TypeTyping).Body.(*proto.Typing)
	}

	typing(alice1, p2p)
	equal(t, *typed(bob), proto.Typing{ConvID: p2p, User: "alice"}, "bob sees alice typing")
	// Within the interval, from the same connection: dropped.
	typing(alice1, p2p)
	typing(alice1, p2p)
	bob.quiet("a second typing within the interval")
	alice2.quiet("the sender's other device")
	alice1.quiet("the sender")
	// A non-party's typing into a p2p conversation, a member's into a group
	// that does not exist: dropped, the connection kept.
	typing(carol, p2p)
	typing(carol, "g:nothing-here")
	bob.quiet("a non-member's typing")
	equal(t, carol.call(proto.TypePing, &proto.Ping{}).Type, proto.TypePong, "carol still connected")

	g := alice1.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
	alice2.push(proto.TypeConvUpdate)
	bob.push(proto.TypeConvUpdate)
	typing(bob, g.ID)
	equal(t, *typed(alice1), proto.Typing{ConvID: g.ID, User: "bob"}, "alice1 sees bob typing in the group")
	equal(t, *typed(alice2), proto.Typing{ConvID: g.ID, User: "bob"}, "alice2 too")
	typing(carol, g.ID)
	alice1.quiet("a non-member's typing into the group")

	// Never stored: nothing to sync or page through.
	page := bob.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, len(page.Messages), 0, "messages stored by typing")
	// A typing frame naming a user is refused as a bad request, like any
	// invalid request; it has no id, so nothing answers it and nothing passes.
	alice1.write(proto.Frame{Type: proto.TypeTyping, Body: &proto.Typing{ConvID: p2p, User: "carol"}})
	bob.quiet("a typing frame with a forged user")
}

func TestTypingThrottle(t *testing.T) {
	t.Parallel()
	var th rules.TypingThrottle
	now := time.Unix(1000, 0)
	equal(t, th.Allow("a", now), true, "first")
	equal(t, th.Allow("a", now.Add(rules.TypingInterval-1)), false, "within the interval")
	equal(t, th.Allow("b", now), true, "another conversation")
	equal(t, th.Allow("a", now.Add(rules.TypingInterval)), true, "after the interval")
	// A connection naming ever new conversations is bounded.
	for i := range rules.TypingTracked * 2 {
		th.Allow(string(rune('A'+i)), now.Add(rules.TypingInterval))
	}
	equal(t, th.Allow("new", now.Add(rules.TypingInterval)), false, "more than TypingTracked at once")
	equal(t, th.Allow("new", now.Add(3*rules.TypingInterval)), true, "the old ones expire")
}

func TestTypingRecipients(t *testing.T) {
	t.Parallel()
	p2p := proto.P2PID("alice", "bob")
	equal(t, rules.TypingRecipients("alice", p2p, nil), []string{"bob"}, "p2p")
	equal(t, rules.TypingRecipients("carol", p2p, []string{"carol"}), []string(nil), "p2p non-party, whatever the list says")
	equal(t, rules.TypingRecipients("bob", "g:x", []string{"alice", "bob", "carol"}), []string{"alice", "carol"}, "group")
	equal(t, rules.TypingRecipients("dave", "g:x", []string{"alice", "bob"}), []string(nil), "group non-member")
	equal(t, rules.TypingRecipients("dave", "g:x", nil), []string(nil), "no such group")
}
