package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// heldStore is a MemoryStore whose writes the client starts without
// waiting for them (a writeStarter, as the host's storage adapter is under
// js/wasm) and which land only when the test lands them, oldest first. It
// records how many were in flight at once, and whether one still was when
// the store was closed. (Messages and Search read what has landed: the
// tests below do not read while a write is in flight.)
type heldStore struct {
	*MemoryStore
	started chan struct{} // capacity 1: a write started

	mu         sync.Mutex
	inFlight   []heldWrite // started, not landed, oldest first
	starts     int
	maxFlight  int
	maxPages   int    // the most writes of messages in flight at once
	lastSeq    uint64 // the highest message seq of the writes started
	outOfOrder int    // writes started with a message below lastSeq
	closedAt   int    // writes in flight when Close was called; -1 before
}

type heldWrite struct {
	b    *core.Batch
	done chan error
}

var _ writeStarter = (*heldStore)(nil)

func newHeldStore() *heldStore {
	return &heldStore{MemoryStore: NewMemoryStore(), started: make(chan struct{}, 1), closedAt: -1}
}

func (s *heldStore) startApply(b *core.Batch) (<-chan error, [][]byte) {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.inFlight = append(s.inFlight, heldWrite{b, ch})
	s.starts++
	s.maxFlight = max(s.maxFlight, len(s.inFlight))
	pages := 0
	for _, w := range s.inFlight {
		if len(w.b.Messages) > 0 {
			pages++
		}
	}
	s.maxPages = max(s.maxPages, pages)
	for _, m := range b.Messages {
		if m.Seq < s.lastSeq {
			s.outOfOrder++
			break
		}
	}
	for _, m := range b.Messages {
		s.lastSeq = max(s.lastSeq, m.Seq)
	}
	s.mu.Unlock()
	select {
	case s.started <- struct{}{}:
	default:
	}
	return ch, nil
}

// land applies the oldest write in flight and reports it done; it reports
// false when none is in flight.
func (s *heldStore) land() bool {
	s.mu.Lock()
	if len(s.inFlight) == 0 {
		s.mu.Unlock()
		return false
	}
	w := s.inFlight[0]
	s.inFlight = s.inFlight[1:]
	s.mu.Unlock()
	w.done <- s.MemoryStore.Apply(w.b)
	return true
}

// waitStarted waits for a write to start.
func (s *heldStore) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-s.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no write started")
	}
}

// flight is how many writes are in flight.
func (s *heldStore) flight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inFlight)
}

func (s *heldStore) Close() error {
	s.mu.Lock()
	s.closedAt = len(s.inFlight)
	s.mu.Unlock()
	return nil
}

func (s *heldStore) has(conv string, seq uint64) bool { return holds(s.MemoryStore, conv, seq) }

