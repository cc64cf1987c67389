//go:build !js

package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/parley-im/parley/proto"
)

// shardVector is one pinned answer of ShardOf.
type shardVector struct {
	User   string `json:"user"`
	Shards int    `json:"shards"`
	Shard  int    `json:"shard"`
}

// shardVectors were computed apart from ShardOf (FNV-1a 32 by hand). Every
// hash here has its top bit set, so an implementation that takes it as a
// signed 32-bit integer before the modulo gets them wrong.
var shardVectors = []shardVector{
	{"alice", 8, 7}, {"bob", 8, 4}, {"carol", 8, 2}, {"dave", 8, 7},
	{"zoë", 8, 4}, {"用户", 8, 1},
	{"alice", 1, 0}, {"bob", 1, 0}, {"", 4, 1},
	{"u-12345@example.com", 16, 7}, {"alice", 3, 2}, {"bob", 7, 3},
	{"alice", 1000, 479}, {"x", 2, 1},
}

// TestShardOf pins ShardOf, and holds testdata/shard_vectors.json, which
// the front door's JavaScript is checked against, to the same vectors.
func TestShardOf(t *testing.T) {
	t.Parallel()
	for _, v := range shardVectors {
		equal(t, ShardOf(v.User, v.Shards), v.Shard, fmt.Sprintf("ShardOf(%q, %d)", v.User, v.Shards))
	}
	raw, err := os.ReadFile("testdata/shard_vectors.json")
	ok(t, err)
	var file []shardVector
	ok(t, json.Unmarshal(raw, &file))
	equal(t, file, shardVectors, "testdata/shard_vectors.json")

	counts := make([]int, 8)
	for i := range 8000 {
		counts[ShardOf(fmt.Sprintf("user%d", i), 8)]++
	}
	for i, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("shard %d of 8 serves %d of 8000 users", i, n)
		}
	}
}

// shardLog is a Receiver that keeps what it is given, Lost included, in
// the order it came.
type shardLog struct {
	mu     sync.Mutex
	events []shardEvent
	wake   chan struct{}
}

// shardEvent is a delivered envelope, or a Lost when lost is set.
type shardEvent struct {
	lost bool
	e    Envelope
}

func newShardLog() *shardLog { return &shardLog{wake: make(chan struct{}, 1)} }

func (l *shardLog) Deliver(e Envelope) { l.add(shardEvent{e: e}) }
func (l *shardLog) Lost()              { l.add(shardEvent{lost: true}) }

func (l *shardLog) add(ev shardEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *shardLog) snapshot() []shardEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// await waits until cond holds over the events.
func (l *shardLog) await(t testing.TB, what string, cond func([]shardEvent) bool) []shardEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		evs := l.snapshot()
		if cond(evs) {
			return evs
		}
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("%s: not within 10 s; %d events: %s", what, len(evs), describe(evs))
		}
	}
}

// frames is what the events say, in order: each envelope's frame, "lost"
// for a Lost.
func frames(evs []shardEvent) []string {
	var out []string
	for _, ev := range evs {
		if ev.lost {
			out = append(out, "lost")
		} else {
			out = append(out, string(ev.e.Frame))
		}
	}
	return out
}

func describe(evs []shardEvent) string {
	f := frames(evs)
	if len(f) > 20 {
		f = append(f[:10:10], append([]string{"…"}, f[len(f)-10:]...)...)
	}
	return strings.Join(f, " ")
}

// shardFault is what one send of a shardNet does.
type shardFault int

const (
	sendOK     shardFault = iota
	sendLost              // fails without arriving
	sendLate              // arrives, then reports a failure (the answer was lost)
	sendHangUp            // fails at once, and arrives later (a retry overtakes it)
)

