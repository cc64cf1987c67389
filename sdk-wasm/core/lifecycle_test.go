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

// TestAmendRequestAndAck: an amend needs a connection and a sent message's
// id; on its ack the event is placed here (the relay delivers it to the
// other sessions only), and a refusal settles the operation with the code.
func TestAmendRequestAndAck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	ab := proto.P2PID("alice", "bob")
	if _, err := h.c.Amend(h.now, ab+"#1", proto.MsgRecall, ""); code(err) != proto.CodeNotConnected {
		t.Fatalf("offline amend: %v", err)
	}
	h.connect("e1")
	if _, err := h.c.Amend(h.now, "local:abc", proto.MsgRecall, ""); code(err) != proto.CodeBadMessageID {
		t.Fatalf("a pending message's id: %v", err)
	}
	if _, err := h.c.Amend(h.now, ab+"#1", proto.MsgReact, ""); code(err) != proto.CodeInvalidArgument {
		t.Fatalf("a reaction without emoji: %v", err)
	}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(ab, 1, "alice")})
	h.takeWrites()
	op, err := h.c.Amend(h.now, ab+"#1", proto.MsgEdit, "fixed")
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	w := h.lastWrite(proto.TypeAmend)
	a := w.Body.(*proto.Amend)
	equal(t, [4]any{a.ConvID, a.Op, a.Target, a.Text}, [4]any{ab, proto.MsgEdit, uint64(1), "fixed"}, "amend frame")
	h.relay(proto.TypeAck, w.ID, &proto.Ack{ConvID: ab, ClientID: a.ClientID, Seq: 2, CreatedAt: 5000})
	if r, ok := h.done[op]; !ok || r.Result.Err != nil || r.Result.Message.Seq != 2 {
		t.Fatalf("amend result %+v", r)
	}
	st := h.store.messages[ab]
	equal(t, [2]any{st[1].Text, st[1].EditedAt}, [2]any{"fixed", int64(5000)}, "own edit applied on ack")
	cv, _ := h.c.Conversation(ab)
	equal(t, [2]uint64{cv.SyncedSeq, cv.ReadSeq}, [2]uint64{2, 2}, "the event is placed and read")

	op, _ = h.c.Amend(h.now, ab+"#1", proto.MsgRecall, "")
	h.poll()
	w = h.lastWrite(proto.TypeAmend)
	h.relay(proto.TypeError, w.ID, &proto.ErrorBody{Code: proto.CodeRecallWindow, Message: "late"})
	if r := h.done[op]; code(r.Result.Err) != proto.CodeRecallWindow {
		t.Fatalf("refused amend: %+v", r.Result)
	}
	equal(t, h.store.messages[ab][1].Recalled, false, "nothing changed")

	// receipts
	op, err = h.c.ReadReceipts(h.now, "g:team", 4)
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
	equal(t, h.store.messages[ab][1].Hidden, false, "not hidden before the relay keeps it")
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
