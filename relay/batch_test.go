//go:build !js

package relay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// uploadCountingStore is a memory store whose AddUploads records the size
// of each call, and holds the first call until release is closed.
type uploadCountingStore struct {
	*MemoryStore
	release chan struct{}
	mu      sync.Mutex
	calls   []int
}

func (s *uploadCountingStore) AddUploads(ctx context.Context, ups []Upload) error {
	s.mu.Lock()
	first := len(s.calls) == 0
	s.calls = append(s.calls, len(ups))
	s.mu.Unlock()
	if first {
		<-s.release
	}
	return s.MemoryStore.AddUploads(ctx, ups)
}

// A burst of uploads (clients sending the attachments they queued while
// offline, as they come back after a relay restart) is recorded in the
// store a batch per transaction: each upload took a transaction, and an
// fsync, of its own on the store's writer, and the messages waited behind
// them. Every upload is still recorded before RecordUpload returns.
func TestUploadsRecordedInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &uploadCountingStore{MemoryStore: NewMemoryStore(), release: make(chan struct{})}
	r := startRelay(t, func(o *Options) { o.Store = store })
	const n, users = 1000, 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.srv.RecordUpload(ctx, fmt.Sprintf("u%d", i%users), fmt.Sprintf("%032x", i))
		}()
	}
	// The first call holds the store: wait until every upload is in a
	// call or waits for one.
	started := func() int {
		store.mu.Lock()
		defer store.mu.Unlock()
		return r.srv.uploadIndex.waiting() + len(store.calls)
	}
	for deadline := time.Now().Add(30 * time.Second); started() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d uploads in a call or waiting", started(), n)
		}
	}
	close(store.release)
	wg.Wait()
	for _, err := range errs {
		ok(t, err)
	}
	total := 0
	for u := range users {
		ids, err := store.UploadsOf(ctx, fmt.Sprintf("u%d", u), "", n)
		ok(t, err)
		total += len(ids)
	}
	equal(t, total, n, "uploads recorded")
	store.mu.Lock()
	defer store.mu.Unlock()
	sum := 0
	for _, c := range store.calls {
		if c > uploadBatch {
			t.Fatalf("a call of %d uploads, above %d: %v", c, uploadBatch, store.calls)
		}
		sum += c
	}
	if want := 1 + (n-1+uploadBatch-1)/uploadBatch; len(store.calls) != want || sum != n {
		t.Fatalf("%d calls for %d uploads (the first: %v), want %d calls and each upload once", len(store.calls), sum, store.calls[:min(len(store.calls), 8)], want)
	}
}
