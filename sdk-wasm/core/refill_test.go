package core_test

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// A store under a size limit evicts the oldest history. The core still says
// the range is cached (SyncedSeq never goes back), so a page read from the
// store has holes: CacheMisses names them, RefillHistory asks the relay and
// writes back exactly the seqs that were missing, nothing the cache holds.
func TestEvictedHistoryIsRefilled(t *testing.T) {
	t.Parallel()
	ab := proto.P2PID("alice", "bob")
	wire := func(seq uint64) proto.Message {
		return proto.Message{ConvID: ab, Seq: seq, Sender: "bob", ClientID: "c" + string(rune('a'+seq)), MsgType: proto.MsgText, Text: "m", CreatedAt: int64(seq)}
	}
	s := newScripted(t, core.Config{})
	fill := s.one(s.connect("alice", proto.Conversation{ID: ab, Kind: proto.KindP2P, LastSeq: 10, Version: 1}), proto.TypeHistory)
	var all []proto.Message
	for seq := uint64(1); seq <= 10; seq++ {
		all = append(all, wire(seq))
	}
	s.frame(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 10, Messages: all})
	if !s.c.CacheCovers(ab, 0) {
		t.Fatal("after the fill the cache covers the conversation")
	}
	cached := func(seqs ...uint64) []core.Message {
		var out []core.Message
		for _, q := range seqs {
			out = append(out, core.Message{ConvID: ab, Seq: q})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		before uint64
		limit  int
		page   []core.Message
		want   []uint64
	}{
		{"whole newest page", 0, 4, cached(7, 8, 9, 10), nil},
		{"whole conversation", 0, 50, cached(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), nil},
		{"oldest evicted, newest page intact", 0, 4, cached(7, 8, 9, 10), nil},
		{"oldest evicted, paging back into them", 7, 4, cached(5, 6), []uint64{3, 4}},
		{"everything below 7 evicted", 7, 50, nil, []uint64{1, 2, 3, 4, 5, 6}},
		{"a hole in the middle", 0, 10, cached(1, 2, 3, 7, 8, 9, 10), []uint64{4, 5, 6}},
		{"before 1: nothing to show", 1, 10, nil, nil},
		{"another conversation's messages do not count", 3, 2, []core.Message{{ConvID: "p:x:y", Seq: 1}, {ConvID: ab, Seq: 2}}, []uint64{1}},
		{"unknown conversation", 0, 10, nil, nil},
	} {
		conv := ab
		if tc.name == "unknown conversation" {
			conv = proto.P2PID("alice", "nobody")
		}
		if got := s.c.CacheMisses(conv, tc.before, tc.limit, tc.page); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: CacheMisses = %v, want %v", tc.name, got, tc.want)
		}
	}

	// The page 3..6 with 3 and 4 evicted: the relay sends 3..6, the store
	// gets 3 and 4 back, and not 5 and 6, which it still holds.
	op, err := s.c.RefillHistory(s.now, ab, 7, 4, []uint64{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	q := s.one(s.poll(), proto.TypeHistory)
	acts := s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 10, Messages: all[2:6]})
	var seqs []uint64
	for _, m := range persistedMessages(acts) {
		seqs = append(seqs, m.Seq)
	}
	if !reflect.DeepEqual(seqs, []uint64{3, 4}) {
		t.Fatalf("written back %v, want [3 4]", seqs)
	}
	var page []uint64
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op {
			for _, m := range a.Result.Messages {
				page = append(page, m.Seq)
			}
		}
	}
	if !reflect.DeepEqual(page, []uint64{3, 4, 5, 6}) {
		t.Fatalf("the page resolved %v, want [3 4 5 6]", page)
	}
	// A plain history fetch of a range the cache holds writes nothing.
	if _, err := s.c.FetchHistory(s.now, ab, 7, 4); err != nil {
		t.Fatal(err)
	}
	q = s.one(s.poll(), proto.TypeHistory)
	if got := persistedMessages(s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 10, Messages: all[2:6]})); len(got) != 0 {
		t.Fatalf("a plain fetch wrote %d messages", len(got))
	}
}
