package relay

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The history-visibility part of the store conformance suite: a member reads
// the messages of their memberships only, through History in both
// directions and every page size, and ReadSpans says the same.

func testStoreSpans(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("spans/removed and added again: the gap is hidden, paging every way", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		conv := "g:spans"
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: conv, Name: "spans", Creator: "alice", Members: []string{"alice", "bob", "carol"}, CreatedAt: 1})
		ok(t, err)
		n := 0
		send := func(k int) {
			t.Helper()
			for range k {
				n++
				res, err := s.Append(ctx, []AppendRequest{{Sender: "alice", Device: "d", CreatedAt: int64(100 + n),
					Send: proto.Send{ConvID: conv, ClientID: fmt.Sprintf("m%d", n), MsgType: proto.MsgText, Text: fmt.Sprintf("#%d", n)}}})
				ok(t, err)
				if res[0].Err != nil {
					t.Fatal(res[0].Err)
				}
			}
		}
		op := func(o proto.GroupOp) uint64 {
			t.Helper()
			out, err := s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: int64(1000 + n), Op: o})
			ok(t, err)
			return out.Messages[0].Seq
		}
		send(3) // 1..3
		removed := op(proto.GroupOp{ConvID: conv, Op: proto.OpRemove, Users: []string{"carol"}})
		send(4) // 5..8: carol is out
		added := op(proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"carol"}})
		send(2) // 10..11
		removed2 := op(proto.GroupOp{ConvID: conv, Op: proto.OpRemove, Users: []string{"carol"}})
		send(2) // 13..14: out again
		added2 := op(proto.GroupOp{ConvID: conv, Op: proto.OpAdd, Users: []string{"carol", "dave"}})
		send(1) // 16
		equal(t, [4]uint64{removed, added, removed2, added2}, [4]uint64{4, 9, 12, 15}, "system message seqs")

		var want []uint64
		for seq := uint64(1); seq <= 16; seq++ {
			if seq <= removed || (seq >= added && seq <= removed2) || seq >= added2 {
				want = append(want, seq)
			}
		}
		spans, err := s.ReadSpans(ctx, conv, "carol")
		ok(t, err)
		equal(t, spans, rules.Spans{{From: 1, To: 4}, {From: 9, To: 12}, {From: 15, To: 0}}, "carol's spans")
		dspans, err := s.ReadSpans(ctx, conv, "dave")
		ok(t, err)
		equal(t, dspans, rules.Spans{{From: 15, To: 0}}, "dave, added later, reads from the add")
		none, err := s.ReadSpans(ctx, conv, "erin")
		ok(t, err)
		equal(t, none == nil, true, "a stranger has no spans")
		all, err := s.ReadSpans(ctx, conv, "alice")
		ok(t, err)
		equal(t, all, rules.Spans{{From: 1, To: 0}}, "a first member reads it all")
		for seq, want := range map[uint64][]string{
			2: {"alice", "bob", "carol"}, 6: {"alice", "bob"}, 9: {"alice", "bob", "carol"}, 14: {"alice", "bob"},
			16: {"alice", "bob", "carol", "dave"},
		} {
			got, err := s.Readers(ctx, conv, seq)
			ok(t, err)
			equal(t, got, want, fmt.Sprintf("readers of %d", seq))
		}

		for _, limit := range []uint32{1, 2, 3, 5, 100} {
			// Forwards from the start, as a device that was offline throughout.
			var got []uint64
			var hidden []proto.SeqRange
			after := uint64(0)
			for pages := 0; ; pages++ {
				if pages > 40 {
					t.Fatalf("limit %d: paging forwards does not end", limit)
				}
				p, err := s.History(ctx, "carol", proto.History{ConvID: conv, After: after, Limit: limit})
				ok(t, err)
				equal(t, p.LastSeq, uint64(16), "last seq")
				hidden = append(hidden, p.Hidden...)
				for _, m := range p.Messages {
					got = append(got, m.Seq)
					after = m.Seq
				}
				if !p.More {
					break
				}
			}
			equal(t, got, want, fmt.Sprintf("limit %d forwards: carol's seqs", limit))
			equal(t, hidden, []proto.SeqRange{{From: 5, To: 8}, {From: 13, To: 14}}, fmt.Sprintf("limit %d forwards: hidden", limit))
			// Backwards from the newest.
			got, hidden = nil, nil
			before := uint64(17) // above the last seq: the newest page
			for pages := 0; ; pages++ {
				if pages > 40 {
					t.Fatalf("limit %d: paging backwards does not end", limit)
				}
				p, err := s.History(ctx, "carol", proto.History{ConvID: conv, Before: before, Limit: limit})
				ok(t, err)
				hidden = append(p.Hidden, hidden...)
				for i := len(p.Messages) - 1; i >= 0; i-- {
					got = append([]uint64{p.Messages[i].Seq}, got...)
				}
				if !p.More || len(p.Messages) == 0 {
					break
				}
				before = p.Messages[0].Seq
			}
			equal(t, got, want, fmt.Sprintf("limit %d backwards: carol's seqs", limit))
			equal(t, hidden, []proto.SeqRange{{From: 5, To: 8}, {From: 13, To: 14}}, fmt.Sprintf("limit %d backwards: hidden", limit))
		}
		// dave, added at 15: everything before is hidden, backwards too.
		p, err := s.History(ctx, "dave", proto.History{ConvID: conv, Limit: 100})
		ok(t, err)
		equal(t, len(p.Messages), 2, "dave's messages")
		equal(t, p.Hidden, []proto.SeqRange{{From: 1, To: 14}}, "dave's hidden")
		p, err = s.History(ctx, "dave", proto.History{ConvID: conv, Before: 15, Limit: 100})
		ok(t, err)
		equal(t, [2]any{len(p.Messages), p.More}, [2]any{0, false}, "nothing before dave joined")
		equal(t, p.Hidden, []proto.SeqRange{{From: 1, To: 14}}, "dave's hidden, backwards")
		// A page inside the gap only.
		p, err = s.History(ctx, "carol", proto.History{ConvID: conv, After: 4, Before: 9, Limit: 100})
		ok(t, err)
		equal(t, [2]any{len(p.Messages), p.Hidden}, [2]any{0, []proto.SeqRange{{From: 5, To: 8}}}, "a page of the gap")

		// Removed for good: reads up to the removal, the spans stay closed.
		op(proto.GroupOp{ConvID: conv, Op: proto.OpRemove, Users: []string{"carol"}})
		send(1)
		spans, err = s.ReadSpans(ctx, conv, "carol")
		ok(t, err)
		equal(t, spans, rules.Spans{{From: 1, To: 4}, {From: 9, To: 12}, {From: 15, To: 17}}, "carol's spans after the last removal")
		p, err = s.History(ctx, "carol", proto.History{ConvID: conv, After: 14, Limit: 100})
		ok(t, err)
		equal(t, [3]any{len(p.Messages), p.LastSeq, p.Hidden}, [3]any{3, uint64(17), []proto.SeqRange(nil)}, "a former member's last page")
	})
	t.Run("spans/p2p parties read everything", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ab := proto.P2PID("alice", "bob")
		_, err := s.Append(ctx, []AppendRequest{{Sender: "alice", Device: "d", CreatedAt: 1,
			Send: proto.Send{ConvID: ab, ClientID: "x", MsgType: proto.MsgText, Text: "hi"}}})
		ok(t, err)
		spans, err := s.ReadSpans(ctx, ab, "bob")
		ok(t, err)
		equal(t, spans, rules.AllSeqs, "bob's spans")
		spans, err = s.ReadSpans(ctx, ab, "carol")
		ok(t, err)
		equal(t, spans == nil, true, "carol is no party")
	})
}
