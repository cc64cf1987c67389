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
// records every write started, how many were in flight at once, and
// whether one still was when the store was closed. (Messages and Search read what has landed: the
// tests below do not read while a write is in flight.)
type heldStore struct {
	*MemoryStore
	started chan struct{} // capacity 1: a write started

	mu         sync.Mutex
	inFlight   []heldWrite   // started, not landed, oldest first
	all        []*core.Batch // every write started, in order
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

func (s *heldStore) startApply(b *core.Batch) (<-chan error, [][]byte, *HostBatch) {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.inFlight = append(s.inFlight, heldWrite{b, ch})
	s.all = append(s.all, b)
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
	return ch, nil, nil
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

// outboxStarted reports whether a write putting entries into the outbox has
// started.
func (s *heldStore) outboxStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.all {
		if len(b.OutboxPut) > 0 {
			return true
		}
	}
	return false
}

// outboxInFlight reports whether a write putting entries into the outbox is
// still in flight.
func (s *heldStore) outboxInFlight() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.inFlight {
		if len(w.b.OutboxPut) > 0 {
			return true
		}
	}
	return false
}

// flightPages is how many writes of messages are in flight.
func (s *heldStore) flightPages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.inFlight {
		if len(w.b.Messages) > 0 {
			n++
		}
	}
	return n
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

// startedHolds reports whether a write started so far holds message seq of
// conv, or (seq 0) an outbox entry whose text is text.
func (s *heldStore) startedHolds(conv string, seq uint64, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.all {
		for _, m := range b.Messages {
			if seq > 0 && m.ConvID == conv && m.Seq == seq {
				return true
			}
		}
		for _, e := range b.OutboxPut {
			if seq == 0 && e.Message.Text == text {
				return true
			}
		}
	}
	return false
}