// shardNet wires ShardBuses to each other in-process, as Durable Object
// stubs would: a send copies the batch and hands it to the destination's
// Receive on a goroutine of its own after a random delay, and returns what
// Receive returned. Faults, delays and gates (a destination that takes
// nothing until released) are knobs; the randomness is seeded.
type shardNet struct {
	t     testing.TB
	buses []*ShardBus
	logs  []*shardLog
	subs  []Subscription
	seed  uint64

	mu       sync.Mutex
	rnd      *rand.Rand
	maxDelay time.Duration
	fault    func(rnd *rand.Rand, from, to int) shardFault // nil: every send succeeds
	gates    map[int]chan struct{}
	sent     []shardSent

	stop chan struct{}
	wg   sync.WaitGroup // deliveries in flight
}

// shardSent is one send a shardNet saw.
type shardSent struct {
	from, to  int
	envelopes int
	bytes     int
	lost      bool
}

// newShardNet starts n shards, each with one shardLog subscribed, and
// retries fast enough for tests.
func newShardNet(t testing.TB, n int) *shardNet {
	seed := uint64(time.Now().UnixNano())
	net := &shardNet{t: t, seed: seed, rnd: rand.New(rand.NewPCG(seed, 0x5eed)), gates: map[int]chan struct{}{}, stop: make(chan struct{})}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shardNet seed %d", seed)
		}
	})
	for i := range n {
		b := NewShardBus(i, n, net.sendFrom(i), testLogger())
		b.lim.backoff = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond, 16 * time.Millisecond, 32 * time.Millisecond, 64 * time.Millisecond}
		b.lim.timeout = 2 * time.Second
		l := newShardLog()
		sub, err := b.Subscribe(l)
		ok(t, err)
		net.buses, net.logs, net.subs = append(net.buses, b), append(net.logs, l), append(net.subs, sub)
	}
	t.Cleanup(func() {
		for _, b := range net.buses {
			b.Close()
		}
		close(net.stop)
		net.wg.Wait()
	})
	return net
}

// gate holds every delivery to shard to until the returned func is called.
func (n *shardNet) gate(to int) (release func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := make(chan struct{})
	n.gates[to] = g
	return sync.OnceFunc(func() {
		n.mu.Lock()
		delete(n.gates, to)
		n.mu.Unlock()
		close(g)
	})
}

