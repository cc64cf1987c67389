package rules

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

func TestAdmitLoad(t *testing.T) {
	t.Parallel()
	c := Capacity{ConnSends: 2, Sends: 10, Bytes: 1000, QueuedFrames: 50, Delay: time.Second, DelayAbove: 4}
	for _, tc := range []struct {
		name string
		load Load
		c    Capacity
		want string
	}{
		{"all within", Load{2, 10, 1000, 50, time.Second}, c, ""},
		{"connection full", Load{3, 10, 1000, 50, 0}, c, BoundConn},
		{"relay sends full", Load{1, 11, 10, 0, 0}, c, BoundSends},
		{"relay bytes full", Load{1, 1, 1001, 0, 0}, c, BoundBytes},
		{"queues full", Load{1, 1, 1, 51, 0}, c, BoundQueue},
		{"sends wait too long", Load{1, 5, 1, 0, time.Second + 1}, c, BoundDelay},
		{"a slow commit with a short queue", Load{1, 4, 1, 0, time.Hour}, c, ""},
		{"connection judged first", Load{3, 11, 1001, 51, time.Hour}, c, BoundConn},
		{"no bounds", Load{1 << 20, 1 << 20, 1 << 40, 1 << 40, time.Hour}, Capacity{-1, 0, -1, 0, 0, 0}, ""},
	} {
		if got := AdmitLoad(tc.load, tc.c); got != tc.want {
			t.Errorf("%s: AdmitLoad = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	b := Busy(BoundSends, 200*time.Millisecond)
	if b.Code != proto.CodeBusy || b.RetryAfter != 200 || !b.Code.Retryable() {
		t.Fatalf("Busy: %+v", b)
	}
	if b := Busy(BoundOrder, time.Microsecond); b.RetryAfter != 1 {
		t.Fatalf("a hint below 1 ms rounds up to 1: %+v", b)
	}
	if _, err := proto.Decode(proto.MustEncode(proto.Frame{Type: proto.TypeError, ID: 1, Body: b}), proto.DefaultMaxFrame); err != nil {
		t.Fatalf("Busy does not round-trip: %v", err)
	}
}

// TestShed walks a connection through a refusal: everything after it is
// held until the client resends a refused send, in order.
func TestShed(t *testing.T) {
	t.Parallel()
	var s Shed
	step := func(cid string, want bool) {
		t.Helper()
		if got := s.Holding(cid); got != want {
			t.Fatalf("Holding(%s) = %v, want %v", cid, got, want)
		}
	}
	step("a", false) // nothing refused yet
	s.Refused("b")
	step("c", true) // pipelined behind b
	s.Refused("c")
	step("d", true)
	s.Refused("d")
	step("b", false) // the client resends b first: the hold ends
	if s.Shedding() {
		t.Fatal("still shedding after the resend")
	}
	step("c", false)
	step("new", false)

	// The remembered ids are bounded; the oldest are kept.
	for i := range ShedMaxIDs + 10 {
		s.Refused(string(rune('A'+i%26)) + string(rune(i)))
	}
	if len(s.refused) != ShedMaxIDs {
		t.Fatalf("remembers %d ids, want %d", len(s.refused), ShedMaxIDs)
	}
}
