package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
)

// commitReq is one send waiting for the committer.
type commitReq struct {
	req    AppendRequest
	readAt time.Time // when its frame was read, for the ack latency metric
	// done completes the request on the committer goroutine, in commit
	// order. It must not block.
	done func(*commitReq, AppendResult)
	// stale, when set, is asked on the committer goroutine right before the
	// request would be stored: true refuses it with 4300 instead, because an
	// earlier send of its connection was refused. It must not block.
	stale func() bool
}

// committer is the group committer: one goroutine that takes whatever sends
// are waiting (up to max), stores them in one transaction, and only then
// completes them — so every ack is durable (SPEC §2.1) while one fsync
// serves many messages. Because requests enter through one channel and are
// completed in order, the sends of one connection commit in the order they
// were read and their acks leave in commit order.
type committer struct {
	store   Appender
	max     int
	log     *slog.Logger
	onBatch func(n int)

	in   chan *commitReq
	quit chan struct{} // closed when stop begins: submit fails fast
	done chan struct{} // closed when run returns

	mu     sync.RWMutex // submitters hold it shared; stop takes it to seal intake
	sealed bool
	seal   chan struct{} // closed once no submit can add to in any more

	stopOnce sync.Once
}

func newCommitter(store Appender, max int, log *slog.Logger, onBatch func(int)) *committer {
	return &committer{
		store: store, max: max, log: log, onBatch: onBatch,
		in:   make(chan *commitReq, max),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		seal: make(chan struct{}),
	}
}

// submit hands r to the committer. It blocks while the committer is full
// (backpressure) and returns false once the committer is stopping; r is then
// never completed.
func (c *committer) submit(r *commitReq) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.sealed {
		return false
	}
	select {
	case c.in <- r:
		return true
	case <-c.quit:
		return false
	}
}

// run is the committer goroutine.
func (c *committer) run() {
	defer close(c.done)
	batch := make([]*commitReq, 0, c.max)
	items := make([]AppendRequest, 0, c.max)
	for {
		var first *commitReq
		select {
		case first = <-c.in:
		case <-c.seal:
			// Intake is sealed: commit what is left, then stop.
			select {
			case first = <-c.in:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < c.max {
			select {
			case r := <-c.in:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch, items[:0])
		clear(batch)
	}
}

func (c *committer) commit(batch []*commitReq, items []AppendRequest) {
	live := batch[:0]
	for _, r := range batch {
		if r.stale != nil && r.stale() {
			r.done(r, AppendResult{Err: proto.Errorf(proto.CodeUnavailable, "an earlier send of this connection was refused; resend in order")})
			continue
		}
		live = append(live, r)
		items = append(items, r.req)
	}
	if batch = live; len(batch) == 0 {
		return
	}
	c.onBatch(len(batch))
	// Not the caller's context: a batch that started commits even while the
	// relay shuts down, so no client is left without its ack.
	res, err := c.store.Append(context.Background(), items)
	if err == nil && len(res) != len(batch) {
		err = proto.Errorf(proto.CodeInternal, "store returned %d results for %d sends", len(res), len(batch))
	}
	if err != nil {
		c.log.Error("commit failed", "sends", len(batch), "err", err)
		fail := AppendResult{Err: proto.Errorf(proto.CodeUnavailable, "store unavailable, retry")}
		for _, r := range batch {
			r.done(r, fail)
		}
		return
	}
	for i, r := range batch {
		r.done(r, res[i])
	}
}

// stop seals intake, lets the committer commit and complete everything
// already submitted, and waits for it or for ctx.
func (c *committer) stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		close(c.quit) // unblocks submitters waiting on a full channel
		c.mu.Lock()   // waits for those submitters to leave
		c.sealed = true
		c.mu.Unlock()
		close(c.seal)
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