func (n *shardNet) sendFrom(from int) ShardSend {
	return func(ctx context.Context, to int, batch []byte) error {
		var head shardBatchIn
		if err := shardDec.Unmarshal(batch, &head); err != nil {
			n.t.Errorf("shard %d sent shard %d a batch it cannot read: %v", from, to, err)
		}
		n.mu.Lock()
		f := sendOK
		if n.fault != nil {
			f = n.fault(n.rnd, from, to)
		}
		delay := time.Duration(n.rnd.Int64N(int64(n.maxDelay) + 1))
		gate := n.gates[to]
		n.sent = append(n.sent, shardSent{from: from, to: to, envelopes: len(head.Envs), bytes: len(batch), lost: head.Lost})
		n.mu.Unlock()
		if f == sendLost {
			return errors.New("shard unreachable")
		}
		data := bytes.Clone(batch)
		done := make(chan error, 1)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if gate != nil {
				select {
				case <-gate:
				case <-n.stop:
					done <- errors.New("stopped")
					return
				}
			}
			time.Sleep(delay)
			done <- n.buses[to].Receive(data)
		}()
		if f == sendHangUp {
			return errors.New("connection reset")
		}
		select {
		case err := <-done:
			if err == nil && f == sendLate {
				return errors.New("connection reset after the call")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sends returns the sends seen so far.
func (n *shardNet) sends() []shardSent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sent)
}

// idle waits until no shard has a sender running: nothing ticks while
// nothing waits.
func (n *shardNet) idle() {
	n.t.Helper()
	shardsIdle(n.t, n.buses...)
}

// shardsIdle waits until no sender of buses runs.
func shardsIdle(t testing.TB, buses ...*ShardBus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := false
		for _, b := range buses {
			b.mu.Lock()
			for i := range b.out {
				busy = busy || b.out[i].sending || len(b.out[i].items) > 0
			}
			b.mu.Unlock()
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a shard bus still sends after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// userOn returns a user id that shard of shards serves, the first of
// prefix0, prefix1, ….
func userOn(prefix string, shard, shards int) string {
	for i := 0; ; i++ {
		if u := fmt.Sprint(prefix, i); ShardOf(u, shards) == shard {
			return u
		}
	}
}

// TestShardBusDelivery is the invariant: every shard publishes envelopes
// for random sets of users while sends fail now and then (before arriving,
// after arriving, and arriving after the retry), and each user's shard gets
// every envelope for them exactly once, in each publisher's order, and
// never one for a user it does not serve. No failure lasts long enough to
// drop a batch, so no shard hears Lost.
func TestShardBusDelivery(t *testing.T) {
	t.Parallel()
	const shards, perShard, users = 4, 400, 24
	net := newShardNet(t, shards)
	net.maxDelay = 200 * time.Microsecond
	net.fault = func(rnd *rand.Rand, _, _ int) shardFault {
		switch r := rnd.IntN(100); {
		case r < 5:
			return sendLost
		case r < 10:
			return sendLate
		case r < 15:
			return sendHangUp
		}
		return sendOK
	}
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("u%02d", i)
	}
	// want[user] lists, per publisher, the frames for user in publish order.
	want := make(map[string][][]string)
	for _, u := range names {
		want[u] = make([][]string, shards)
	}
	plans := make([][][]string, shards) // plans[p][i]: the users of publisher p's i-th envelope
	for p := range plans {
		rnd := rand.New(rand.NewPCG(net.seed, uint64(p)))
		for i := range perShard {
			k := 1 + rnd.IntN(5)
			to := make([]string, 0, k)
			for _, j := range rnd.Perm(users)[:k] {
				to = append(to, names[j])
				want[names[j]][p] = append(want[names[j]][p], fmt.Sprintf("%d/%d", p, i))
			}
			plans[p] = append(plans[p], to)
		}
	}
	var wg sync.WaitGroup
	for p, plan := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, to := range plan {
				if i%16 == 0 {
					time.Sleep(50 * time.Microsecond) // let batches go out, not only merge
				}
				if err := net.buses[p].Publish(context.Background(), Envelope{Users: to, Except: "s", Frame: fmt.Appendf(nil, "%d/%d", p, i)}); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		}()
	}
	wg.Wait()

	total := make([]int, shards) // (envelope, user) pairs each shard must get
	for u, per := range want {
		for _, fs := range per {
			total[ShardOf(u, shards)] += len(fs)
		}
	}
	for s, l := range net.logs {
		evs := l.await(t, fmt.Sprintf("shard %d", s), func(evs []shardEvent) bool {
			n := 0
			for _, ev := range evs {
				n += len(ev.e.Users)
			}
			return n >= total[s]
		})
		got := make(map[string][][]string)
		for _, ev := range evs {
			if ev.lost {
				t.Fatalf("shard %d heard Lost, yet every failure was transient", s)
			}
			var p, i int
			_, err := fmt.Sscanf(string(ev.e.Frame), "%d/%d", &p, &i)
			ok(t, err)
			equal(t, ev.e.Except, "s", "except")
			for _, u := range ev.e.Users {
				if ShardOf(u, shards) != s {
					t.Fatalf("shard %d got %s for %s, whom shard %d serves", s, ev.e.Frame, u, ShardOf(u, shards))
				}
				if got[u] == nil {
					got[u] = make([][]string, shards)
				}
				got[u][p] = append(got[u][p], string(ev.e.Frame))
			}
		}
		for u := range got {
			for p := range shards {
				equal(t, got[u][p], want[u][p], fmt.Sprintf("frames of publisher %d for %s on shard %d, once each and in order", p, u, s))
			}
		}
	}
	net.idle()
	for _, b := range net.buses {
		equal(t, b.Dropped(), uint64(0), "envelopes dropped")
	}
	t.Logf("%d sends", len(net.sends()))
}

// TestShardBusGivesUp: a shard unreachable for longer than the retries
// last loses the batch; the next batch to it carries the news, so its
// subscribers hear Lost before the later envelopes, which arrive in order.
func TestShardBusGivesUp(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 2)
	isDown := false // shard 1 is unreachable; read and set under net.mu
	net.fault = func(rnd *rand.Rand, from, to int) shardFault {
		if to == 1 && isDown {
			return sendLost
		}
		if rnd.IntN(10) == 0 {
			return sendLost // transient
		}
		return sendOK
	}
	set := func(v bool) {
		net.mu.Lock()
		isDown = v
		net.mu.Unlock()
	}
	far, near := userOn("far", 1, 2), userOn("near", 0, 2)
	pub := func(user, frame string) {
		t.Helper()
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{user}, Frame: []byte(frame)}))
	}
	pub(far, "a0")
	net.logs[1].await(t, "before the outage", func(evs []shardEvent) bool { return len(evs) == 1 })
	set(true)
	pub(far, "a1")
	pub(near, "n1") // this shard's own users are not held up
	equal(t, frames(net.logs[0].snapshot()), []string{"n1"}, "delivered here at once")
	deadline := time.Now().Add(5 * time.Second)
	for net.buses[0].Dropped() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	equal(t, net.buses[0].Dropped(), uint64(1), "envelopes dropped after the retries")
	net.idle() // nothing runs after giving up, whatever news it holds
	set(false)
	pub(far, "a2")
	pub(far, "a3")
	evs := net.logs[1].await(t, "after the outage", func(evs []shardEvent) bool { return len(evs) == 4 })
	equal(t, frames(evs), []string{"a0", "lost", "a2", "a3"}, "what shard 1 heard")
	pub(far, "a4")
	evs = net.logs[1].await(t, "later", func(evs []shardEvent) bool { return len(evs) == 5 })
	equal(t, frames(evs)[4], "a4", "Lost is told once")
}

