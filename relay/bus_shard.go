package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/parley-im/parley/proto"
)

var _ Bus = (*ShardBus)(nil)

// ShardOf is the shard, of shards, that serves user: FNV-1a 32-bit of the
// user id's UTF-8 bytes, mod shards. shards must be at least 1. The front
// door of a sharded relay computes the same function (in JavaScript:
// relay/testdata/shard_vectors.json holds both to the same answers).
func ShardOf(user string, shards int) int {
	if shards < 1 {
		panic("relay: ShardOf over fewer than one shard")
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(user); i++ {
		h ^= uint32(user[i])
		h *= prime
	}
	return int(h % uint32(shards))
}

// ShardSend carries one batch of envelopes to shard to (its
// ShardBus.Receive); an error means it may not have arrived. The batch is
// never modified afterwards, so it may be kept.
type ShardSend func(ctx context.Context, to int, batch []byte) error

// ShardBus is a Bus between the shards of one relay, each of which serves
// the users that ShardOf gives it (Options.Serves) and runs a Server over a
// ShardBus of its own. Every session of a user is on that user's shard, so
// routing needs no subscriptions: Publish splits an envelope's users by
// shard, delivers this shard's part at once to its own subscribers (as
// MemoryBus does: receivers ignore users they hold no session of) and queues
// each other shard's part for send, which carries it to that shard's
// Receive. It does no I/O of its own, so the transport (Durable Object
// stubs on Cloudflare Workers) is the caller's.
//
// Each destination has one queue and at most one send in flight: what is
// published meanwhile goes, merged, into the next batch, and batches go in
// publish order, which keeps the Bus's per-user order. A failed send is
// retried for a few seconds, then its batch is dropped, and the next batch
// to that shard tells it so: its Receive reports Lost to every subscriber
// first, and the relay's clients sync what they missed from the store.
// (Until something more is published for that shard, the news waits: no
// timer runs to repeat it.) A
// queue that grows past its bounds (a shard too slow or unreachable) drops
// its oldest envelopes the same way. When no batch waits, no goroutine
// runs and no timer is armed, so an idle shard can hibernate.
//
// Envelopes for addresses that are not user ids (the relay's own: every
// node's, a call's owner's) go to every shard, and each delivers them only
// to the subscriptions that watch them. Watch and Unwatch keep that count
// and return at once.
type ShardBus struct {
	self, shards int
	send         ShardSend
	log          *slog.Logger
	lim          shardLimits
	// epoch tells this bus's batches from those of an earlier instance of
	// the same shard, whose sequence numbers start over.
	epoch uint64

	ctx    context.Context // ends at Close, cancelling sends in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per destination being drained

	subMu sync.RWMutex
	subs  map[*shardSub]struct{}

	mu     sync.Mutex
	closed bool
	out    []shardQueue // by destination; out[self] stays empty

	in []shardSource // by sending shard

	dropped atomic.Uint64 // envelopes accepted and never sent
}

// shardLimits bound batches, queues and retries; tests shrink them.
type shardLimits struct {
	batch, batchBytes int             // one send
	queue, queueBytes int             // one destination's waiting envelopes
	timeout           time.Duration   // one attempt of a send
	backoff           []time.Duration // the waits before each retry
	total             time.Duration   // no retry starts later than this after the first attempt
}

var defaultShardLimits = shardLimits{
	batch: 256, batchBytes: 1 << 20,
	queue: 8192, queueBytes: 16 << 20,
	timeout: 2 * time.Second, total: 5 * time.Second,
	backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
		400 * time.Millisecond, 800 * time.Millisecond, time.Second},
}

// shardQueue is what waits for one destination.
type shardQueue struct {
	items   [][]byte // encoded envelopes, oldest first
	bytes   int
	lost    bool   // envelopes for the shard were dropped: the next batch says so
	sending bool   // a goroutine drains the queue
	seq     uint64 // of the last batch made
}

