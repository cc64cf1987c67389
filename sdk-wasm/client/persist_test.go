package client

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// slowStore is a MemoryStore whose writes land only when the test lets
// them (one per receive on release, or all once free is closed), after
// yielding to every other goroutine, so that a driver that ran ahead of a
// write (announcing, resolving or writing the next batch before it ended)
// would be caught doing so. It counts writes that overlap.
type slowStore struct {
	*MemoryStore
	release  chan struct{}
	free     chan struct{}
	inFlight atomic.Int32
	overlaps atomic.Int32
}

func (s *slowStore) Apply(b *core.Batch) error {
	if s.inFlight.Add(1) > 1 {
		s.overlaps.Add(1)
	}
	defer s.inFlight.Add(-1)
	for range 200 {
		runtime.Gosched()
	}
	select {
	case <-s.release:
	case <-s.free:
	}
	return s.MemoryStore.Apply(b)
}

// has reports whether the store holds message seq of conv.
func (s *slowStore) has(conv string, seq uint64) bool { return holds(s.MemoryStore, conv, seq) }

// holds reports whether s holds message seq of conv.
func holds(s *MemoryStore, conv string, seq uint64) bool {
	ms, _ := s.Messages(conv, seq+1, 1)
	return len(ms) == 1 && ms[0].Seq == seq
}

// bobSends has bob send n texts ("m1" … "mn") to alice, each acked, and
// returns their conversation: the history an alice device then syncs.
func bobSends(ctx context.Context, t *testing.T, url string, n int) string {
	t.Helper()
	bob := open(t, url, "bob", "b1", nil)
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := bob.P2P("alice")
	for i := 1; i <= n; i++ {
		if _, err := bob.SendText(ctx, conv, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return conv
}

// A device that was offline syncs many pages while each store write is
// slow: every message is announced once, in order, only once the store
// holds it; the writes never overlap; WaitSynced returns only when the
// store holds everything. (A store written synchronously, as the native
// ones are; the host's storage is written behind: pipeline_test.go.)
func TestSyncAnnouncesOnlyWhatIsStored(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 240
	conv := bobSends(ctx, t, url, n)

	store := &slowStore{MemoryStore: NewMemoryStore(), release: make(chan struct{}), free: make(chan struct{})}
	alice, err := New(Options{URL: url, Token: tokenFor(t, "alice"), Store: store, Seed: 7,
		Config: core.Config{DeviceID: "a1", HistoryPage: 20, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	var freeOnce sync.Once
	freeAll := func() { freeOnce.Do(func() { close(store.free) }) }
	t.Cleanup(freeAll) // before the Close above: a held write would stall it
	var mu sync.Mutex
	var seqs []uint64
	var early []uint64 // announced before the store held them
	all := make(chan struct{})
	alice.On(func(e core.Event) {
		if e.Kind != core.EventMessage || e.Message.ConvID != conv {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seqs = append(seqs, e.Message.Seq)
		if !store.has(conv, e.Message.Seq) {
			early = append(early, e.Message.Seq)
		}
		if len(seqs) == n {
			close(all)
		}
	})
	synced := make(chan error, 1)
	go func() {
		err := alice.Connect(ctx)
		if err == nil {
			err = alice.WaitSynced(ctx)
		}
		synced <- err
	}()
	// Let the writes land one by one until WaitSynced returns, then no more:
	// a write the loop had not finished then would still be held.
	for done := false; !done; {
		select {
		case store.release <- struct{}{}:
		case err := <-synced:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if !store.has(conv, seq) {
			t.Fatalf("synced, but the store does not hold seq %d", seq)
		}
	}
	freeAll()
	if o := store.overlaps.Load(); o != 0 {
		t.Errorf("%d store writes overlapped another", o)
	}
	select { // the events may still be on their way to the handler
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("%d of %d messages announced", len(seqs), n)
	}
	mu.Lock()
	defer mu.Unlock()
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
