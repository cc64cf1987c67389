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
	from   *Session  // the sender's session: the ack goes to it
	id     uint64    // the Send's request id
	readAt time.Time // when its frame was read, for the ack latency metric
	size   int64     // what admission counted for it
}

// committer is the group committer: one goroutine that takes whatever sends
// are waiting (up to max), stores them in one transaction, and only then
// completes them — so every ack is durable while one fsync serves many
// messages. Because requests enter through one channel and are completed in
// order, the sends of one connection commit in the order they were read and
// their acks leave in commit order.
//
// A send's whole path after its session read it is here: submit, commit,
// then complete — the ack to the sender's session, then one Deliver through
// the bus to every member's sessions.
type committer struct {
	store   Appender
	max     int
	log     *slog.Logger
	metrics *metrics
	fan     *fanout
	hooks   *webhooks // after-message webhooks; nil: none

	in   chan *commitReq
	quit chan struct{} // closed when stop begins: submit fails fast
	done chan struct{} // closed when run returns

	mu     sync.RWMutex // submitters hold it shared; stop takes it to seal intake
	sealed bool
	seal   chan struct{} // closed once no submit can add to in any more

	stopOnce sync.Once
}

// newCommitter returns a committer taking up to max sends per transaction,
// with room for queue sends waiting: admission keeps the sends in flight
// below it, so a submit does not block.
func newCommitter(store Appender, max, queue int, log *slog.Logger, m *metrics, fan *fanout) *committer {
	return &committer{
		store: store, max: max, log: log, metrics: m, fan: fan,
		in:   make(chan *commitReq, queue),
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

// queued returns how many sends wait for the committer.
func (c *committer) queued() int { return len(c.in) }

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
	var gated []*proto.Error
	if feed, ok := c.store.(UserFeed); ok {
		var err error
		if gated, err = gateDirect(context.Background(), feed, batch); err != nil {
			c.log.Error("reading block lists failed", "sends", len(batch), "err", err)
			for _, r := range batch {
				c.complete(r, AppendResult{Err: storeFailure(err)})
			}
			return
		}
	}
	for i, r := range batch {
		if gated != nil && gated[i] != nil {
			c.complete(r, AppendResult{Err: gated[i]})
			continue
		}
		if r.from.refused.Load() {
			// An earlier send of this connection was refused: stored now,
			// this one would take a seq before it (see Session.send).
			c.complete(r, AppendResult{Err: errResendInOrder})
			continue
		}
		live = append(live, r)
		items = append(items, r.req)
	}
	if batch = live; len(batch) == 0 {
		return
	}
	c.metrics.batchSize.observe(float64(len(batch)))
	// Not the caller's context: a batch that started commits even while the
	// relay shuts down, so no client is left without its ack.
	began := time.Now()
	res, err := c.store.Append(context.Background(), items)
	c.metrics.commitLatency.observe(since(began))
	if err == nil && len(res) != len(batch) {
		err = proto.Errorf(proto.CodeInternal, "store returned %d results for %d sends", len(res), len(batch))
	}
	if err != nil {
		c.log.Error("commit failed", "sends", len(batch), "err", err)
		fail := AppendResult{Err: storeFailure(err)}
		for _, r := range batch {
			c.complete(r, fail)
		}
		return
	}
	for i, r := range batch {
		c.complete(r, res[i])
	}
}

// errResendInOrder refuses a send queued behind one the store refused.
var errResendInOrder = proto.Errorf(proto.CodeUnavailable, "an earlier send of this connection was refused; resend in order")

// complete finishes one send, in commit order: the ack (or the refusal) to
// the sender's session, then — for a new message — one Deliver, encoded
// once, published to every other session of every member. Fan-out happens
// even if the sender is gone: the message is committed, so its members must
// see it. Neither step blocks.
func (c *committer) complete(r *commitReq, res AppendResult) {
	// Answered from here on: room for another send.
	adm := r.from.env.admit
	adm.answered(time.Since(r.readAt))
	adm.leave(r.from, r.size)
	if res.Err != nil {
		r.from.replyErr(r.id, res.Err)
		if res.Err.Code.Retryable() && r.from.refused.CompareAndSwap(false, true) {
			r.from.Close(proto.CodeOverloaded, "store unavailable: reconnect and resend in order")
		}
		return
	}
	m := &res.Message
	// Counted before the ack leaves, so that a client holding its ack sees
	// the metrics that include it.
	if res.Duplicate {
		c.metrics.dedup.Add(1)
	} else {
		c.metrics.stored.Add(1)
	}
	c.metrics.ackLatency.observe(since(r.readAt))
	r.from.reply(proto.Frame{Type: proto.TypeAck, ID: r.id, Body: &proto.Ack{
		ConvID: m.ConvID, ClientID: m.ClientID, Seq: m.Seq, CreatedAt: m.CreatedAt, Duplicate: res.Duplicate,
	}})
	if !res.Duplicate {
		began := time.Now()
		dm := *m
		unfoldAttachment(&dm)
		c.fan.publish(res.Members, r.from.id, proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: dm}}))
		c.metrics.fanoutLatency.observe(since(began))
		c.hooks.message(*m, res.Members)
		// An attachment the event erased (session_lifecycle.go): its blob
		// is deleted unless another message still carries it.
		if res.Released != "" && !r.from.env.holdReleases.Load() {
			go r.from.env.releaseAttachment(res.Released, releaseToken(m))
		}
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