// shardSource is what a receiving bus remembers of one sending shard: the
// last batch delivered, so that a batch sent again (its first send failed
// after it arrived) is delivered once.
type shardSource struct {
	mu         sync.Mutex // held while a batch is delivered: one at a time, in order
	epoch, seq uint64
}

// NewShardBus returns the bus of shard self, of shards, that sends batches
// for other shards through send. It panics unless 0 <= self < shards and
// send is set. logger defaults to slog.Default().
func NewShardBus(self, shards int, send ShardSend, logger *slog.Logger) *ShardBus {
	if shards < 1 || self < 0 || self >= shards || send == nil {
		panic(fmt.Sprintf("relay: NewShardBus(%d, %d): shard out of range or no send", self, shards))
	}
	if logger == nil {
		logger = slog.Default()
	}
	b := &ShardBus{
		self: self, shards: shards, send: send, log: logger, lim: defaultShardLimits,
		epoch: rand.Uint64() | 1, subs: make(map[*shardSub]struct{}),
		out: make([]shardQueue, shards), in: make([]shardSource, shards),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// Dropped returns how many envelopes the bus accepted and then dropped: a
// send given up, a queue overflowed. Their shards are told to resync by
// the next batch sent to them.
func (b *ShardBus) Dropped() uint64 { return b.dropped.Load() }

// nodeAddress reports whether addr is a bus address of the relay's own
// rather than a user's: user ids are names (proto.ValidName), and the
// relay's addresses (everyone, callAddr) never are.
func nodeAddress(addr string) bool { return !proto.ValidName(addr) }

// Publish implements Bus. It never waits for the network, and fails only
// when the bus is closed.
func (b *ShardBus) Publish(_ context.Context, e Envelope) error {
	parts := b.split(e.Users)
	var remote [][]byte // encoded before the lock is taken
	for to, users := range parts {
		if to != b.self && len(users) > 0 {
			if remote == nil {
				remote = make([][]byte, b.shards)
			}
			remote[to] = encodeShardEnvelope(e, users)
		}
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	for to, item := range remote {
		if item != nil {
			b.enqueueLocked(to, item)
		}
	}
	b.mu.Unlock()
	if local := parts[b.self]; len(local) > 0 {
		e.Users = local
		b.subMu.RLock()
		for s := range b.subs {
			s.deliver(e)
		}
		b.subMu.RUnlock()
	}
	return nil
}

// split returns users by shard; the relay's own addresses are in every part.
func (b *ShardBus) split(users []string) [][]string {
	if b.shards == 1 {
		return [][]string{users}
	}
	parts := make([][]string, b.shards)
	for _, u := range users {
		if nodeAddress(u) {
			for i := range parts {
				parts[i] = append(parts[i], u)
			}
			continue
		}
		i := ShardOf(u, b.shards)
		parts[i] = append(parts[i], u)
	}
	return parts
}

// enqueueLocked queues item for shard to, dropping the oldest waiting
// envelopes past the queue's bounds, and starts a sender unless one runs.
func (b *ShardBus) enqueueLocked(to int, item []byte) {
	q := &b.out[to]
	q.items = append(q.items, item)
	q.bytes += len(item)
	for len(q.items) > 1 && (len(q.items) > b.lim.queue || q.bytes > b.lim.queueBytes) {
		q.bytes -= len(q.items[0])
		q.items[0] = nil
		q.items = q.items[1:]
		b.dropped.Add(1)
		if !q.lost {
			b.log.Warn("shard bus: queue full, dropping the oldest envelopes; the shard will resync", "shard", b.self, "to", to)
		}
		q.lost = true
	}
	if !q.sending {
		q.sending = true
		b.wg.Add(1)
		go b.drain(to)
	}
}

// drain sends what waits for shard to, one batch at a time, until nothing
// does.
func (b *ShardBus) drain(to int) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		q := &b.out[to]
		if b.closed || len(q.items) == 0 {
			q.sending = false
			b.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.items) && n < b.lim.batch && (n == 0 || size+len(q.items[n]) <= b.lim.batchBytes) {
			size += len(q.items[n])
			n++
		}
		items := make([]cbor.RawMessage, n)
		for i := range items {
			items[i] = q.items[i]
		}
		clear(q.items[:n])
		q.items, q.bytes = q.items[n:], q.bytes-size
		if len(q.items) == 0 {
			q.items = nil // let the array go
		}
		head := shardBatchOut{From: b.self, Epoch: b.epoch, Seq: q.seq + 1, Lost: q.lost, Envs: items}
		q.seq, q.lost = head.Seq, false
		b.mu.Unlock()

		batch := encodeShardBatch(head)
		if err := b.transmit(to, batch); err != nil {
			b.mu.Lock()
			if !b.closed {
				b.out[to].lost = true
				b.dropped.Add(uint64(n))
				b.log.Warn("shard bus: gave up sending a batch; the shard will resync", "shard", b.self, "to", to, "envelopes", n, "err", err)
			}
			b.mu.Unlock()
		}
	}
}

// transmit sends batch to shard to, retrying with backoff for as long as
// the limits allow.
func (b *ShardBus) transmit(to int, batch []byte) error {
	start := time.Now()
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(b.ctx, b.lim.timeout)
		err := b.send(ctx, to, batch)
		cancel()
		if err == nil || try == len(b.lim.backoff) || b.ctx.Err() != nil || time.Since(start)+b.lim.backoff[try] > b.lim.total {
			return err
		}
		t := time.NewTimer(b.lim.backoff[try])
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			return b.ctx.Err()
		}
	}
}

