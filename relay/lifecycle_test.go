//go:build !js

package relay

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// TestLifecycleSession drives amends and receipts through a relay: the
// event is acked with its seq and delivered to every member's other
// sessions, a refusal carries its code and is delivered to nobody, a
// window of the relay's option applies, and a p2p read reaches the peer as
// its peerReadSeq.
func TestLifecycleSession(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.RecallWindow = time.Hour })
	alice, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	p2p := proto.P2PID("alice", "bob")

	alice.ack(p2p, "m1", "hello")
	equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Text, "hello", "bob gets the message")
	alice2.push(proto.TypeDeliver)

	amend := func(c *client, b *proto.Amend) proto.Frame {
		t.Helper()
		return c.call(proto.TypeAmend, b)
	}
	// bob reacts; alice's two devices and bob's see the event
	f := amend(bob, &proto.Amend{ConvID: p2p, ClientID: "r1", Op: proto.MsgReact, Target: 1, Text: "👍"})
	equal(t, f.Type, proto.TypeAck, "react acked")
	equal(t, f.Body.(*proto.Ack).Seq, uint64(2), "react's seq")
	for _, c := range []*client{alice, alice2} {
		ev := c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message
		equal(t, [4]any{ev.MsgType, ev.Target, ev.Text, ev.Sender}, [4]any{proto.MsgReact, uint64(1), "👍", "bob"}, "react event")
	}
	// bob may not edit or recall alice's message: refused, nothing delivered
	equal(t, errCode(t, amend(bob, &proto.Amend{ConvID: p2p, ClientID: "e1", Op: proto.MsgEdit, Target: 1, Text: "x"})), proto.CodeNotSender, "bob edits alice's")
	equal(t, errCode(t, amend(bob, &proto.Amend{ConvID: p2p, ClientID: "e2", Op: proto.MsgRecall, Target: 1})), proto.CodeNotSender, "bob recalls alice's")
	equal(t, errCode(t, amend(bob, &proto.Amend{ConvID: p2p, ClientID: "e3", Op: proto.MsgReact, Target: 7, Text: "👍"})), proto.CodeNoSuchMessage, "a message that is not there")
	equal(t, errCode(t, amend(bob, &proto.Amend{ConvID: p2p, ClientID: "e4", Op: "pin", Target: 1})), proto.CodeBadRequest, "an unknown op")
	alice.quiet("refused amends are delivered to nobody")
	// a client cannot forge an event through send
	equal(t, errCode(t, alice.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "f1", MsgType: proto.MsgRecall})), proto.CodeBadRequest, "an event sent as a message")

	// alice edits and recalls within the relay's hour
	equal(t, amend(alice, &proto.Amend{ConvID: p2p, ClientID: "e5", Op: proto.MsgEdit, Target: 1, Text: "hello!"}).Type, proto.TypeAck, "edit")
	equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Text, "hello!", "bob sees the edit")
	equal(t, amend(alice, &proto.Amend{ConvID: p2p, ClientID: "e6", Op: proto.MsgRecall, Target: 1}).Type, proto.TypeAck, "recall")
	equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.MsgType, proto.MsgRecall, "bob sees the recall")
	page := bob.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, len(page.Messages), 4, "messages and events")
	m := page.Messages[0]
	equal(t, [3]any{m.Recalled, m.Text, len(m.Reactions)}, [3]any{true, "", 0}, "the recalled message, as history has it")
	equal(t, page.Messages[2].Text, "", "the recalled message's edit lost its text")

	// replies and mentions
	f = bob.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "b1", MsgType: proto.MsgText, Text: "@alice?", ReplyTo: 1, Mentions: []string{"alice"}})
	equal(t, f.Type, proto.TypeAck, "reply")
	d := alice.push(proto.TypeDeliver).Body.(*proto.Deliver).Message
	equal(t, [2]any{d.ReplyTo, d.Mentions}, [2]any{uint64(1), []string{"alice"}}, "reply and mention delivered")
	equal(t, errCode(t, bob.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "b2", MsgType: proto.MsgText, Text: "?", ReplyTo: 99})), proto.CodeNoSuchMessage, "reply to nothing")

	// read: the reader's other sessions get their view, the peer its peerReadSeq
	alice2.await("alice2's deliveries", func(f proto.Frame) bool {
		return f.Type == proto.TypeDeliver && f.Body.(*proto.Deliver).Message.Seq == 5
	})
	alice.ack(p2p, "m2", "yes?")
	equal(t, bob.call(proto.TypeRead, &proto.Read{ConvID: p2p, Seq: 6}).Type, proto.TypeOK, "bob reads")
	for _, c := range []*client{alice, alice2} {
		cv := c.await("peer read", func(f proto.Frame) bool {
			return f.Type == proto.TypeConvUpdate && f.Body.(*proto.ConvUpdate).Conversation.PeerReadSeq == 6
		}).Body.(*proto.ConvUpdate).Conversation
		equal(t, cv.ReadSeq, uint64(0), "the peer's update carries no read cursor of alice's")
	}

	// receipts in a group
	g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob", "carol"}}).Body.(*proto.ConvResult).Conversation
	alice.ack(g.ID, "g1", "hi all")
	equal(t, bob.call(proto.TypeRead, &proto.Read{ConvID: g.ID, Seq: 1}).Type, proto.TypeOK, "bob reads the group")
	rl := alice.call(proto.TypeReceipts, &proto.Receipts{ConvID: g.ID, Seq: 1}).Body.(*proto.ReceiptList)
	equal(t, [2][]string{rl.Read, rl.Unread}, [2][]string{{"bob"}, {"carol"}}, "receipts")
	carol, _ := login(t, r, "carol", "d")
	_ = carol
	dave, _ := login(t, r, "dave", "d")
	equal(t, errCode(t, dave.call(proto.TypeReceipts, &proto.Receipts{ConvID: g.ID, Seq: 1})), proto.CodeForbidden, "a stranger's receipts")
}

