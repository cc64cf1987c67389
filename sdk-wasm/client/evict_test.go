package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// evictingStore is a MemoryStore that can drop the messages of a range, as
// a store under a size limit evicts the oldest history, and counts what it
// is asked to write back.
type evictingStore struct {
	*MemoryStore
	mu      sync.Mutex
	written map[uint64]int
}

func (s *evictingStore) Apply(b *core.Batch) error {
	s.mu.Lock()
	for _, m := range b.Messages {
		s.written[m.Seq]++
	}
	s.mu.Unlock()
	return s.MemoryStore.Apply(b)
}

func (s *evictingStore) evict(conv string, from, to uint64) {
	s.MemoryStore.mu.Lock()
	defer s.MemoryStore.mu.Unlock()
	for seq := from; seq <= to; seq++ {
		delete(s.MemoryStore.messages[conv], seq)
	}
}

// History the store evicted is fetched from the relay again when a page
// asks for it, and cached again; a page the store holds whole is not asked
// of the relay.
func TestEvictedHistoryComesBackFromTheRelay(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := &evictingStore{MemoryStore: NewMemoryStore(), written: map[uint64]int{}}
	alice := open(t, url, "alice", "a1", store)
	bob := open(t, url, "bob", "b1", nil)
	for _, c := range []*Client{alice, bob} {
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	conv := bob.P2P("alice")
	const n = 30
	for i := 1; i <= n; i++ {
		if _, err := bob.SendText(ctx, conv, "m"); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if cv, ok := alice.Conversation(conv); ok && cv.SyncedSeq == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("alice did not get the messages")
		}
		time.Sleep(10 * time.Millisecond)
	}
	store.evict(conv, 1, 18)
	store.mu.Lock()
	clear(store.written)
	store.mu.Unlock()

	seqs := func(ms []core.Message) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, m.Seq)
		}
		return out
	}
	want := func(from, to uint64) []uint64 {
		var out []uint64
		for s := from; s <= to; s++ {
			out = append(out, s)
		}
		return out
	}
	// The newest page is cached whole: the relay is not asked.
	page, err := alice.Messages(ctx, conv, 0, 10)
	if err != nil || !equal(seqs(page), want(21, 30)) {
		t.Fatalf("newest page %v, %v", seqs(page), err)
	}
	// Paging back into the evicted range: whole pages, as if nothing was evicted.
	var all []uint64
	before := uint64(0)
	for {
		page, err := alice.Messages(ctx, conv, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(seqs(page), all...)
		before = page[0].Seq
	}
	if !equal(all, want(1, n)) {
		t.Fatalf("paged back %v", all)
	}
	store.mu.Lock()
	for s := uint64(1); s <= n; s++ {
		w := store.written[s]
		if (s <= 18 && w != 1) || (s > 18 && w != 0) {
			t.Errorf("seq %d written back %d times", s, w)
		}
	}
	store.mu.Unlock()
	// And the cache holds them again: read straight from the store.
	cached, _ := store.Messages(conv, 0, 100)
	if !equal(seqs(cached), want(1, n)) {
		t.Fatalf("cached after the refill %v", seqs(cached))
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
