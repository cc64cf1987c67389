package core_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// busyRelay plays an overloaded relay the way the real one sheds load: a
// send it has no room for gets 4301 with a retry hint, and once it refused
// one, it refuses every later send of the connection (they may have been
// written before the client saw the refusal) until the client resends one
// it refused. It records when each client id was written and stores what it
// admits in arrival order, deduplicating by client id.
type busyRelay struct {
	s       *scripted
	full    func(*proto.Send) bool // whether the relay has no room for this send
	hint    time.Duration
	held    map[string]bool // refused ids while holding; nil when not holding
	stored  []string
	seqOf   map[string]uint64
	written map[string][]time.Time // client id → every time it was written
	refused map[string][]time.Time // client id → every time it was refused
}

func newBusyRelay(s *scripted, hint time.Duration, full func(*proto.Send) bool) *busyRelay {
	return &busyRelay{s: s, full: full, hint: hint, seqOf: map[string]uint64{},
		written: map[string][]time.Time{}, refused: map[string][]time.Time{}}
}

func (r *busyRelay) serve(acts []core.Action) {
	r.s.t.Helper()
	queue := r.s.wrote(acts)
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		var more []core.Action
		switch b := f.Body.(type) {
		case *proto.Ping:
			more = r.s.frame(proto.TypePong, f.ID, &proto.Pong{Time: b.Time})
		case *proto.Send:
			r.written[b.ClientID] = append(r.written[b.ClientID], r.s.now)
			if r.held != nil && r.held[b.ClientID] {
				r.held = nil // the client resends in order
			}
			if seq, dup := r.seqOf[b.ClientID]; dup {
				more = r.s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: b.ConvID, ClientID: b.ClientID, Seq: seq, CreatedAt: int64(seq), Duplicate: true})
				break
			}
			if r.held != nil || r.full(b) {
				if r.held == nil {
					r.held = map[string]bool{}
				}
				r.held[b.ClientID] = true
				r.refused[b.ClientID] = append(r.refused[b.ClientID], r.s.now)
				more = r.s.frame(proto.TypeError, f.ID, &proto.ErrorBody{Code: proto.CodeBusy, Message: "relay overloaded, retry later",
					RetryAfter: uint32(r.hint / time.Millisecond)})
				break
			}
			r.stored = append(r.stored, b.Text)
			seq := uint64(len(r.stored))
			r.seqOf[b.ClientID] = seq
			more = r.s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: b.ConvID, ClientID: b.ClientID, Seq: seq, CreatedAt: int64(seq)})
		}
		queue = append(queue, r.s.wrote(more)...)
	}
}

func (r *busyRelay) drain() {
	r.s.t.Helper()
	for step := 0; len(r.s.c.Pending("")) > 0; step++ {
		if step == 500 {
			r.s.t.Fatalf("the outbox never emptied: %d pending, relay stored %q", len(r.s.c.Pending("")), r.stored)
		}
		r.serve(r.s.advance())
	}
}

