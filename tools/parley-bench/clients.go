package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// This file holds what every scenario that drives native clients shares: a
// cast of users and the conversations between them, one bot (client) per
// user, their setup and warm-up, sending with ack tracking, and the
// receiving side that counts every delivery exactly once.

// cast is who takes part in a scenario: users, the conversations between
// them, and which users send.
type cast struct {
	users []string
	talks []bool // nil: every user sends; else only users with talks[i]
	convs []castConv
}

// castConv is one conversation of a cast.
type castConv struct {
	id      string
	members []int // indices into cast.users
	group   bool  // created by members[0] with CreateGroup; a p2p conversation comes into being with its first message
}

func (c cast) talker(i int) bool { return c.talks == nil || c.talks[i] }

// senders counts the users who send.
func (c cast) senders() int {
	n := 0
	for i := range c.users {
		if c.talker(i) {
			n++
		}
	}
	return n
}

// pairsCast is pairs p2p conversations bench-a-<p> ↔ bench-b-<p>: users 2p
// and 2p+1.
func pairsCast(pairs int) cast {
	var c cast
	for p := range pairs {
		a, b := fmt.Sprintf("bench-a-%04d", p), fmt.Sprintf("bench-b-%04d", p)
		c.users = append(c.users, a, b)
		c.convs = append(c.convs, castConv{id: proto.P2PID(a, b), members: []int{2 * p, 2*p + 1}})
	}
	return c
}

// groupID is room r's conversation id.
func groupID(r int) string { return fmt.Sprintf("g:bench-r%d", r) }

// roomsCast is rooms group conversations g:bench-r<r> of members users
// each; user r×members+m is bench-r<r>-m<m>. With talkers > 0 only the first
// talkers members of each room send.
func roomsCast(rooms, members, talkers int) cast {
	var c cast
	if talkers > 0 {
		c.talks = make([]bool, 0, rooms*members)
	}
	for r := range rooms {
		cv := castConv{id: groupID(r), group: true}
		for m := range members {
			cv.members = append(cv.members, len(c.users))
			c.users = append(c.users, fmt.Sprintf("bench-r%d-m%d", r, m))
			if c.talks != nil {
				c.talks = append(c.talks, m < talkers)
			}
		}
		c.convs = append(c.convs, cv)
	}
	return c
}

