package core_test

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// A group member added again reads the messages of their memberships only:
// the relay's pages name the runs in between (HistoryPage.Hidden). The core
// skips them as synced, remembers them, never fills them, and CacheMisses
// takes none of them for a hole. A run the relay claims beyond the last seq
// is not believed.
func TestHiddenRunsAreSkipped(t *testing.T) {
	t.Parallel()
	g := "g:skips"
	wire := func(seq uint64) proto.Message {
		return proto.Message{ConvID: g, Seq: seq, Sender: "alice", ClientID: "c" + string(rune('a'+seq)), MsgType: proto.MsgText, Text: "m", CreatedAt: int64(seq)}
	}
	s := newScripted(t, core.Config{})
	fill := s.one(s.connect("carol", proto.Conversation{ID: g, Kind: proto.KindGroup, LastSeq: 12, Version: 1, Role: proto.RoleMember, Members: []string{"alice", "carol"}}), proto.TypeHistory)
	// carol read 1..4, was out for 5..8, is back from 9; a page of 3
	// messages stops at 9.
	acts := s.frame(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: g, LastSeq: 12, More: true,
		Messages: []proto.Message{wire(3), wire(4), wire(9)}, Hidden: []proto.SeqRange{{From: 1, To: 2}, {From: 5, To: 8}}})
	cv, _ := s.c.Conversation(g)
	if cv.SyncedSeq != 9 || !reflect.DeepEqual(cv.Skipped, []core.SeqRange{{From: 1, To: 2}, {From: 5, To: 8}}) {
		t.Fatalf("after the first page: synced %d, skipped %v", cv.SyncedSeq, cv.Skipped)
	}
	var seqs []uint64
	for _, m := range persistedMessages(acts) {
		seqs = append(seqs, m.Seq)
	}
	if !reflect.DeepEqual(seqs, []uint64{3, 4, 9}) {
		t.Fatalf("stored %v, want [3 4 9]", seqs)
	}
	// The fill goes on after 9; a run past the last seq is ignored.
	next := s.one(acts, proto.TypeHistory)
	if q := next.Body.(*proto.History); q.After != 9 {
		t.Fatalf("next fill after %d, want 9", q.After)
	}
	s.frame(proto.TypeHistoryPage, next.ID, &proto.HistoryPage{ConvID: g, LastSeq: 12,
		Messages: []proto.Message{wire(10)}, Hidden: []proto.SeqRange{{From: 11, To: 99}}})
	cv, _ = s.c.Conversation(g)
	if cv.SyncedSeq != 10 || len(cv.Skipped) != 2 {
		t.Fatalf("a run past the last seq moved the prefix: synced %d, skipped %v", cv.SyncedSeq, cv.Skipped)
	}
	cached := []core.Message{{ConvID: g, Seq: 3}, {ConvID: g, Seq: 4}, {ConvID: g, Seq: 9}, {ConvID: g, Seq: 10}}
	if miss := s.c.CacheMisses(g, 0, 10, cached); len(miss) != 0 {
		t.Fatalf("CacheMisses took skipped seqs for holes: %v", miss)
	}
	if miss := s.c.CacheMisses(g, 0, 10, cached[1:]); !reflect.DeepEqual(miss, []uint64{3}) {
		t.Fatalf("CacheMisses = %v, want the one real hole [3]", miss)
	}
}
