package relay

import (
	"context"
	"errors"
	"sync"
)

// writeBatcher makes one store call (one transaction, one fsync) of the
// small writes that concurrent callers make at once, as the committer does
// for messages: a burst of requests (thousands of clients coming back
// after a relay restart) would otherwise take one transaction each on the
// store's single writer, and the message commits would queue behind them.
//
// A caller's write is done when do returns, as if it had made the call
// itself: nothing it promises its client changes. There is no goroutine of
// its own: the caller that finds no call in flight writes what waits (up
// to max items, its own first), then hands the rest to the first caller
// left waiting, so no caller writes for others longer than one call.
type writeBatcher[T, R any] struct {
	// write stores items in one store call and returns one result per
	// item, in order; an error fails them all.
	write func(ctx context.Context, items []T) ([]R, error)
	max   int

	mu    sync.Mutex
	queue []*batchWrite[T, R]
	busy  bool // a caller is writing: the next in the queue waits its turn
}

// batchWrite is one caller's item, waiting for its result or its turn to
// write.
type batchWrite[T, R any] struct {
	item  T
	res   R
	err   error
	lead  bool          // set before ready is closed: this caller writes next
	ready chan struct{} // closed when res and err are set, or lead is
}

// newWriteBatcher returns a batcher writing up to max items per call.
func newWriteBatcher[T, R any](max int, write func(ctx context.Context, items []T) ([]R, error)) *writeBatcher[T, R] {
	return &writeBatcher[T, R]{write: write, max: max}
}

// do writes item, with the items of the callers waiting beside it, and
// returns its result. The call runs on the context of the caller that
// makes it, without its cancellation: another caller's item must not fail
// because this one went away.
func (b *writeBatcher[T, R]) do(ctx context.Context, item T) (R, error) {
	w := &batchWrite[T, R]{item: item, ready: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	lead := !b.busy
	b.busy = true
	b.mu.Unlock()
	if !lead {
		<-w.ready
		if !w.lead {
			return w.res, w.err
		}
	}
	// w is at the head of the queue: it became the head when it led.
	b.mu.Lock()
	n := min(len(b.queue), b.max)
	batch := make([]*batchWrite[T, R], n)
	copy(batch, b.queue)
	b.queue = b.queue[n:]
	b.mu.Unlock()
	items := make([]T, n)
	for i, x := range batch {
		items[i] = x.item
	}
	res, err := b.write(context.WithoutCancel(ctx), items)
	if err == nil && len(res) != n {
		err = errShortBatch
	}
	for i, x := range batch {
		if err != nil {
			x.err = err
		} else {
			x.res = res[i]
		}
		if x != w {
			close(x.ready)
		}
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		next.lead = true
		close(next.ready)
	} else {
		b.busy = false
		b.queue = nil
	}
	b.mu.Unlock()
	return w.res, w.err
}

// waiting returns how many items wait for a call.
func (b *writeBatcher[T, R]) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// errShortBatch fails a batch whose store call returned too few results.
var errShortBatch = errors.New("relay: store returned another number of results than the batch's items")