// TestShardBusSlowShard: a shard that takes nothing holds up only what is
// for it; what waits for it meanwhile goes in few batches, bounded in
// envelopes and bytes, in publish order.
func TestShardBusSlowShard(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 3)
	release := net.gate(2)
	defer release()
	slow, fast := userOn("slow", 2, 3), userOn("fast", 1, 3)
	const n = 600
	var want []string
	for i := range n {
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{slow}, Frame: fmt.Appendf(nil, "s%d", i)}))
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{fast}, Frame: fmt.Appendf(nil, "f%d", i)}))
		want = append(want, fmt.Sprintf("s%d", i))
	}
	net.logs[1].await(t, "the fast shard", func(evs []shardEvent) bool { return len(evs) == n })
	equal(t, len(net.logs[2].snapshot()), 0, "the slow shard took nothing yet")
	// Large envelopes: a batch holds as many as fit in its byte bound.
	big := bytes.Repeat([]byte("x"), 300<<10)
	for i := range 10 {
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{slow}, Frame: append(fmt.Appendf(nil, "b%d:", i), big...)}))
		want = append(want, fmt.Sprintf("b%d", i))
	}
	release()
	evs := net.logs[2].await(t, "the slow shard", func(evs []shardEvent) bool { return len(evs) == n+10 })
	got := frames(evs)
	for i := range got {
		got[i], _, _ = strings.Cut(got[i], ":")
	}
	equal(t, got, want, "frames in publish order")
	batches := 0
	for _, s := range net.sends() {
		if s.to != 2 {
			continue
		}
		batches++
		if s.envelopes > 256 || s.envelopes > 1 && s.bytes > 1<<20+64 {
			t.Errorf("a batch of %d envelopes, %d bytes", s.envelopes, s.bytes)
		}
	}
	// The first send took what was queued when it started; the rest was
	// merged: 600 small envelopes fit in 3 batches, 10 of 300 KiB in 4.
	if batches > 1+3+4 {
		t.Errorf("%d sends to the slow shard, want at most 8", batches)
	}
}

