package rules

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
)

func TestSpans(t *testing.T) {
	t.Parallel()
	s := Spans{{From: 1, To: 4}, {From: 9, To: 12}, {From: 15}}
	for seq, want := range map[uint64]bool{0: false, 1: true, 4: true, 5: false, 8: false, 9: true, 12: true, 13: false, 15: true, 1 << 40: true} {
		if s.Has(seq) != want {
			t.Errorf("Has(%d) = %v", seq, !want)
		}
	}
	for _, c := range []struct {
		lo, hi uint64
		within []Span
		hidden []proto.SeqRange
	}{
		{1, 20, []Span{{1, 4}, {9, 12}, {15, 20}}, []proto.SeqRange{{From: 5, To: 8}, {From: 13, To: 14}}},
		{0, 3, []Span{{1, 3}}, nil},
		{5, 8, nil, []proto.SeqRange{{From: 5, To: 8}}},
		{6, 10, []Span{{9, 10}}, []proto.SeqRange{{From: 6, To: 8}}},
		{10, 9, nil, nil},
	} {
		if got := s.Within(c.lo, c.hi); !reflect.DeepEqual(got, c.within) {
			t.Errorf("Within(%d, %d) = %v, want %v", c.lo, c.hi, got, c.within)
		}
		if got := s.Hidden(c.lo, c.hi); !reflect.DeepEqual(got, c.hidden) {
			t.Errorf("Hidden(%d, %d) = %v, want %v", c.lo, c.hi, got, c.hidden)
		}
	}
	if got := (Spans{{From: 1, To: 4}}).Last(10); got != 4 {
		t.Errorf("a former member's last = %d, want 4", got)
	}
	if got := s.Last(20); got != 20 {
		t.Errorf("a member's last = %d, want 20", got)
	}
	if got := Spans(nil).Hidden(1, 3); !reflect.DeepEqual(got, []proto.SeqRange{{From: 1, To: 3}}) {
		t.Errorf("no spans hide everything: %v", got)
	}
}