// Receive delivers a batch another shard's send carried to this bus's
// subscribers, after reporting Lost to every one of them when the sender
// dropped envelopes for this shard. A batch delivered before (sent again
// after a send that failed late) is skipped. A batch that is not one is an
// error, and nothing of it is delivered.
func (b *ShardBus) Receive(batch []byte) error {
	var in shardBatchIn
	if err := shardDec.Unmarshal(batch, &in); err != nil {
		return fmt.Errorf("relay: shard batch: %w", err)
	}
	if in.From < 0 || in.From >= b.shards || in.From == b.self {
		return fmt.Errorf("relay: shard batch from shard %d, to shard %d of %d", in.From, b.self, b.shards)
	}
	for i := range in.Envs {
		if len(in.Envs[i].Users) == 0 {
			return errors.New("relay: shard batch: an envelope for no one")
		}
	}
	src := &b.in[in.From]
	src.mu.Lock()
	defer src.mu.Unlock()
	if in.Epoch == src.epoch && in.Seq <= src.seq {
		return nil
	}
	b.subMu.RLock()
	defer b.subMu.RUnlock()
	if b.subs == nil {
		return ErrClosed
	}
	src.epoch, src.seq = in.Epoch, in.Seq
	if in.Lost {
		for s := range b.subs {
			s.r.Lost()
		}
	}
	for i := range in.Envs {
		w := &in.Envs[i]
		e := Envelope{Users: w.Users, Except: w.Except, Frame: w.Frame, Kick: w.Kick, KickAt: w.KickAt, Control: w.Control}
		for s := range b.subs {
			s.deliver(e)
		}
	}
	return nil
}