// TestShardBusOverflow: a destination's queue past its bound drops its
// oldest envelopes, and the shard hears Lost before the newest, which
// arrive in order.
func TestShardBusOverflow(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 2)
	net.buses[0].lim.queue = 8
	release := net.gate(1)
	defer release()
	far := userOn("far", 1, 2)
	for i := range 20 {
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{far}, Frame: fmt.Appendf(nil, "%d", i)}))
	}
	release()
	evs := net.logs[1].await(t, "the newest", func(evs []shardEvent) bool {
		return len(evs) > 0 && string(evs[len(evs)-1].e.Frame) == "19"
	})
	got := frames(evs)
	lost := slices.Index(got, "lost")
	if lost < 0 {
		t.Fatalf("no Lost before the newest envelopes: %v", got)
	}
	equal(t, got[lost+1:], []string{"12", "13", "14", "15", "16", "17", "18", "19"}, "the newest, after Lost")
	equal(t, net.buses[0].Dropped(), uint64(20-(len(got)-1)), "envelopes dropped")
}

// TestShardBusAddresses: the relay's own addresses (every node's, a call
// owner's) reach every shard, and there only the subscriptions watching
// them; a user's envelope reaches their shard whatever it watches.
func TestShardBusAddresses(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 3)
	ctx := context.Background()
	last := func(s int, what string) {
		t.Helper()
		net.logs[s].await(t, what, func(evs []shardEvent) bool {
			return len(evs) > 0 && string(evs[len(evs)-1].e.Control) == what
		})
	}
	for _, sub := range net.subs {
		ok(t, sub.Watch(ctx, everyone))
	}
	ok(t, net.buses[0].Publish(ctx, Envelope{Users: []string{everyone}, Control: []byte("all")}))
	for s := range 3 {
		last(s, "all")
	}
	call := callAddr("c1")
	ok(t, net.subs[2].Watch(ctx, call))
	ok(t, net.subs[2].Watch(ctx, call))
	ok(t, net.buses[0].Publish(ctx, Envelope{Users: []string{call}, Control: []byte("call")}))
	last(2, "call")
	net.subs[2].Unwatch(call) // one reference left
	ok(t, net.buses[1].Publish(ctx, Envelope{Users: []string{call}, Control: []byte("call again")}))
	last(2, "call again")
	net.subs[2].Unwatch(call)
	// From one publisher from here on: "end" comes after the rest.
	ok(t, net.buses[0].Publish(ctx, Envelope{Users: []string{call}, Control: []byte("call gone")}))
	u := userOn("u", 1, 3)
	ok(t, net.buses[0].Publish(ctx, Envelope{Users: []string{call, u}, Frame: []byte("user")}))
	ok(t, net.buses[0].Publish(ctx, Envelope{Users: []string{everyone}, Control: []byte("end")}))

	for s, want := range [][]string{
		{"all", "end"},
		{"all", "user@" + u, "end"},
		{"all", "call", "call again", "end"},
	} {
		last(s, "end")
		var got []string
		for _, ev := range net.logs[s].snapshot() {
			if ev.e.Control != nil {
				got = append(got, string(ev.e.Control))
			} else {
				got = append(got, string(ev.e.Frame)+"@"+strings.Join(ev.e.Users, ","))
			}
		}
		equal(t, got, want, fmt.Sprintf("what shard %d delivered", s))
	}
}

