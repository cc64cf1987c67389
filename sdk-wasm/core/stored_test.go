package core

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
)

// linkedInputs feeds each frame as one input and checks, in the actions
// of each, that every message event is linked (Action.Stored) to the
// Batch of the store write ahead of it, at the index of a message equal
// to the event's, and that every stored message is announced once. It
// returns the store writes, in order.
func linkedInputs(t *testing.T, h *harness, frames ...[]byte) []*Batch {
	t.Helper()
	var writes []*Batch
	for _, f := range frames {
		h.c.HandleFrame(h.now, h.c.Conn(), f)
		var b *Batch
		seen := map[int]bool{}
		for _, a := range h.c.Poll() {
			switch {
			case a.Kind == ActWrite:
				f, err := proto.Decode(a.Bytes, 0)
				if err != nil {
					t.Fatal(err)
				}
				h.writes = append(h.writes, f)
			case a.Kind == ActPersist:
				b = a.Batch
				writes = append(writes, b)
				if err := h.store.Apply(b); err != nil {
					t.Fatal(err)
				}
			case a.Kind == ActEvent && a.Event.Kind == EventMessage:
				m := a.Event.Message
				if a.Stored == nil || a.Stored != b {
					t.Fatalf("the event of message %d links to batch %p, want the store write ahead of it (%p)", m.Seq, a.Stored, b)
				}
				if a.StoredAt < 0 || a.StoredAt >= len(b.Messages) || !reflect.DeepEqual(b.Messages[a.StoredAt], *m) {
					t.Fatalf("the event of message %d links to index %d of a batch of %d, which is not that message", m.Seq, a.StoredAt, len(b.Messages))
				}
				if m == &b.Messages[a.StoredAt] {
					t.Fatalf("the event of message %d shares the batch's message instead of holding a copy", m.Seq)
				}
				if seen[a.StoredAt] {
					t.Fatalf("two events link to index %d", a.StoredAt)
				}
				seen[a.StoredAt] = true
			case a.Kind == ActEvent && a.Stored != nil:
				t.Fatalf("a %s event is linked to a stored message", a.Event.Kind)
			}
		}
		if b != nil && len(seen) != len(b.Messages) {
			t.Fatalf("%d of the %d stored messages were announced with a link", len(seen), len(b.Messages))
		}
	}
	return writes
}

// TestMessageEventsLinkToTheirStoreWrite: the event of a message a sync
// page or a push stores points at that message in the input's store write,
// so that a driver that encoded the write can reuse the encoding.
func TestMessageEventsLinkToTheirStoreWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 1, "bob")})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	// Seq 6 waits ahead of the gap 2..5, which two pages fill.
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 6, "bob")})
	fill := h.lastWrite(proto.TypeHistory)
	page := func(id uint64, seqs ...uint64) []byte {
		p := &proto.HistoryPage{ConvID: conv, LastSeq: 6}
		for _, s := range seqs {
			m := msg(conv, s, "bob")
			m.Text = "text of " + string(rune('a'+s))
			p.Messages = append(p.Messages, m)
		}
		return proto.MustEncode(proto.Frame{Type: proto.TypeHistoryPage, ID: id, Body: p})
	}
	writes := linkedInputs(t, h, page(fill.ID, 2, 3))
	next := h.lastWrite(proto.TypeHistory)
	if next.ID == fill.ID {
		t.Fatal("no request for the next page")
	}
	writes = append(writes, linkedInputs(t, h, page(next.ID, 4, 5),
		proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: msg(conv, 7, "bob")}}))...)
	if len(writes) != 3 {
		t.Fatalf("%d store writes, want 3", len(writes))
	}
	var seqs []uint64
	for _, b := range writes {
		for _, m := range b.Messages {
			seqs = append(seqs, m.Seq)
		}
	}
	if !reflect.DeepEqual(seqs, []uint64{2, 3, 4, 5, 6, 7}) {
		t.Fatalf("stored seqs %v", seqs)
	}
}

// TestLastMessageOfAnEarlierWriteStaysPut: the conversation's last
// message moves on with every message a page stores, without a copy per
// message; what an earlier store write or event holds of it does not move.
func TestLastMessageOfAnEarlierWriteStaysPut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	// The conversation has 9 messages this device has none of: the sync
	// fills them in pages.
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 1, "bob")})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1, Conversations: []proto.Conversation{{ID: conv, Kind: proto.KindP2P, LastSeq: 9, Version: 1}}})
	fill := h.lastWrite(proto.TypeHistory)
	page := func(id uint64, from, to uint64) *Batch {
		p := &proto.HistoryPage{ConvID: conv, LastSeq: 9}
		for s := from; s <= to; s++ {
			p.Messages = append(p.Messages, msg(conv, s, "bob"))
		}
		h.c.HandleFrame(h.now, h.c.Conn(), proto.MustEncode(proto.Frame{Type: proto.TypeHistoryPage, ID: id, Body: p}))
		var b *Batch
		for _, a := range h.c.Poll() {
			switch a.Kind {
			case ActPersist:
				b = a.Batch
			case ActWrite:
				f, err := proto.Decode(a.Bytes, 0)
				if err != nil {
					t.Fatal(err)
				}
				h.writes = append(h.writes, f)
			}
		}
		if b == nil || len(b.Conversation) != 1 || b.Conversation[0].LastMessage == nil {
			t.Fatalf("page %d..%d: no store write of the conversation", from, to)
		}
		return b
	}
	first := page(fill.ID, 2, 4)
	if got := first.Conversation[0].LastMessage.Seq; got != 4 {
		t.Fatalf("after the first page the last message is %d, want 4", got)
	}
	second := page(h.lastWrite(proto.TypeHistory).ID, 5, 7)
	if got := second.Conversation[0].LastMessage.Seq; got != 7 {
		t.Fatalf("after the second page the last message is %d, want 7", got)
	}
	if got := first.Conversation[0].LastMessage.Seq; got != 4 {
		t.Fatalf("the first page's store write now holds last message %d, want 4 as written", got)
	}
	cv, _ := h.c.Conversation(conv)
	if cv.LastMessage == nil || cv.LastMessage.Seq != 7 {
		t.Fatalf("the conversation's last message is %+v, want seq 7", cv.LastMessage)
	}
}