// Close stops sending: batches not sent yet are dropped, sends in flight
// are cancelled and waited for. Subscriptions end; later publishes fail.
func (b *ShardBus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	for i := range b.out {
		b.out[i].items, b.out[i].bytes = nil, 0
	}
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.subMu.Lock()
	for s := range b.subs {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	b.subs = nil
	b.subMu.Unlock()
}

// Subscribe implements Bus.
func (b *ShardBus) Subscribe(r Receiver) (Subscription, error) {
	s := &shardSub{bus: b, r: r, watch: make(map[string]int)}
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.subs == nil {
		return nil, ErrClosed
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// shardSub is one receiver's subscription. It counts its watches of the
// relay's own addresses only: a shard receives every envelope of its users.
type shardSub struct {
	bus *ShardBus
	r   Receiver

	mu     sync.Mutex
	watch  map[string]int // node addresses watched, with their references
	closed bool
}

// Watch implements Subscription.
func (s *shardSub) Watch(_ context.Context, addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if nodeAddress(addr) {
		s.watch[addr]++
	}
	return nil
}

// Unwatch implements Subscription.
func (s *shardSub) Unwatch(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.watch[addr]; n > 1 {
		s.watch[addr] = n - 1
	} else {
		delete(s.watch, addr)
	}
}

// Close implements Subscription.
func (s *shardSub) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bus.subMu.Lock()
	delete(s.bus.subs, s)
	s.bus.subMu.Unlock()
}

// deliver hands e to the receiver, without the relay's addresses that this
// subscription does not watch.
func (s *shardSub) deliver(e Envelope) {
	for i, u := range e.Users {
		if nodeAddress(u) && !s.watches(u) {
			keep := append([]string(nil), e.Users[:i]...)
			for _, u := range e.Users[i+1:] {
				if !nodeAddress(u) || s.watches(u) {
					keep = append(keep, u)
				}
			}
			if len(keep) == 0 {
				return
			}
			e.Users = keep
			break
		}
	}
	s.r.Deliver(e)
}

func (s *shardSub) watches(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watch[addr] > 0
}

// The wire format of a batch, CBOR (RFC 8949) with integer keys:
//
//	batch    = {1: from, 2: epoch, 3: seq, ? 4: lost, 5: [* envelope]}
//	envelope = {1: [+ user], ? 2: except, ? 3: frame, ? 4: kick, ? 5: kick-at, ? 6: control}
//
// seq counts the batches of one (from, epoch) to one shard from 1. Unknown
// keys are skipped, so a newer shard can add some.

// shardBatchOut is a batch as a sender encodes it: its envelopes were
// encoded one by one as they were queued.
type shardBatchOut struct {
	From  int               `cbor:"1,keyasint"`
	Epoch uint64            `cbor:"2,keyasint"`
	Seq   uint64            `cbor:"3,keyasint"`
	Lost  bool              `cbor:"4,keyasint,omitempty"`
	Envs  []cbor.RawMessage `cbor:"5,keyasint"`
}

// shardBatchIn is a batch as Receive decodes it.
type shardBatchIn struct {
	From  int             `cbor:"1,keyasint"`
	Epoch uint64          `cbor:"2,keyasint"`
	Seq   uint64          `cbor:"3,keyasint"`
	Lost  bool            `cbor:"4,keyasint,omitempty"`
	Envs  []shardEnvelope `cbor:"5,keyasint"`
}

// shardEnvelope is an Envelope on the wire.
type shardEnvelope struct {
	Users   []string `cbor:"1,keyasint"`
	Except  string   `cbor:"2,keyasint,omitempty"`
	Frame   []byte   `cbor:"3,keyasint,omitempty"`
	Kick    string   `cbor:"4,keyasint,omitempty"`
	KickAt  int64    `cbor:"5,keyasint,omitempty"`
	Control []byte   `cbor:"6,keyasint,omitempty"`
}

// shardDec reads batches: bytes from another shard are trusted no more than
// any network input.
var shardDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{MaxNestedLevels: 4, MaxMapPairs: 16, DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// encodeShardEnvelope encodes e for users.
func encodeShardEnvelope(e Envelope, users []string) []byte {
	b, err := cbor.Marshal(shardEnvelope{Users: users, Except: e.Except, Frame: e.Frame, Kick: e.Kick, KickAt: e.KickAt, Control: e.Control})
	if err != nil {
		panic(err) // strings, byte strings and an integer always encode
	}
	return b
}

// encodeShardBatch encodes b.
func encodeShardBatch(b shardBatchOut) []byte {
	out, err := cbor.Marshal(b)
	if err != nil {
		panic(err) // the envelopes are the encoder's own output
	}
	return out
}