// TestRecallWindowOption: with the default window a sender's recall after
// it is refused (4231) and the message stays.
func TestRecallWindowOption(t *testing.T) {
	t.Parallel()
	o, err := Options{Secret: testSecret, Store: NewMemoryStore()}.withDefaults()
	ok(t, err)
	equal(t, o.RecallWindow, 2*time.Minute, "default recall window")
	r := startRelay(t, func(o *Options) { o.RecallWindow = -1 })
	alice, _ := login(t, r, "alice", "one")
	p2p := proto.P2PID("alice", "bob")
	alice.ack(p2p, "m1", "hello")
	time.Sleep(2 * time.Millisecond)
	equal(t, errCode(t, alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r", Op: proto.MsgRecall, Target: 1})), proto.CodeRecallWindow, "recall with no window")
	page := alice.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, [2]any{len(page.Messages), page.Messages[0].Text}, [2]any{1, "hello"}, "the message stays")
}

// TestHideMessageSession: delete for me is an entry of the user's feed.
// The caller's reply and other sessions carry it, a device that was away
// finds it by UserSync, and the other member receives nothing and sees no
// change in the history. An amend "hide" and a stranger are refused.
func TestHideMessageSession(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	p2p := proto.P2PID("alice", "bob")
	bob.ack(p2p, "m1", "hello")
	alice.push(proto.TypeDeliver)
	alice2.push(proto.TypeDeliver)
	before := bob.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)

	want := proto.HideMessage{ConvID: p2p, Seq: 1}
	f := alice.call(proto.TypeHideMessage, &proto.HideMessage{ConvID: p2p, Seq: 1})
	equal(t, f.Type, proto.TypeUserState, "hide answered with the user's state")
	st := f.Body.(*proto.UserState)
	equal(t, len(st.Entries) == 1 && st.Entries[0].Hidden != nil && *st.Entries[0].Hidden == want, true, "the hidden entry")
	u := alice2.push(proto.TypeUserUpdate).Body.(*proto.UserUpdate)
	equal(t, u.Entry.Hidden != nil && *u.Entry.Hidden == want, true, "alice's other device is told")
	bob.quiet("bob learns nothing of alice's delete for me")
	after := bob.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, after, before, "bob's history")
	bs := bob.call(proto.TypeUserSync, &proto.UserSync{}).Body.(*proto.UserState)
	equal(t, len(bs.Entries), 0, "bob's feed")

	// again: nothing changes, nothing is pushed
	equal(t, len(alice.call(proto.TypeHideMessage, &proto.HideMessage{ConvID: p2p, Seq: 1}).Body.(*proto.UserState).Entries), 0, "hidden twice")
	alice2.quiet("a second hide is no change")

	// a device away at the time finds it by its feed sync
	alice3, _ := login(t, r, "alice", "three")
	as := alice3.call(proto.TypeUserSync, &proto.UserSync{}).Body.(*proto.UserState)
	equal(t, len(as.Entries) == 1 && *as.Entries[0].Hidden == want, true, "alice's third device syncs the hide")

	equal(t, errCode(t, alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "h1", Op: proto.MsgHide, Target: 1})), proto.CodeBadRequest, "hide as an amend")
	dave, _ := login(t, r, "dave", "d")
	equal(t, errCode(t, dave.call(proto.TypeHideMessage, &proto.HideMessage{ConvID: p2p, Seq: 1})), proto.CodeForbidden, "a stranger's hide")
	g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
	equal(t, errCode(t, dave.call(proto.TypeHideMessage, &proto.HideMessage{ConvID: g.ID, Seq: 1})), proto.CodeForbidden, "a non-member's hide in a group")
}

// TestRedactHide: a hide event an older relay stored in the log reaches its
// sender as it is and everyone else without who hid what.
func TestRedactHide(t *testing.T) {
	t.Parallel()
	ev := &proto.Message{ConvID: "g:x", Seq: 5, Sender: "alice", ClientID: "c", Device: "d", MsgType: proto.MsgHide, Target: 2, CreatedAt: 9}
	equal(t, redactHide("alice", ev), ev, "the sender's own")
	equal(t, *redactHide("bob", ev), proto.Message{ConvID: "g:x", Seq: 5, MsgType: proto.MsgHide, CreatedAt: 9}, "another member's view")
	m := &proto.Message{ConvID: "g:x", Seq: 2, Sender: "alice", MsgType: proto.MsgText, Text: "hi"}
	equal(t, redactHide("bob", m), m, "a message")
}