// TestShardBusEnvelope: every field of an envelope crosses shards as it
// was published, with the users of the receiving shard.
func TestShardBusEnvelope(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 2)
	far, near := userOn("far", 1, 2), userOn("near", 0, 2)
	sent := []Envelope{
		{Users: []string{near, far}, Except: "s1", Frame: []byte{0x82, 0x01, 0x00}},
		{Users: []string{far}, Except: "s2", Kick: "phone", KickAt: 1_795_649_460_548_578_748},
		{Users: []string{far}, Except: "s3", Kick: "old", KickAt: -5},
		{Users: []string{far, near, far}, Control: []byte{0xa1, 0x01, 0x01}},
	}
	for _, e := range sent {
		ok(t, net.buses[0].Publish(context.Background(), e))
	}
	evs := net.logs[1].await(t, "every envelope", func(evs []shardEvent) bool { return len(evs) == len(sent) })
	for i, ev := range evs {
		want := sent[i]
		want.Users = slices.DeleteFunc(slices.Clone(want.Users), func(u string) bool { return u == near })
		equal(t, ev.e, want, fmt.Sprintf("envelope %d", i))
	}
	equal(t, frames(net.logs[0].snapshot()), []string{"\x82\x01\x00", ""}, "envelopes delivered on the publishing shard")
}

// TestShardBusClose: Close drops what waits, cancels the send in flight,
// and returns once no sender runs; everything after fails.
func TestShardBusClose(t *testing.T) {
	t.Parallel()
	net := newShardNet(t, 2)
	net.gate(1) // never released: Close must not wait for it
	far := userOn("far", 1, 2)
	for i := range 5 {
		ok(t, net.buses[0].Publish(context.Background(), Envelope{Users: []string{far}, Frame: fmt.Appendf(nil, "%d", i)}))
	}
	b := net.buses[0]
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a send that hangs")
	}
	before := len(net.sends())
	equal(t, errors.Is(b.Publish(context.Background(), Envelope{Users: []string{far}, Frame: []byte("x")}), ErrClosed), true, "publish after Close")
	equal(t, errors.Is(net.subs[0].Watch(context.Background(), everyone), ErrClosed), true, "watch after Close")
	_, err := b.Subscribe(newShardLog())
	equal(t, errors.Is(err, ErrClosed), true, "subscribe after Close")
	b.Close()
	net.subs[0].Close()
	time.Sleep(20 * time.Millisecond)
	equal(t, len(net.sends()), before, "sends after Close")
	b.mu.Lock()
	equal(t, b.out[1].items, [][]byte(nil), "what waited is dropped")
	b.mu.Unlock()

	batches := make(chan []byte, 1)
	capture := NewShardBus(1, 2, func(_ context.Context, _ int, bt []byte) error { batches <- bt; return nil }, testLogger())
	defer capture.Close()
	ok(t, capture.Publish(context.Background(), Envelope{Users: []string{userOn("x", 0, 2)}, Frame: []byte("f")}))
	equal(t, errors.Is(b.Receive(<-batches), ErrClosed), true, "receive after Close")
}