// An offline device syncs many pages into a store that commits slowly,
// while the client goes on: the next pages are requested, received and
// their writes started while the previous write is still in flight, in
// order, up to maxWrites at once and never more; each message is announced once, in order, only after the write
// that holds it has landed; WaitSynced returns only once no write is in
// flight and the store holds everything.
func TestSyncGoesOnWhileWritesLand(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 200
	conv := bobSends(ctx, t, url, n)

	store := newHeldStore()
	var seqs []uint64  // announced, on the loop goroutine
	var early []uint64 // announced before the store held them
	alice, err := New(Options{URL: url, Token: tokenFor(t, "alice"), Store: store, Seed: 7,
		Config: core.Config{DeviceID: "a1", HistoryPage: 20, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		OnEvent: func(e core.Event) {
			if e.Kind != core.EventMessage || e.Message.ConvID != conv {
				return
			}
			seqs = append(seqs, e.Message.Seq)
			if !store.has(conv, e.Message.Seq) {
				early = append(early, e.Message.Seq)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for store.land() {
		}
	})
	t.Cleanup(func() { alice.Close() })
	synced := make(chan error, 1)
	go func() {
		err := alice.Connect(ctx)
		if err == nil {
			err = alice.WaitSynced(ctx)
		}
		synced <- err
	}()
	// Land the oldest write once maxWrites are in flight, or when no write
	// has started for a while (the client may have nothing more to write).
	var flightAtSynced int
	for done := false; !done; {
		if store.flight() >= maxWrites {
			store.land()
			continue
		}
		select {
		case <-store.started:
		case <-time.After(20 * time.Millisecond):
			store.land()
		case err := <-synced:
			if err != nil {
				t.Fatal(err)
			}
			flightAtSynced = store.flight()
			done = true
		}
	}
	if flightAtSynced != 0 {
		t.Errorf("WaitSynced returned with %d writes in flight", flightAtSynced)
	}
	for store.land() {
	}
	for seq := uint64(1); seq <= n; seq++ {
		if !store.has(conv, seq) {
			t.Fatalf("synced, but the store does not hold seq %d", seq)
		}
	}
	store.mu.Lock()
	starts, maxFlight, maxPages, outOfOrder := store.starts, store.maxFlight, store.maxPages, store.outOfOrder
	store.mu.Unlock()
	if outOfOrder > 0 {
		t.Errorf("%d of %d writes started before a write of lower seqs", outOfOrder, starts)
	}
	if maxFlight > maxWrites {
		t.Errorf("%d writes in flight at once, more than %d", maxFlight, maxWrites)
	}
	if maxPages != maxWrites {
		t.Errorf("%d writes started, at most %d pages in flight at once, want %d", starts, maxPages, maxWrites)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	// The loop has ended: what it announced is all there is.
	if len(early) > 0 {
		t.Errorf("%d messages announced before the store held them, the first %d", len(early), early[0])
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("announced out of order or twice at %d: seq %d", i, s)
		}
	}
	if len(seqs) != n {
		t.Fatalf("announced %d messages, want %d", len(seqs), n)
	}
}

// While a write is in flight, what the core did after it waits: a send's
// pending event comes after its outbox entry has landed. No more than
// maxWrites writes are in flight: the next waits for the oldest to land.
// Close waits for the writes in flight before it closes the store.
func TestWritesInFlightHoldEventsAndClose(t *testing.T) {
	t.Parallel()
	store := newHeldStore()
	var mu sync.Mutex
	var events []string
	c, err := New(Options{URL: "ws://127.0.0.1:1", Token: tokenFor(t, "alice"), Store: store, Seed: 7,
		Config: core.Config{DeviceID: "a1"},
		OnEvent: func(e core.Event) {
			if e.Kind != core.EventMessage {
				return
			}
			snap, _ := store.MemoryStore.Load()
			stored := false
			for _, o := range snap.Outbox {
				stored = stored || o.Message.Text == e.Message.Text
			}
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("%s stored=%v", e.Message.Text, stored))
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	texts := []string{"m1", "m2", "m3", "m4"} // one more than maxWrites
	sent := make(chan error, len(texts))
	for i, text := range texts {
		go func() {
			_, err := c.SendText(ctx, "p:alice:bob", text)
			sent <- err
		}()
		if i < maxWrites {
			store.waitStarted(t) // its outbox entry's write; one at a time, for the order
		}
	}
	time.Sleep(20 * time.Millisecond) // a client without a bound has started the last by now
	if got := store.flight(); got != maxWrites {
		t.Fatalf("%d writes in flight, want %d", got, maxWrites)
	}
	mu.Lock()
	if len(events) != 0 {
		t.Errorf("announced before the outbox entry landed: %q", events)
	}
	mu.Unlock()
	store.land()
	store.waitStarted(t) // the last
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	time.Sleep(20 * time.Millisecond) // a Close that does not wait has closed the store by now
	for landed := 1; landed < len(texts); {
		if store.land() {
			landed++
		} else {
			store.waitStarted(t)
		}
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the writes landed")
	}
	for range texts {
		<-sent
	}
	store.mu.Lock()
	closedAt := store.closedAt
	store.mu.Unlock()
	if closedAt != 0 {
		t.Errorf("the store was closed with %d writes in flight", closedAt)
	}
	mu.Lock()
	defer mu.Unlock()
	var want []string
	for _, text := range texts {
		want = append(want, text+" stored=true")
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", events, want)
	}
}