// TestBusyRefusalsBackOffAndKeepOrder: a send refused with 4301 stays
// pending in the outbox, with the sends pipelined behind it; the core resends
// no earlier than the relay's hint, the oldest first and alone, backs off
// further (with jitter) while the refusals go on, reopens its window as acks
// return, and delivers everything once, in send order.
func TestBusyRefusalsBackOffAndKeepOrder(t *testing.T) {
	t.Parallel()
	const hint = 300 * time.Millisecond
	s := newScripted(t, core.Config{})
	s.connect("alice")
	conv := proto.P2PID("alice", "bob")
	refusals := 0
	r := newBusyRelay(s, hint, func(b *proto.Send) bool {
		// Busy for m03's first seven attempts, then room for everything.
		if b.Text == "m03" && refusals < 7 {
			refusals++
			return true
		}
		return false
	})
	var sent []string
	for i := range 10 {
		text := fmt.Sprintf("m%02d", i)
		sent = append(sent, text)
		_, acts := s.send(conv, text)
		r.serve(acts)
	}
	// m03 was refused, and the sends behind it with it; they all wait.
	pending := s.c.Pending(conv)
	if len(pending) != 7 {
		t.Fatalf("%d messages pending after the refusal, want m03…m09", len(pending))
	}
	for _, m := range pending {
		if m.Status != core.StatusPending {
			t.Fatalf("%s is %s after a 4301, want pending", m.Text, m.Status)
		}
	}
	if d, ok := s.c.NextDeadline(); !ok || d.Sub(s.now) < hint {
		t.Fatalf("next deadline in %v, want no resend before the hint %v", d.Sub(s.now), hint)
	}
	// After the wait the core probes with one send, not its whole window.
	acts := s.advance()
	if n := len(s.wrote(acts)); n != 1 {
		t.Fatalf("%d frames written at the retry, want the oldest send alone", n)
	}
	r.serve(acts)
	r.drain()
	checkOrderBusy(t, s, r, conv, sent)

	// m03's resends: each at least the hint after its refusal, and the
	// waits grow: a late one exceeds the first ceiling (2 × hint).
	head := pending[0].ClientID
	w, ref := r.written[head], r.refused[head]
	if len(ref) != 7 || len(w) != 8 {
		t.Fatalf("m03 refused %d times, written %d times; want 7 and 8", len(ref), len(w))
	}
	var waits []time.Duration
	for i, at := range ref {
		wait := w[i+1].Sub(at)
		if wait < hint || wait > 30*time.Second {
			t.Fatalf("resend %d of m03 after %v, want between the hint %v and MaxBackoff", i+1, wait, hint)
		}
		waits = append(waits, wait)
	}
	if slices.Max(waits[4:]) <= 2*hint {
		t.Fatalf("waits %v: the backoff did not grow while the refusals went on", waits)
	}
	t.Logf("m03's waits between refusal and resend: %v", waits)
}

// TestBusyRetriesSpreadOut: clients refused at the same instant do not come
// back at the same instant (jitter from Config.Rand), and none before the
// hint.
func TestBusyRetriesSpreadOut(t *testing.T) {
	t.Parallel()
	const hint = 200 * time.Millisecond
	seen := map[time.Duration]bool{}
	for seed := range uint64(20) {
		s := newScripted(t, core.Config{Rand: rand.New(rand.NewPCG(seed, 7)).Uint64})
		s.connect("alice")
		first := true
		r := newBusyRelay(s, hint, func(*proto.Send) bool {
			refuse := first
			first = false
			return refuse
		})
		_, acts := s.send(proto.P2PID("alice", "bob"), "hello")
		refusedAt := s.now
		r.serve(acts)
		r.drain()
		for _, w := range r.written {
			wait := w[len(w)-1].Sub(refusedAt)
			if wait < hint {
				t.Fatalf("seed %d: resent after %v, before the hint %v", seed, wait, hint)
			}
			seen[wait] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("20 clients refused at once came back at only %d distinct delays: no jitter", len(seen))
	}
}

// checkOrderBusy asserts that the relay stored texts once each, in send
// order, and that the core persisted them at their seqs.
func checkOrderBusy(t *testing.T, s *scripted, r *busyRelay, conv string, sent []string) {
	t.Helper()
	if !slices.Equal(r.stored, sent) {
		t.Fatalf("the relay stored %q, sent in the order %q", r.stored, sent)
	}
	var got []string
	for _, m := range persistedMessages(s.acts) {
		if m.ConvID == conv && m.Seq > 0 {
			if m.Seq != uint64(len(got)+1) {
				t.Fatalf("persisted %q at seq %d after %d messages", m.Text, m.Seq, len(got))
			}
			got = append(got, m.Text)
		}
	}
	if !slices.Equal(got, sent) {
		t.Fatalf("persisted %q, sent %q", got, sent)
	}
}
