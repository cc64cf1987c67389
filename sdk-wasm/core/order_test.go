package core_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// orderRelay plays a relay that stores the sends it receives in the order
// they arrive, answering each at once: with an ack and the conversation's
// next seq, or with a temporary error when refuse says so. A client id it
// stored before gets its original seq back, as the relay's dedup does.
type orderRelay struct {
	s      *scripted
	refuse func(*proto.Send) bool
	stored []string          // texts in the order they were stored (seq-1)
	seqOf  map[string]uint64 // client id → seq
}

func newOrderRelay(s *scripted, refuse func(*proto.Send) bool) *orderRelay {
	return &orderRelay{s: s, refuse: refuse, seqOf: map[string]uint64{}}
}

// serve answers every frame written in acts, and whatever those answers
// make the core write, until it writes nothing more.
func (r *orderRelay) serve(acts []core.Action) {
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
			seq, dup := r.seqOf[b.ClientID]
			switch {
			case dup:
				more = r.s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: b.ConvID, ClientID: b.ClientID, Seq: seq, CreatedAt: int64(seq), Duplicate: true})
			case r.refuse(b):
				more = r.s.frame(proto.TypeError, f.ID, &proto.ErrorBody{Code: proto.CodeUnavailable, Message: "store unavailable, retry"})
			default:
				r.stored = append(r.stored, b.Text)
				seq = uint64(len(r.stored))
				r.seqOf[b.ClientID] = seq
				more = r.s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: b.ConvID, ClientID: b.ClientID, Seq: seq, CreatedAt: int64(seq)})
			}
		}
		queue = append(queue, r.s.wrote(more)...)
	}
}

// drain lets time pass until the outbox is empty.
func (r *orderRelay) drain() {
	r.s.t.Helper()
	for step := 0; len(r.s.c.Pending("")) > 0; step++ {
		if step == 200 {
			r.s.t.Fatalf("the outbox never emptied: %d pending, relay stored %q", len(r.s.c.Pending("")), r.stored)
		}
		r.serve(r.s.advance())
	}
}

// checkOrder asserts that the relay stored texts in send order and that the
// core persisted them at their seqs, in that order.
func checkOrder(t *testing.T, s *scripted, r *orderRelay, conv string, sent []string) {
	t.Helper()
	if !slices.Equal(r.stored, sent) {
		t.Fatalf("the relay stored %q, sent in the order %q: a later send overtook one that waited to retry", r.stored, sent)
	}
	var got []string
	for _, m := range persistedMessages(s.acts) {
		if m.ConvID != conv {
			continue
		}
		if m.Seq != uint64(len(got)+1) {
			t.Fatalf("persisted %q at seq %d after %d messages", m.Text, m.Seq, len(got))
		}
		got = append(got, m.Text)
	}
	if !slices.Equal(got, sent) {
		t.Fatalf("persisted %q, sent %q", got, sent)
	}
}

// A send refused with a temporary store error (4300) waits to retry; the
// sends queued after it wait behind it instead of overtaking it, so the
// relay stores the sender's messages in the order they were sent.
func TestLaterSendsWaitBehindARetry(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	s.connect("alice")
	conv := proto.P2PID("alice", "bob")
	refused := false
	r := newOrderRelay(s, func(b *proto.Send) bool {
		if b.Text == "one" && !refused {
			refused = true
			return true
		}
		return false
	})
	sent := []string{"one", "two", "three", "four"}
	_, acts := s.send(conv, sent[0])
	s.one(acts, proto.TypeSend)
	r.serve(acts) // refused: "one" now waits to retry
	if !refused {
		t.Fatal("the relay never saw the first send")
	}
	for _, text := range sent[1:] {
		_, acts := s.send(conv, text)
		if w := s.wrote(acts); len(w) != 0 {
			t.Errorf("%q was written while %q waited to retry: %d frames", text, sent[0], len(w))
		}
		r.serve(acts)
	}
	r.drain()
	checkOrder(t, s, r, conv, sent)
}

// The same claim under a seeded random schedule: with a send window of one,
// the relay refuses sends at random with 4300 while the application keeps
// sending and time passes; whatever the schedule, the relay stores every
// message once, in send order.
func TestSendOrderUnderTemporaryErrors(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PARLEY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with PARLEY_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 4300))
	s := newScripted(t, core.Config{SendWindow: 1, Rand: rand.New(rand.NewPCG(seed, 1)).Uint64})
	s.connect("alice")
	conv := proto.P2PID("alice", "bob")
	refusals := 0
	r := newOrderRelay(s, func(*proto.Send) bool {
		if rng.IntN(3) == 0 {
			refusals++
			return true
		}
		return false
	})
	var sent []string
	for i := range 40 {
		text := fmt.Sprintf("m%02d", i)
		sent = append(sent, text)
		_, acts := s.send(conv, text)
		r.serve(acts)
		if rng.IntN(4) == 0 {
			r.serve(s.advance())
		}
	}
	r.drain()
	if refusals == 0 {
		t.Fatal("the schedule refused nothing: it proves nothing")
	}
	t.Logf("%d refusals", refusals)
	checkOrder(t, s, r, conv, sent)
	if t.Failed() {
		t.Logf("FAILED with seed %d", seed)
	}
}