// contactsCast is users who each chat with about contacts others, paired at
// random (seeded): the union of contacts random perfect matchings, a
// repeated pair kept once. Every pair is a p2p conversation.
func contactsCast(users, contacts int, seed uint64) cast {
	var c cast
	for i := range users {
		c.users = append(c.users, fmt.Sprintf("bench-u%05d", i))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	seen := make(map[[2]int]bool)
	for range contacts {
		order := rng.Perm(users)
		for i := 0; i+1 < len(order); i += 2 {
			a, b := min(order[i], order[i+1]), max(order[i], order[i+1])
			if seen[[2]int{a, b}] {
				continue
			}
			seen[[2]int{a, b}] = true
			c.convs = append(c.convs, castConv{id: proto.P2PID(c.users[a], c.users[b]), members: []int{a, b}})
		}
	}
	return c
}

// bot is one benchmark user with one native client: what it sends, and
// what it receives.
type bot struct {
	c     *client.Client
	user  string
	store client.Store // the client's cache; nil: a fresh memory store

	// Sending. Message k goes to convs[convOf[k]]; each delivery of it is
	// owed to fans[convOf[k]] other members.
	convs   []string
	fans    []int
	n       int // messages it may send (the size of the slices below)
	rng     *rand.Rand
	convOf  []uint16
	ackLat  []float64 // ms, per message index; NaN until acked
	ackAt   []int64   // when each ack arrived, ns on clock; 0 until acked
	sentAt  []int64   // send time on clock (ns) per message index; 0 until sent
	sendErr atomic.Int64

	// Receiving: the conversations it is in, the users it hears from (index
	// into seen, by their message index) and how many warm-ups it expects.
	// Guarded by mu, touched by the client's event goroutine.
	in       map[string]bool
	from     map[string]int
	warmWant int

	mu      sync.Mutex
	seen    [][]bool
	warmGot map[string]bool // "sender conv" of warm-ups seen
	dLat    []float64       // send → delivered, ms, in arrival order
	dSent   []int64         // the sender's send time on clock (ns), same order
	dRecv   []int64         // arrival time on clock (ns), same order
	dups    int
	strange int
}

// clock is a monotonic time base shared by senders and receivers (one
// process), so send → delivered needs no clock sync.
var clock = time.Now()

func sinceClock() int64 { return int64(time.Since(clock)) }

// bots returns one bot per user of the cast, not yet connected; user i may
// send n(i) messages (0 for a user who does not talk).
func (c cast) bots(n func(i int) int) []*bot {
	bs := make([]*bot, len(c.users))
	for i, u := range c.users {
		k := 0
		if c.talker(i) {
			k = n(i)
		}
		b := &bot{user: u, n: k, in: make(map[string]bool), from: make(map[string]int), warmGot: make(map[string]bool),
			rng:    rand.New(rand.NewPCG(uint64(i)+1, 0x9e3779b97f4a7c15)),
			convOf: make([]uint16, k), ackLat: make([]float64, k), ackAt: make([]int64, k), sentAt: make([]int64, k)}
		for j := range b.ackLat {
			b.ackLat[j] = math.NaN()
		}
		bs[i] = b
	}
	for _, cv := range c.convs {
		for _, m := range cv.members {
			b := bs[m]
			b.in[cv.id] = true
			if b.n > 0 {
				b.convs = append(b.convs, cv.id)
				b.fans = append(b.fans, len(cv.members)-1)
			}
			for _, s := range cv.members {
				if s == m || bs[s].n == 0 {
					continue
				}
				if _, ok := b.from[bs[s].user]; !ok {
					b.from[bs[s].user] = len(b.seen)
					b.seen = append(b.seen, make([]bool, bs[s].n))
				}
				b.warmWant++
			}
		}
	}
	return bs
}

// talkers returns the bots that send.
func talkers(bs []*bot) []*bot {
	var out []*bot
	for _, b := range bs {
		if b.n > 0 {
			out = append(out, b)
		}
	}
	return out
}

// benchRelay starts a fresh relay for one run. stop notes the tail of the
// relay's log in run, then stops it.
func benchRelay(ctx context.Context, rc relayConfig, run *runResult) (rp *relayProc, stop func(), err error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if rc.postgres != "" {
		dsn, drop, err := freshSchema(ctx, rc.postgres)
		if err != nil {
			return nil, nil, err
		}
		cleanups = append(cleanups, drop)
		rc.extra = append(slices.Clone(rc.extra), "--store", dsn)
	}
	if rc.nats != "" {
		rc.extra = append(slices.Clone(rc.extra), "--bus", rc.nats, "--bus-prefix", fmt.Sprintf("bench%d", time.Now().UnixNano()))
	}
	var nodes []*relayProc
	for range max(1, rc.nodes) {
		p, err := startRelay(ctx, rc)
		if err != nil {
			for _, q := range nodes {
				q.stop()
			}
			cleanup()
			return nil, nil, err
		}
		nodes = append(nodes, p)
	}
	rp = nodes[0]
	rp.peers = nodes[1:]
	return rp, func() {
		for i, p := range nodes {
			if l := p.log.lines(5); len(l) > 0 {
				run.note("relay %d log (last %d lines): %s", i+1, len(l), strings.Join(l, " | "))
			}
			p.stop()
		}
		cleanup()
	}, nil
}

// freshSchema creates an empty schema on the PostgreSQL server at base and
// returns base pointed at it, and a function that drops it.
func freshSchema(ctx context.Context, base string) (dsn string, drop func(), err error) {
	schema := fmt.Sprintf("parley_bench_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	}, nil
}

// startCast connects every bot, creates the cast's groups and warms up:
// afterwards every conversation exists on the relay and in the caches of
// all its members, and every fan-out path has carried one message.
func startCast(ctx context.Context, rp *relayProc, c cast, bs []*bot, window int) error {
	if err := connectAll(ctx, rp, bs, window); err != nil {
		return err
	}
	if err := createGroups(ctx, c, bs); err != nil {
		return err
	}
	return warmUp(ctx, bs)
}

// connectAll creates, connects and syncs every bot, a few at a time.
func connectAll(ctx context.Context, rp *relayProc, bs []*bot, window int) error {
	sem := make(chan struct{}, 16)
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = b.connect(ctx, rp.node(i), window, uint64(i+1))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// connect opens the bot's client and waits until it is connected and
// synced.
func (b *bot) connect(ctx context.Context, rp *relayProc, window int, seed uint64) error {
	if err := b.open(rp, window, seed); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.c.Connect(ctx); err != nil {
		return fmt.Errorf("connect %s: %w", b.user, err)
	}
	if err := b.c.WaitSynced(ctx); err != nil {
		return fmt.Errorf("sync %s: %w", b.user, err)
	}
	return nil
}

// open creates the bot's client over its store, not yet connected.
func (b *bot) open(rp *relayProc, window int, seed uint64) error {
	tok, err := token(b.user, time.Hour)
	if err != nil {
		return err
	}
	c, err := client.New(client.Options{URL: rp.wsURL(), Token: tok, Store: b.store, Seed: seed,
		Config: core.Config{DeviceID: "bench", SendWindow: window, RequestTimeout: 30 * time.Second}})
	if err != nil {
		return err
	}
	b.c = c
	return nil
}

// createGroups has the first member of every group conversation create it
// with the others, a few at a time.
func createGroups(ctx context.Context, c cast, bs []*bot) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sem := make(chan struct{}, 16)
	errs := make([]error, len(c.convs))
	var wg sync.WaitGroup
	for i, cv := range c.convs {
		if !cv.group {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			others := make([]string, 0, len(cv.members)-1)
			for _, m := range cv.members[1:] {
				others = append(others, bs[m].user)
			}
			if _, err := bs[cv.members[0]].c.CreateGroup(ctx, cv.id, "bench "+cv.id, others); err != nil {
				errs[i] = fmt.Errorf("create %s: %w", cv.id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// warmUp has every talking bot send one message into each of its
// conversations and waits until every bot has seen each warm-up it is owed.
func warmUp(ctx context.Context, bs []*bot) error {
	got := make(chan struct{}, len(bs))
	unsub := make([]func(), len(bs))
	waiting := 0
	for i, b := range bs {
		if b.warmWant == 0 {
			continue
		}
		waiting++
		unsub[i] = b.c.On(func(e core.Event) {
			if e.Kind != core.EventMessage || e.Message.Text != "warm-up" || !b.in[e.Message.ConvID] {
				return
			}
			if _, ok := b.from[e.Message.Sender]; !ok {
				return
			}
			key := e.Message.Sender + " " + e.Message.ConvID
			b.mu.Lock()
			done := false
			if !b.warmGot[key] {
				b.warmGot[key] = true
				done = len(b.warmGot) == b.warmWant
			}
			b.mu.Unlock()
			if done {
				got <- struct{}{}
			}
		})
	}
	defer func() {
		for _, u := range unsub {
			if u != nil {
				u()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range bs {
		for _, conv := range b.convs {
			wg.Go(func() {
				if _, err := b.c.SendText(ctx, conv, "warm-up"); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("warm-up send %s: %w", b.user, err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for range waiting {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("warm-up messages not delivered to every member: %w", ctx.Err())
		}
	}
	return nil
}

// watch counts the benchmark messages that reach the bot; delivered counts
// unique deliveries over all bots.
func (b *bot) watch(delivered *atomic.Int64) {
	b.c.On(func(e core.Event) {
		if e.Kind != core.EventMessage || e.Message.Sender == b.user || e.Message.Text == "warm-up" {
			return
		}
		now := sinceClock()
		p, known := b.from[e.Message.Sender]
		k, sentAt, ok := parseBenchText(e.Message.Text)
		b.mu.Lock()
		defer b.mu.Unlock()
		switch {
		case !known || !b.in[e.Message.ConvID] || !ok || k >= len(b.seen[p]):
			b.strange++
		case b.seen[p][k]:
			b.dups++
		default:
			b.seen[p][k] = true
			b.dLat = append(b.dLat, float64(now-sentAt)/1e6)
			b.dSent = append(b.dSent, sentAt)
			b.dRecv = append(b.dRecv, now)
			delivered.Add(1)
		}
	})
}

// send queues message k (k < b.n) into one of the bot's conversations and
// waits for its ack on a goroutine of wg, recording the ack latency: the
// time the send spends in the client's outbox, on the wire and in the relay.
// done, if not nil, runs once when the message is settled: acked, failed or
// given up on. Only one goroutine sends for a bot.
func (b *bot) send(ctx context.Context, k int, wg *sync.WaitGroup, sent, acked *atomic.Int64, done func()) {
	ci := 0
	if len(b.convs) > 1 {
		ci = b.rng.IntN(len(b.convs))
	}
	b.convOf[k] = uint16(ci)
	start := time.Now()
	at := sinceClock()
	_, res, err := b.c.SendAsync(b.convs[ci], proto.MsgText, benchText(k, at), nil)
	if err != nil {
		b.sendErr.Add(1)
		if done != nil {
			done()
		}
		return
	}
	b.sentAt[k] = at
	sent.Add(1)
	wg.Go(func() {
		if done != nil {
			defer done()
		}
		select {
		case r := <-res:
			if r.Err != nil {
				b.sendErr.Add(1)
				return
			}
			b.ackAt[k] = sinceClock()
			b.ackLat[k] = float64(time.Since(start)) / 1e6
			acked.Add(1)
		case <-ctx.Done():
			b.sendErr.Add(1)
		}
	})
}

// owed is the number of deliveries the messages sent so far are owed: each
// to every other member of its conversation.
func owed(bs []*bot) int64 {
	var n int64
	for _, b := range bs {
		for k, at := range b.sentAt {
			if at != 0 {
				n += int64(b.fans[b.convOf[k]])
			}
		}
	}
	return n
}

// benchText carries the message index and the send time (ns on clock).
func benchText(k int, at int64) string {
	return "m " + strconv.Itoa(k) + " " + strconv.FormatInt(at, 10)
}

func parseBenchText(t string) (k int, sentAt int64, ok bool) {
	f := strings.Fields(t)
	if len(f) != 3 || f[0] != "m" {
		return 0, 0, false
	}
	k, err1 := strconv.Atoi(f[1])
	sentAt, err2 := strconv.ParseInt(f[2], 10, 64)
	return k, sentAt, err1 == nil && err2 == nil && k >= 0
}

// closeAll closes every client, in parallel.
func closeAll(bs []*bot) {
	var wg sync.WaitGroup
	for _, b := range bs {
		if b.c != nil {
			wg.Go(func() { _ = b.c.Close() })
		}
	}
	wg.Wait()
}

// waitDelivered waits until delivered reaches want, at most 20 s; past that
// deadline it waits another 500 ms so a late duplicate or gap fill shows up
// too. It reports whether everything arrived in time.
func waitDelivered(ctx context.Context, delivered *atomic.Int64, want int64) bool {
	deadline := time.Now().Add(20 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if delivered.Load() < want {
		time.Sleep(500 * time.Millisecond)
		return false
	}
	return true
}

// tally is what the bots saw of one measured window: a message belongs to
// [w0, w1) (ns on the bench clock) by its send time, an ack or an arrival by
// its arrival time; unique, dups and strange count every delivery.
type tally struct {
	ackLat, dLat                                      []float64
	sent, acked, arrived, unique, dups, strange, errs int
}

func tallyWindow(bs []*bot, w0, w1 int64) tally {
	in := func(t int64) bool { return t >= w0 && t < w1 }
	var t tally
	for _, b := range bs {
		for k, at := range b.sentAt {
			if at != 0 && in(at) {
				t.sent++
				if !math.IsNaN(b.ackLat[k]) {
					t.ackLat = append(t.ackLat, b.ackLat[k])
				}
			}
			if b.ackAt[k] != 0 && in(b.ackAt[k]) {
				t.acked++
			}
		}
		b.mu.Lock()
		for j, at := range b.dSent {
			if in(at) {
				t.dLat = append(t.dLat, b.dLat[j])
			}
			if in(b.dRecv[j]) {
				t.arrived++
			}
		}
		t.unique += len(b.dLat)
		t.dups += b.dups
		t.strange += b.strange
		b.mu.Unlock()
		t.errs += int(b.sendErr.Load())
	}
	return t
}

// relayHistograms records, from two scrapes of the relay's /metrics, the
// commit batch sizes (run.Batch, batch_mean) and the mean relay-side ack
// latency (relay_ack_mean_ms) in between.
func relayHistograms(run *runResult, before, after metricSet) {
	if hb, ok := before.histogram("parley_commit_batch_size"); ok {
		ha, _ := after.histogram("parley_commit_batch_size")
		if d, err := ha.sub(hb); err != nil {
			run.note("commit batch histogram: %v", err)
		} else {
			run.Batch = d.buckets()
			if d.Count > 0 {
				run.set("batch_mean", d.Sum/d.Count)
			}
		}
	} else {
		run.note("the relay's /metrics has no parley_commit_batch_size histogram")
	}
	if hb, ok := before.histogram("parley_ack_latency_seconds"); ok {
		ha, _ := after.histogram("parley_ack_latency_seconds")
		if d, err := ha.sub(hb); err == nil && d.Count > 0 {
			run.set("relay_ack_mean_ms", d.Sum/d.Count*1000)
			if q := d.quantile(0.99); !math.IsNaN(q) {
				run.set("relay_ack_p99_ms", q*1000)
			}
		}
	}
}
