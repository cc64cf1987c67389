package core

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
)

// amend applies a batch's lifecycle events to the stored targets, as the
// client's loop does before a store applies the batch.
func (s *testStore) amend(b *Batch) {
	for i := range b.Amend {
		ev := &b.Amend[i]
		t, ok := s.messages[ev.ConvID][ev.Target]
		if !ok {
			continue
		}
		t.Apply(ev, "alice")
		s.messages[ev.ConvID][ev.Target] = t
	}
}

func event(conv string, seq uint64, sender, op string, target uint64, text string) proto.Message {
	return proto.Message{ConvID: conv, Seq: seq, Sender: sender, ClientID: "ev" + string(rune('a'+seq%26)), MsgType: op,
		Text: text, CreatedAt: int64(1000 + seq), Target: target}
}

// TestLifecycleEventsChangeTheirTargets: recall, edit and reactions pushed
// by the relay change the stored target, leave an edit's text nowhere in
// the cache after a recall, never show as messages, and keep the
// conversation's last message the last real one, changed too.
func TestLifecycleEventsChangeTheirTargets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	ab := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "bob")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 2, "bob")})
	h.events = nil
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 3, "alice", proto.MsgReact, 1, "👍")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 4, "bob", proto.MsgReact, 1, "👍")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 5, "bob", proto.MsgEdit, 2, "edited")})
	for _, e := range h.events {
		if e.Kind == EventMessage {
			t.Fatalf("a lifecycle event shown as a message: %+v", e.Message)
		}
	}
	st := h.store.messages[ab]
	equal(t, st[1].Reactions, []Reaction{{Emoji: "👍", Users: []string{"alice", "bob"}}}, "reactions")
	equal(t, [2]any{st[2].Text, st[2].EditedAt}, [2]any{"edited", int64(1005)}, "edited")
	equal(t, st[5].Text, "", "the cached edit event keeps no text")
	cv, _ := h.c.Conversation(ab)
	equal(t, [3]any{cv.LastSeq, cv.SyncedSeq, cv.LastMessage.Seq}, [3]any{uint64(5), uint64(5), uint64(2)}, "last seq, synced, last message")
	equal(t, cv.LastMessage.Text, "edited", "the last message as edited")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 6, "bob", proto.MsgRecall, 2, "")})
	st = h.store.messages[ab]
	if !st[2].Recalled || st[2].Text != "" {
		t.Fatalf("recalled target: %+v", st[2])
	}
	cv, _ = h.c.Conversation(ab)
	equal(t, [2]any{cv.LastMessage.Recalled, cv.LastMessage.Text}, [2]any{true, ""}, "the last message recalled")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 7, "bob", proto.MsgUnreact, 1, "👍")})
	equal(t, h.store.messages[ab][1].Reactions, []Reaction{{Emoji: "👍", Users: []string{"alice"}}}, "after unreact")
	// hide: only this user's hides hide
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 8, "bob", proto.MsgHide, 1, "")})
	equal(t, h.store.messages[ab][1].Hidden, false, "bob's hide")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 9, "alice", proto.MsgHide, 1, "")})
	equal(t, h.store.messages[ab][1].Hidden, true, "alice's hide")
}

// TestOthersEventsAreNotUnread: another member's reaction, edit or recall
// takes a seq of the log but is no message to read: the unread count and
// the total stay at the messages, before and after a markRead.
func TestOthersEventsAreNotUnread(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	ab := proto.P2PID("alice", "bob")
	unread := func(want uint64, what string) {
		t.Helper()
		cv, _ := h.c.Conversation(ab)
		equal(t, [2]uint64{cv.Unread, h.c.TotalUnread()}, [2]uint64{want, want}, what)
	}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "bob")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 2, "bob")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 3, "bob", proto.MsgReact, 1, "👍")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 4, "bob", proto.MsgEdit, 2, "edited")})
	unread(2, "two messages, a reaction and an edit")
	if _, err := h.c.MarkRead(h.now, ab, 0); err != nil {
		t.Fatal(err)
	}
	h.poll()
	unread(0, "after markRead")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 5, "bob", proto.MsgRecall, 2, "")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, 6, "bob", proto.MsgUnreact, 1, "👍")})
	unread(0, "a recall and an unreact after reading")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 7, "bob")})
	unread(1, "a new message")
	cv, _ := h.c.Conversation(ab)
	equal(t, cv.EventSeqs, []uint64{5, 6}, "the events after the read cursor")
	if _, err := h.c.MarkRead(h.now, ab, 0); err != nil {
		t.Fatal(err)
	}
	h.poll()
	unread(0, "after the second markRead")
	cv, _ = h.c.Conversation(ab)
	equal(t, cv.EventSeqs, []uint64(nil), "none kept at or before the read cursor")
}

