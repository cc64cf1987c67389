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

// ReadableBefore says whether seqs below a point may hold messages this
// user can read: none below the first seq no skipped run covers, and any
// seq the cache has not synced past (its runs are not known yet).
func TestReadableBeforeLeavesOutSkippedRuns(t *testing.T) {
	t.Parallel()
	g := "g:floor"
	s := newScripted(t, core.Config{})
	fill := s.one(s.connect("carol", proto.Conversation{ID: g, Kind: proto.KindGroup, LastSeq: 12, Version: 1, Role: proto.RoleMember, Members: []string{"alice", "carol"}}), proto.TypeHistory)
	// carol joined at 4, was out for 6..8; the page stops at 9.
	s.frame(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: g, LastSeq: 12, More: true,
		Messages: []proto.Message{
			{ConvID: g, Seq: 4, Sender: "alice", ClientID: "c4", MsgType: proto.MsgText, Text: "m", CreatedAt: 4},
			{ConvID: g, Seq: 5, Sender: "alice", ClientID: "c5", MsgType: proto.MsgText, Text: "m", CreatedAt: 5},
			{ConvID: g, Seq: 9, Sender: "alice", ClientID: "c9", MsgType: proto.MsgText, Text: "m", CreatedAt: 9},
		},
		Hidden: []proto.SeqRange{{From: 1, To: 3}, {From: 6, To: 8}}})
	for _, tc := range []struct {
		conv   string
		before uint64
		want   bool
	}{
		{g, 1, false},
		{g, 4, false}, // 1..3: from before carol joined
		{g, 5, true},
		{g, 9, true},  // 4 and 5, below the run 6..8
		{g, 0, true},  // up to the last seq
		{g, 99, true}, // past the last seq: what is below it
		{"p:alice:carol", 0, true},
		{"p:alice:carol", 1, false},
	} {
		if got := s.c.ReadableBefore(tc.conv, tc.before); got != tc.want {
			t.Errorf("ReadableBefore(%s, %d) = %v, want %v", tc.conv, tc.before, got, tc.want)
		}
	}
}