// TestShardBusReceive: a batch that is not one is refused whole; a batch
// delivered once is not delivered again, unless it comes from a new
// instance of its shard.
func TestShardBusReceive(t *testing.T) {
	t.Parallel()
	b := NewShardBus(0, 3, func(context.Context, int, []byte) error { return nil }, testLogger())
	defer b.Close()
	l := newShardLog()
	_, err := b.Subscribe(l)
	ok(t, err)
	enc := func(v any) []byte {
		out, err := cbor.Marshal(v)
		ok(t, err)
		return out
	}
	env := enc(shardEnvelope{Users: []string{"alice"}, Frame: []byte("hi")})
	batch := func(from int, epoch, seq uint64, envs ...[]byte) []byte {
		raw := make([]cbor.RawMessage, len(envs))
		for i, e := range envs {
			raw[i] = e
		}
		return encodeShardBatch(shardBatchOut{From: from, Epoch: epoch, Seq: seq, Envs: raw})
	}
	for name, bad := range map[string][]byte{
		"empty":             nil,
		"not CBOR":          []byte("hello"),
		"an array":          enc([]int{1, 2}),
		"from itself":       batch(0, 1, 1, env),
		"from no shard":     batch(3, 1, 1, env),
		"from below zero":   batch(-1, 1, 1, env),
		"for no one":        batch(1, 1, 1, enc(shardEnvelope{Frame: []byte("x")})),
		"users not strings": batch(1, 1, 1, enc(map[int]any{1: []int{1}})),
		"duplicate key":     {0xa2, 0x01, 0x01, 0x01, 0x02},
		"trailing bytes":    append(batch(1, 1, 1, env), 0x00),
		"a good then a bad": batch(1, 1, 1, env, enc(shardEnvelope{})),
	} {
		if err := b.Receive(bad); err == nil {
			t.Errorf("%s: Receive accepted it", name)
		}
	}
	equal(t, len(l.snapshot()), 0, "delivered from bad batches")

	ok(t, b.Receive(batch(1, 7, 1, env)))
	ok(t, b.Receive(batch(1, 7, 1, env))) // sent again: its first send failed late
	ok(t, b.Receive(batch(2, 7, 1, env))) // another shard
	ok(t, b.Receive(batch(1, 9, 1, env))) // shard 1 started again
	ok(t, b.Receive(batch(1, 9, 2)))      // a batch of nothing, as after a loss with nothing else to say
	equal(t, len(l.snapshot()), 3, "deliveries")
}

// TestShardBusConformance runs the Bus suite on one shard, and on three
// seen as one node: a subscription on every shard, publishing through the
// first, so that most users' envelopes cross to another shard.
func TestShardBusConformance(t *testing.T) {
	t.Parallel()
	t.Run("one shard", func(t *testing.T) {
		t.Parallel()
		testBus(t, func(t *testing.T) Bus {
			b := NewShardBus(0, 1, func(context.Context, int, []byte) error { return errors.New("no other shard") }, testLogger())
			t.Cleanup(b.Close)
			return b
		}, false)
	})
	t.Run("three shards", func(t *testing.T) {
		t.Parallel()
		testBus(t, func(t *testing.T) Bus { return shardsAsOne{newShardNet(t, 3)} }, false)
	})
}

// shardsAsOne is the shards of a shardNet as one Bus.
type shardsAsOne struct{ net *shardNet }

func (a shardsAsOne) Publish(ctx context.Context, e Envelope) error {
	return a.net.buses[0].Publish(ctx, e)
}