// TestEventSeqsBounded: a conversation left unread while others react
// keeps at most maxEventSeqs event seqs; the older events count as unread.
func TestEventSeqsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	ab := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "bob")})
	const n = maxEventSeqs + 10
	for i := range n {
		h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(ab, uint64(2+i), "bob", proto.MsgReact, 1, "👍")})
	}
	cv, _ := h.c.Conversation(ab)
	equal(t, len(cv.EventSeqs), maxEventSeqs, "event seqs kept")
	equal(t, cv.EventSeqs[0], uint64(2+n-maxEventSeqs), "the oldest kept")
	equal(t, cv.Unread, uint64(1+n-maxEventSeqs), "the message and the events beyond the bound")
}

// TestLifecycleEventsFromAFill: a device offline while a message was
// edited and recalled gets the events with the gap fill and ends with the
// final state.
func TestLifecycleEventsFromAFill(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	g := "g:team"
	first := msg(g, 1, "bob")
	first.Mentions = []string{"alice"}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: first})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(g, 2, "bob")})
	cv, _ := h.c.Conversation(g)
	equal(t, cv.Mentioned, true, "mentioned")
	// The new group's sync (which the first deliver started) comes back
	// saying seq 6 exists: the core fills 3..6.
	sync := h.lastWrite(proto.TypeSync)
	h.takeWrites()
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 9, Conversations: []proto.Conversation{
		{ID: g, Kind: proto.KindGroup, LastSeq: 6, Version: 9, LastMessage: &proto.Message{ConvID: g, Seq: 6, Sender: "bob", MsgType: proto.MsgRecall, Target: 1}}}})
	fill := h.lastWrite(proto.TypeHistory)
	h.relay(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: g, LastSeq: 6, Messages: []proto.Message{
		event(g, 3, "bob", proto.MsgEdit, 2, "v2"),
		event(g, 4, "carol", proto.MsgReact, 2, "🎉"),
		event(g, 5, "bob", proto.MsgEdit, 2, "v3"),
		event(g, 6, "bob", proto.MsgRecall, 1, ""),
	}})
	st := h.store.messages[g]
	equal(t, [3]any{st[2].Text, st[2].EditedAt, st[2].Reactions}, [3]any{"v3", int64(1005), []Reaction{{Emoji: "🎉", Users: []string{"carol"}}}}, "final state of 2")
	if !st[1].Recalled || st[1].Text != "" || st[1].Mentions != nil {
		t.Fatalf("recalled 1: %+v", st[1])
	}
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, false, "a recalled mention is no mention")
	equal(t, cv.LastMessage.Text, "v3", "last message")
}

// TestMentionedAfterARecalledMention: recalling the newest of two unread
// mentions leaves the conversation mentioned by the older one; recalling
// that one too, or reading past it, clears it.
func TestMentionedAfterARecalledMention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	g := "g:team"
	for seq := uint64(1); seq <= 3; seq++ {
		m := msg(g, seq, "bob")
		if seq != 2 {
			m.Mentions = []string{"alice"}
		}
		h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: m})
	}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(g, 4, "bob", proto.MsgRecall, 3, "")})
	cv, _ := h.c.Conversation(g)
	equal(t, [2]any{cv.Mentioned, cv.MentionSeq}, [2]any{true, uint64(1)}, "the older mention is still unread")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(g, 5, "carol", proto.MsgDelete, 1, "")})
	cv, _ = h.c.Conversation(g)
	equal(t, [2]any{cv.Mentioned, cv.MentionSeq}, [2]any{false, uint64(0)}, "both mentions gone")

	for seq := uint64(6); seq <= 7; seq++ {
		m := msg(g, seq, "bob")
		m.Mentions = []string{proto.MentionAll}
		h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: m})
	}
	if _, err := h.c.MarkRead(h.now, g, 6); err != nil {
		t.Fatal(err)
	}
	h.poll()
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, true, "7 is unread")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: event(g, 8, "bob", proto.MsgRecall, 7, "")})
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, false, "the mention left unread is recalled; the one read does not come back")
	equal(t, len(cv.MentionSeqs), 0, "no seqs kept")
}