// An offline device syncs many pages into a store that commits slowly,
// while the client goes on: the next pages are requested, received and
// their writes started while the previous write is still in flight, in
// order, up to maxWrites at once and never more; each message is announced
// once, in order, after the write that holds it has started (so a read of
// the store finds it) and without waiting for that write to land;
// WaitSynced returns only once no write is in flight and the store holds
// everything.
func TestSyncGoesOnWhileWritesLand(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 200
	conv := bobSends(ctx, t, url, n)

	store := newHeldStore()
	var seqs []uint64      // announced, on the loop goroutine
	var unwritten []uint64 // announced before a write holding them started
	behind := 0            // announced while the write holding them was in flight
	alice, err := New(Options{URL: url, Token: tokenFor(t, "alice"), Store: store, Seed: 7,
		Config: core.Config{DeviceID: "a1", HistoryPage: 20, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		OnEvent: func(e core.Event) {
			if e.Kind != core.EventMessage || e.Message.ConvID != conv {
				return
			}
			seqs = append(seqs, e.Message.Seq)
			switch {
			case !store.startedHolds(conv, e.Message.Seq, ""):
				unwritten = append(unwritten, e.Message.Seq)
			case !store.has(conv, e.Message.Seq):
				behind++
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
	// Land the oldest write once maxPages pages are in flight, or when no
	// write has started for a while (the client may have nothing more to
	// write).
	var flightAtSynced int
	for done := false; !done; {
		if store.flightPages() >= maxPages {
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
	starts, maxFlight, pagesAtOnce, outOfOrder := store.starts, store.maxFlight, store.maxPages, store.outOfOrder
	store.mu.Unlock()
	if outOfOrder > 0 {
		t.Errorf("%d of %d writes started before a write of lower seqs", outOfOrder, starts)
	}
	if maxFlight > maxWrites {
		t.Errorf("%d writes in flight at once, more than %d", maxFlight, maxWrites)
	}
	if pagesAtOnce != maxPages {
		t.Errorf("%d writes started, at most %d pages in flight at once, want %d", starts, pagesAtOnce, maxPages)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	// The loop has ended: what it announced is all there is.
	if len(unwritten) > 0 {
		t.Errorf("%d messages announced before a write holding them started, the first %d", len(unwritten), unwritten[0])
	}
	if behind == 0 {
		t.Errorf("every message was announced only once its write had landed: the client waited for the store")
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

// A write that puts a send into the outbox holds what the core did after
// it: the send's pending event comes once its outbox entry has landed. No
// more than maxWrites writes are in flight: the next waits for the oldest
// to land. Close waits for the writes in flight before it closes the store.
func TestWritesInFlightAndClose(t *testing.T) {
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
	var texts []string // one more than maxWrites
	for i := range maxWrites + 1 {
		texts = append(texts, fmt.Sprintf("m%d", i+1))
	}
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

// An operation resolves only once the writes before its result have
// landed: when SendText returns, the write of its ack (the message stored,
// its outbox entry deleted) is in the store, though every write lands
// 20 ms after it started.
func TestResultsWaitForTheirWrites(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store := newHeldStore()
	stop := make(chan struct{})
	landed := make(chan struct{})
	go func() { // lands every write 20 ms after it started, until stopped
		defer close(landed)
		for {
			select {
			case <-store.started:
			case <-time.After(5 * time.Millisecond):
			case <-stop:
				for store.land() {
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
			for store.land() {
			}
		}
	}()
	alice, err := New(Options{URL: url, Token: tokenFor(t, "alice"), Store: store, Seed: 7,
		Config: core.Config{DeviceID: "a1", MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		alice.Close()
		close(stop)
		<-landed
	})
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := alice.P2P("bob")
	for i := range 5 {
		m, err := alice.SendText(ctx, conv, fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !store.has(conv, m.Seq) {
			t.Fatalf("SendText returned seq %d before the store held it", m.Seq)
		}
		snap, err := store.MemoryStore.Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range snap.Outbox {
			if e.Message.ClientID == m.ClientID {
				t.Fatalf("SendText returned while the outbox entry of %s was still stored", m.ClientID)
			}
		}
	}
}

// A send's frame waits for the write of its outbox entry, and so does its
// pending event: a message reaches the relay only once it will survive a
// restart. What the relay sends back (the ack's write) holds nothing.
func TestSendWaitsForItsOutboxEntry(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bob, err := New(Options{URL: url, Token: tokenFor(t, "bob"), Seed: 8, Config: core.Config{DeviceID: "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	got := make(chan string, 16)
	bob.On(func(e core.Event) {
		if e.Kind == core.EventMessage {
			got <- e.Message.Text
		}
	})
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	store := newHeldStore()
	alice, err := New(Options{URL: url, Token: tokenFor(t, "alice"), Store: store, Seed: 7, Config: core.Config{DeviceID: "a1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		go func() {
			for range 200 {
				store.land()
				time.Sleep(5 * time.Millisecond)
			}
		}()
		alice.Close()
	})
	connected := make(chan error, 1)
	go func() { connected <- alice.Connect(ctx) }()
	for done := false; !done; { // land what the connect writes
		select {
		case err := <-connected:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(5 * time.Millisecond):
			store.land()
		}
	}
	for store.land() {
	}
	sent := make(chan error, 1)
	go func() {
		_, err := alice.SendText(ctx, alice.P2P("bob"), "held")
		sent <- err
	}()
	// Wait for the write that puts the send in the outbox: a token left in
	// started by a connect-time write would say nothing about it.
	for deadline := time.Now().Add(10 * time.Second); !store.outboxStarted(); {
		if time.Now().After(deadline) {
			t.Fatal("the outbox write never started")
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case text := <-got:
		t.Fatalf("bob got %q before alice's outbox entry landed", text)
	case <-time.After(200 * time.Millisecond):
	}
	for store.outboxInFlight() { // land up to and with the outbox write
		store.land()
	}
	select {
	case text := <-got:
		if text != "held" {
			t.Fatalf("bob got %q", text)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bob never got the message once the outbox entry landed")
	}
	// The send resolves once the writes before its result (the ack's: the
	// message stored, the entry deleted) have landed.
	for {
		select {
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
			if !store.has(alice.P2P("bob"), 1) {
				t.Fatal("SendText returned before the store held the message")
			}
			return
		case <-time.After(5 * time.Millisecond):
			store.land()
		}
	}
}