func (a shardsAsOne) Subscribe(r Receiver) (Subscription, error) {
	var subs multiSub
	for _, b := range a.net.buses {
		s, err := b.Subscribe(r)
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, nil
}

type multiSub []Subscription

// Watch watches a user on every shard (which changes nothing), and one of
// the relay's own addresses on one shard only, as one node would.
func (m multiSub) Watch(ctx context.Context, user string) error {
	if nodeAddress(user) {
		return m[0].Watch(ctx, user)
	}
	for _, s := range m {
		if err := s.Watch(ctx, user); err != nil {
			return err
		}
	}
	return nil
}

func (m multiSub) Unwatch(user string) {
	if nodeAddress(user) {
		m[0].Unwatch(user)
		return
	}
	for _, s := range m {
		s.Unwatch(user)
	}
}

func (m multiSub) Close() {
	for _, s := range m {
		s.Close()
	}
}

// FuzzShardBusReceive feeds Receive arbitrary bytes, from real batches on:
// it never panics, and what it delivers is addressed.
func FuzzShardBusReceive(f *testing.F) {
	var seeds [][]byte
	var mu sync.Mutex
	src := NewShardBus(1, 2, func(_ context.Context, _ int, b []byte) error {
		mu.Lock()
		seeds = append(seeds, b)
		mu.Unlock()
		return nil
	}, testLogger())
	to := userOn("u", 0, 2)
	ctx := context.Background()
	_ = src.Publish(ctx, Envelope{Users: []string{to}, Except: "s1", Frame: []byte{0x82, 0x01, 0x00}})
	_ = src.Publish(ctx, Envelope{Users: []string{to, everyone}, Kick: "phone", KickAt: 1 << 60})
	_ = src.Publish(ctx, Envelope{Users: []string{to}, Control: []byte{0xa1, 0x01, 0x01}})
	shardsIdle(f, src)
	src.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(encodeShardBatch(shardBatchOut{From: 1, Epoch: 1, Seq: 1, Lost: true}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewShardBus(0, 2, func(context.Context, int, []byte) error { return nil }, testLogger())
		defer b.Close()
		l := newShardLog()
		if _, err := b.Subscribe(l); err != nil {
			t.Fatal(err)
		}
		if err := b.Receive(data); err != nil {
			equal(t, len(l.snapshot()), 0, "delivered from a refused batch")
			return
		}
		for _, ev := range l.snapshot() {
			if !ev.lost && len(ev.e.Users) == 0 {
				t.Fatalf("delivered an envelope for no one: %+v", ev.e)
			}
		}
	})
}

// TestShardedRelays runs a relay as two shards on one store, each serving
// the users ShardOf gives it, their buses wired to each other: a message
// crosses shards; a user's hello on the other shard is refused (4015); a
// batch the bus gave up makes the receiving shard's clients resync before
// the next push; a revocation of everyone's tokens reaches every shard.
func TestShardedRelays(t *testing.T) {
	t.Parallel()
	const n = 2
	store := NewMemoryStore()
	buses := make([]*ShardBus, n)
	var down sync.Map // shard index → true while sends to it fail
	for i := range buses {
		buses[i] = NewShardBus(i, n, func(_ context.Context, to int, batch []byte) error {
			if _, isDown := down.Load(to); isDown {
				return errors.New("shard unreachable")
			}
			return buses[to].Receive(batch)
		}, testLogger())
		buses[i].lim.backoff = []time.Duration{time.Millisecond, 2 * time.Millisecond}
	}
	relays := make([]*testRelay, n)
	for i := range relays {
		relays[i] = startRelay(t, func(o *Options) {
			o.Bus, o.Store, o.NodeID = buses[i], store, fmt.Sprintf("shard-%d", i)
			o.Serves = func(user string) bool { return ShardOf(user, n) == i }
		})
	}
	alice, bob := "alice", "bob"
	a, b := ShardOf(alice, n), ShardOf(bob, n)
	if a == b {
		t.Fatalf("alice and bob on one shard (%d)", a)
	}
	aliceC, _ := login(t, relays[a], alice, "phone")
	bobC, _ := login(t, relays[b], bob, "phone")
	wrong := dial(t, relays[a], true)
	wrong.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: relays[a].token(bob), DeviceID: "tablet"}})
	wrong.expectClose(proto.CodeWrongShard)

	conv := proto.P2PID(alice, bob)
	aliceC.ack(conv, "c1", "across shards")
	equal(t, bobC.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Text, "across shards", "the message on bob's shard")

	down.Store(b, true)
	aliceC.ack(conv, "c2", "lost on the way")
	eventually(t, "the batch given up", func() bool { return buses[a].Dropped() == 1 })
	down.Delete(b)
	aliceC.ack(conv, "c3", "after the outage")
	first := bobC.await("resync or deliver", func(f proto.Frame) bool { return f.Type == proto.TypeResync || f.Type == proto.TypeDeliver })
	equal(t, first.Type, proto.TypeResync, "what bob hears first after the outage")
	equal(t, bobC.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Text, "after the outage", "the next push, after the resync")
	equal(t, relays[a].metric("parley_bus_dropped_total"), "1", "dropped, counted where it was sent from")
	equal(t, relays[b].metric("parley_bus_lost_total"), "1", "lost, counted where it was for")

	relays[b].srv.ctl.revoke("", time.Now().Unix()+10, 0, "")
	aliceC.expectClose(proto.CodeTokenRevoked)
	bobC.expectClose(proto.CodeTokenRevoked)
}