// TestMentionedAndPeerRead: a mention of this user (or of everyone) by
// another marks the conversation until it is read; a one-to-one peer's
// read cursor comes from the relay and from the peer's own messages.
func TestMentionedAndPeerRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	g, ab := "g:team", proto.P2PID("alice", "bob")
	own := msg(g, 1, "alice")
	own.Mentions = []string{"alice"}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: own})
	cv, _ := h.c.Conversation(g)
	equal(t, cv.Mentioned, false, "own mention")
	other := msg(g, 2, "bob")
	other.Mentions = []string{"carol"}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: other})
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, false, "someone else's mention")
	all := msg(g, 3, "bob")
	all.Mentions = []string{proto.MentionAll}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: all})
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, true, "@all")
	if _, err := h.c.MarkRead(h.now, g, 3); err != nil {
		t.Fatal(err)
	}
	h.poll()
	cv, _ = h.c.Conversation(g)
	equal(t, cv.Mentioned, false, "read")

	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "alice")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 2, "alice")})
	cv, _ = h.c.Conversation(ab)
	equal(t, cv.PeerReadSeq, uint64(0), "peer read nothing")
	h.relay(proto.TypeConvUpdate, 0, &proto.ConvUpdate{Conversation: proto.Conversation{ID: ab, Kind: proto.KindP2P, LastSeq: 2, PeerReadSeq: 1, Version: 20}})
	cv, _ = h.c.Conversation(ab)
	equal(t, [2]uint64{cv.PeerReadSeq, cv.ReadSeq}, [2]uint64{1, 2}, "peer read 1; my cursor untouched")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 3, "bob")})
	cv, _ = h.c.Conversation(ab)
	equal(t, cv.PeerReadSeq, uint64(3), "bob read what he sent")
}

// TestAmendsQueueInTheOutbox: amends issued offline wait in the outbox
// with the sends, show on their targets at once, survive a restart, go
// out in order with the sends after reconnecting, are written again with
// the same client ids after a cut (the relay's idempotency key), are
// applied once on their acks, and a refused one is undone by fetching its
// target again.
func TestAmendsQueueInTheOutbox(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	ab := proto.P2PID("alice", "bob")
	h.connect("e1")
	if _, err := h.c.Amend(h.now, "local:abc", proto.MsgRecall, ""); code(err) != proto.CodeBadMessageID {
		t.Fatalf("a pending message's id: %v", err)
	}
	if _, err := h.c.Amend(h.now, ab+"#1", proto.MsgReact, ""); code(err) != proto.CodeInvalidArgument {
		t.Fatalf("a reaction without emoji: %v", err)
	}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "alice")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 2, "bob")})
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
	h.poll()
	h.takeWrites()

	// offline: a send and three amends, in this order
	if _, _, err := h.c.Send(h.now, ab, proto.MsgText, "s1", nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range [][3]string{{"#1", proto.MsgEdit, "fixed"}, {"#2", proto.MsgReact, "👍"}, {"#1", proto.MsgRecall, ""}} {
		if _, err := h.c.Amend(h.now, ab+a[0], a[1], a[2]); err != nil {
			t.Fatalf("offline %s: %v", a[1], err)
		}
	}
	h.poll()
	equal(t, len(h.writes), 0, "nothing written offline")
	equal(t, len(h.store.outbox), 4, "the send and the amends persisted in the outbox")
	equal(t, len(h.c.Pending(ab)), 1, "only the send is a pending message")
	st := h.store.messages[ab]
	equal(t, [2]any{st[1].Recalled, st[1].Text}, [2]any{true, ""}, "the recall shows at once")
	equal(t, st[2].Reactions, []Reaction{{Emoji: "👍", Users: []string{"alice"}}}, "the reaction shows at once")

	// a restart over the same storage, then a connection
	snap := Snapshot{Meta: h.c.meta}
	if cv, ok := h.c.Conversation(ab); ok {
		snap.Conversations = []Conversation{cv}
	}
	for _, e := range h.store.outbox {
		snap.Outbox = append(snap.Outbox, e)
	}
	h2 := newHarness(t, snap)
	h2.store = h.store
	h2.connect("e1")
	write := func() ([]string, []string) {
		var kinds, ids []string
		for _, w := range h2.takeWrites() {
			switch b := w.Body.(type) {
			case *proto.Send:
				kinds, ids = append(kinds, "send"), append(ids, b.ClientID)
			case *proto.Amend:
				kinds, ids = append(kinds, b.Op), append(ids, b.ClientID)
			}
		}
		return kinds, ids
	}
	kinds, ids := write()
	equal(t, kinds, []string{"send", proto.MsgEdit, proto.MsgReact, proto.MsgRecall}, "written in order after the restart")
	// cut before any ack: the same frames, same client ids, go again
	h2.c.HandleClosed(h2.now, h2.c.Conn(), 1006, "")
	h2.poll()
	h2.takeWrites()
	h2.connect("e1")
	var frames []proto.Frame
	for _, w := range h2.writes {
		if w.Type == proto.TypeSend || w.Type == proto.TypeAmend {
			frames = append(frames, w)
		}
	}
	kinds2, ids2 := write()
	equal(t, [2][]string{kinds2, ids2}, [2][]string{kinds, ids}, "rewritten with the same client ids")
	for i, f := range frames {
		h2.relay(proto.TypeAck, f.ID, &proto.Ack{ConvID: ab, ClientID: ids[i], Seq: uint64(3 + i), CreatedAt: 5000, Duplicate: i == 2})
	}
	st = h2.store.messages[ab]
	equal(t, [2]any{st[1].Recalled, st[1].Text}, [2]any{true, ""}, "recalled")
	equal(t, st[2].Reactions, []Reaction{{Emoji: "👍", Users: []string{"alice"}}}, "reacted once")
	equal(t, len(h2.store.outbox), 0, "the outbox is empty")
	cv, _ := h2.c.Conversation(ab)
	equal(t, cv.SyncedSeq, uint64(6), "every event placed")

	// a refused amend is undone: the target comes again from the relay
	op, _ := h2.c.Amend(h2.now, ab+"#2", proto.MsgEdit, "hijacked")
	h2.poll()
	equal(t, h2.store.messages[ab][2].Text, "hijacked", "optimistic")
	w := h2.lastWrite(proto.TypeAmend)
	h2.takeWrites()
	h2.relay(proto.TypeError, w.ID, &proto.ErrorBody{Code: proto.CodeNotSender, Message: "not yours"})
	if r := h2.done[op]; code(r.Result.Err) != proto.CodeNotSender {
		t.Fatalf("refused amend: %+v", r.Result)
	}
	equal(t, len(h2.store.outbox), 0, "a refused amend leaves the outbox")
	hw := h2.lastWrite(proto.TypeHistory)
	orig := msg(ab, 2, "bob")
	orig.Reactions = []proto.Reaction{{Emoji: "👍", Users: []string{"alice"}}}
	h2.events = nil
	h2.relay(proto.TypeHistoryPage, hw.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 6, Messages: []proto.Message{orig}})
	equal(t, [2]any{h2.store.messages[ab][2].Text, h2.store.messages[ab][2].Reactions}, [2]any{"m", []Reaction{{Emoji: "👍", Users: []string{"alice"}}}}, "undone")
	// The application saw the optimistic edit: it is told of the undo.
	var restored []string
	for _, e := range h2.events {
		if e.Kind == EventMessageUpdate && e.Message.Seq == 2 {
			restored = append(restored, e.Message.Text)
		}
	}
	equal(t, restored, []string{"m"}, "messageUpdate with the relay's copy")
	h = h2

	// receipts
	op, err := h.c.ReadReceipts(h.now, "g:team", 4)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	w = h.lastWrite(proto.TypeReceipts)
	h.relay(proto.TypeReceiptList, w.ID, &proto.ReceiptList{ConvID: "g:team", Seq: 4, Read: []string{"bob"}, Unread: []string{"carol"}})
	if r := h.done[op]; r.Result.Receipts == nil || !reflect.DeepEqual(*r.Result.Receipts, Receipts{Read: []string{"bob"}, Unread: []string{"carol"}}) {
		t.Fatalf("receipts %+v", r.Result)
	}
}

// TestSendReplyAndMentions: a reply must name a sent message of the same
// conversation; the send frame carries its seq and the mentions.
func TestSendReplyAndMentions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	g := "g:team"
	if _, _, err := h.c.SendWith(h.now, "", g, proto.MsgText, "hi", nil, SendOptions{ReplyTo: "g:other#3"}); code(err) != proto.CodeBadMessageID {
		t.Fatalf("reply to another conversation: %v", err)
	}
	if _, _, err := h.c.SendWith(h.now, "", g, proto.MsgText, "hi", nil, SendOptions{Mentions: []string{"b b"}}); code(err) != proto.CodeInvalidArgument {
		t.Fatalf("bad mention: %v", err)
	}
	_, m, err := h.c.SendWith(h.now, "", g, proto.MsgText, "hi", nil, SendOptions{ReplyTo: g + "#3", Mentions: []string{"bob", proto.MentionAll}})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, [2]any{m.ReplyTo, m.Mentions}, [2]any{g + "#3", []string{"bob", proto.MentionAll}}, "pending message")
	h.poll()
	s := h.lastWrite(proto.TypeSend).Body.(*proto.Send)
	equal(t, [2]any{s.ReplyTo, s.Mentions}, [2]any{uint64(3), []string{"bob", proto.MentionAll}}, "send frame")
}

func code(err error) proto.Code {
	if pe, ok := err.(*proto.Error); ok {
		return pe.Code
	}
	return 0
}

func equal[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// TestHideMessageIsAFeedEntry: delete for me goes to the relay as a
// HideMessage, never as an amend; its entry — in the reply, pushed from
// another device, or synced — hides the stored message, a message that
// arrives after its entry, the message in a fetched history page and the
// conversation's last message, and the ids persist with the account.
func TestHideMessageIsAFeedEntry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	ab := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "bob")})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 2, "bob")})
	h.takeWrites()
	op, err := h.c.Amend(h.now, ab+"#1", proto.MsgHide, "")
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	for _, w := range h.writes {
		if w.Type == proto.TypeAmend {
			t.Fatalf("delete for me written as an amend: %+v", w.Body)
		}
	}
	w := h.lastWrite(proto.TypeHideMessage)
	equal(t, *w.Body.(*proto.HideMessage), proto.HideMessage{ConvID: ab, Seq: 1}, "hide-message frame")
	equal(t, h.store.messages[ab][1].Hidden, true, "hidden at once, before the relay keeps it")
	h.relay(proto.TypeUserState, w.ID, &proto.UserState{Entries: []proto.UserEntry{{Pos: 7, Hidden: &proto.HideMessage{ConvID: ab, Seq: 1}}}})
	if r, ok := h.done[op]; !ok || r.Result.Err != nil {
		t.Fatalf("hide result %+v", r)
	}
	equal(t, h.store.messages[ab][1].Hidden, true, "hidden on the relay's answer")
	equal(t, h.store.messages[ab][2].Hidden, false, "the other message")

	// pushed from another device: the last message, and one not here yet
	h.relay(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 8, Hidden: &proto.HideMessage{ConvID: ab, Seq: 2}}})
	equal(t, h.store.messages[ab][2].Hidden, true, "hidden by a push")
	cv, _ := h.c.Conversation(ab)
	equal(t, cv.LastMessage.Hidden, true, "the last message")
	h.relay(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 9, Hidden: &proto.HideMessage{ConvID: ab, Seq: 3}}})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 3, "bob")})
	equal(t, h.store.messages[ab][3].Hidden, true, "a message arriving after its entry")
	h.takeWrites()
	op, _ = h.c.FetchHistory(h.now, ab, 4, 10)
	h.poll()
	hw := h.lastWrite(proto.TypeHistory)
	h.relay(proto.TypeHistoryPage, hw.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 3, Messages: []proto.Message{msg(ab, 1, "bob"), msg(ab, 2, "bob"), msg(ab, 3, "bob")}})
	for _, m := range h.done[op].Result.Messages {
		equal(t, m.Hidden, true, "fetched history")
	}
	// the ids persist with the account, and a new core over it knows them
	meta := &h.c.meta
	equal(t, meta.Account.Hidden, []string{ab + "#1", ab + "#2", ab + "#3"}, "account's hidden ids")
	h2 := newHarness(t, Snapshot{Meta: *meta})
	m := fromWire(&proto.Message{ConvID: ab, Seq: 2, Sender: "bob", MsgType: proto.MsgText})
	h2.c.markHidden(&m)
	equal(t, m.Hidden, true, "hidden after a restart")
}
