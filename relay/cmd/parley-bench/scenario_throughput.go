package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// throughputDefs are the numbers one throughput run reports, in table order.
var throughputDefs = []metricDef{
	{"acked_per_s", "messages acknowledged per second", "msg/s", 0},
	{"ack_p50_ms", "ack latency p50", "ms", 2},
	{"ack_p95_ms", "ack latency p95", "ms", 2},
	{"ack_p99_ms", "ack latency p99", "ms", 2},
	{"ack_max_ms", "ack latency max", "ms", 2},
	{"deliver_p50_ms", "send → delivered p50", "ms", 2},
	{"deliver_p99_ms", "send → delivered p99", "ms", 2},
	{"sent", "messages sent", "", 0},
	{"acked", "messages acknowledged", "", 0},
	{"delivered", "deliveries received", "", 0},
	{"lost", "lost (sent, never delivered)", "", 0},
	{"duplicates", "duplicate deliveries", "", 0},
	{"relay_cpu_s_per_1k", "relay CPU per 1,000 messages", "CPU s", 4},
	{"relay_cpu_util", "relay CPU use during the run", "% of a core", 0},
	{"gen_cpu_util", "generator CPU use during the run", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine during the run (noise)", "% of a core", 0},
	{"batch_mean", "mean commit batch size", "sends", 1},
	{"relay_ack_mean_ms", "relay-side ack latency mean (frame read → ack queued)", "ms", 2},
}

// throughputConfig are the knobs of the throughput scenario.
type throughputConfig struct {
	Pairs    int
	Messages int // in total, over all clients
	Window   int // sends in flight per client, and the client's SendWindow
}

// sender is one benchmark client and what it measured.
type sender struct {
	c       *client.Client
	user    string
	partner string
	conv    string
	n       int // messages this client sends

	ackLat  []float64   // ms, per message index; NaN until acked
	ackAt   []time.Time // when each ack arrived
	sendErr atomic.Int64

	// receiving side, touched by the client's event goroutine
	mu      sync.Mutex
	seen    []bool // by the partner's message index
	warm    bool
	dLat    []float64 // send → delivered, ms
	dups    int
	strange int
}

// clock is a monotonic time base shared by senders and receivers (one
// process), so send → delivered needs no clock sync.
var clock = time.Now()

func sinceClock() int64 { return int64(time.Since(clock)) }

// runThroughput runs one throughput measurement against a fresh relay.
func runThroughput(ctx context.Context, rc relayConfig, cfg throughputConfig, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rp, err := startRelay(ctx, rc)
	if err != nil {
		return err
	}
	defer rp.stop()
	defer func() {
		if l := rp.log.lines(5); len(l) > 0 {
			run.note("relay log (last %d lines): %s", len(l), strings.Join(l, " | "))
		}
	}()

	// Clients: pair i is bench-a-i ↔ bench-b-i.
	nc := 2 * cfg.Pairs
	ss := make([]*sender, nc)
	for i := range nc {
		p := i / 2
		me, peer := fmt.Sprintf("bench-a-%04d", p), fmt.Sprintf("bench-b-%04d", p)
		if i%2 == 1 {
			me, peer = peer, me
		}
		n := cfg.Messages / nc
		if i < cfg.Messages%nc {
			n++
		}
		ss[i] = &sender{user: me, partner: peer, conv: proto.P2PID(me, peer), n: n}
	}
	// Everyone's partner sends at most ceil(Messages/nc).
	for _, s := range ss {
		s.seen = make([]bool, cfg.Messages/nc+1)
		s.ackLat = make([]float64, s.n)
		for k := range s.ackLat {
			s.ackLat[k] = math.NaN()
		}
		s.ackAt = make([]time.Time, s.n)
	}
	defer closeAll(ss)

	if err := connectAll(ctx, rp, ss, cfg.Window); err != nil {
		return err
	}

	// Warm-up: one message each way, so every conversation exists on the
	// relay and in both caches before the clock starts.
	if err := warmUp(ctx, ss); err != nil {
		return err
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	meter, err := startCPU(rp.pid())
	if err != nil {
		return err
	}

	var delivered atomic.Int64
	for _, s := range ss {
		s.watch(&delivered)
	}
	var sent, acked atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			<-start
			s.sendAll(ctx, cfg.Window, &sent, &acked)
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()

	// Deliveries trail the last ack by a fan-out; give them a bounded time.
	want := sent.Load()
	deadline := time.Now().Add(20 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if delivered.Load() < want {
		// Past the deadline: let a late duplicate or gap fill show up too.
		time.Sleep(500 * time.Millisecond)
	}
	cpu, err := meter.stop()
	if err != nil {
		return err
	}
	after, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}

	// Numbers.
	var ackLat, dLat []float64
	var last time.Time
	var dups, strange, errs int
	for _, s := range ss {
		for k := range s.n {
			if !math.IsNaN(s.ackLat[k]) {
				ackLat = append(ackLat, s.ackLat[k])
				if s.ackAt[k].After(last) {
					last = s.ackAt[k]
				}
			}
		}
		s.mu.Lock()
		dLat = append(dLat, s.dLat...)
		dups += s.dups
		strange += s.strange
		s.mu.Unlock()
		errs += int(s.sendErr.Load())
	}
	nAck := acked.Load()
	run.set("sent", float64(sent.Load()))
	run.set("acked", float64(nAck))
	run.set("delivered", float64(len(dLat)))
	run.set("lost", float64(want-int64(len(dLat))))
	run.set("duplicates", float64(dups))
	if nAck > 0 {
		run.set("acked_per_s", float64(nAck)/last.Sub(t0).Seconds())
		run.set("relay_cpu_s_per_1k", cpu.Relay/float64(nAck)*1000)
	}
	slices.Sort(ackLat)
	slices.Sort(dLat)
	run.set("ack_p50_ms", percentileSorted(ackLat, 50))
	run.set("ack_p95_ms", percentileSorted(ackLat, 95))
	run.set("ack_p99_ms", percentileSorted(ackLat, 99))
	run.set("ack_max_ms", percentileSorted(ackLat, 100))
	run.set("deliver_p50_ms", percentileSorted(dLat, 50))
	run.set("deliver_p99_ms", percentileSorted(dLat, 99))
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)

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
		}
	}

	if errs > 0 {
		run.note("%d sends failed or were not acknowledged in time", errs)
	}
	if strange > 0 {
		run.note("%d messages from the partner had text the bench did not send", strange)
	}
	if int64(len(dLat)) < want {
		run.note("LOSS: %d of %d messages never reached the partner within 20 s of the last ack", want-int64(len(dLat)), want)
	}
	if dups > 0 {
		run.note("DUPLICATES: %d messages were delivered more than once", dups)
	}
	return nil
}

// connectAll creates, connects and syncs every client, a few at a time.
func connectAll(ctx context.Context, rp *relayProc, ss []*sender, window int) error {
	sem := make(chan struct{}, 16)
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tok, err := token(s.user, time.Hour)
			if err != nil {
				errs[i] = err
				return
			}
			c, err := client.New(client.Options{URL: rp.wsURL(), Token: tok, DeviceID: "bench", SendWindow: window,
				Seed: uint64(i + 1), RequestTimeout: 30 * time.Second})
			if err != nil {
				errs[i] = err
				return
			}
			s.c = c
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := c.Connect(cctx); err != nil {
				errs[i] = fmt.Errorf("connect %s: %w", s.user, err)
				return
			}
			if err := c.WaitSynced(cctx); err != nil {
				errs[i] = fmt.Errorf("sync %s: %w", s.user, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// warmUp sends one message from every client and waits until each is acked
// and delivered.
func warmUp(ctx context.Context, ss []*sender) error {
	got := make(chan struct{}, len(ss))
	unsub := make([]func(), len(ss))
	for i, s := range ss {
		unsub[i] = s.c.On(func(e core.Event) {
			if e.Kind == core.EventMessage && e.Message.Sender == s.partner && e.Message.Text == "warm-up" {
				s.mu.Lock()
				first := !s.warm
				s.warm = true
				s.mu.Unlock()
				if first {
					got <- struct{}{}
				}
			}
		})
	}
	defer func() {
		for _, u := range unsub {
			u()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			if _, err := s.c.SendText(ctx, s.conv, "warm-up"); err != nil {
				errs[i] = fmt.Errorf("warm-up send %s: %w", s.user, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for range ss {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("warm-up messages not delivered: %w", ctx.Err())
		}
	}
	return nil
}

// watch counts the partner's benchmark messages as they arrive.
func (s *sender) watch(delivered *atomic.Int64) {
	s.c.On(func(e core.Event) {
		if e.Kind != core.EventMessage || e.Message.Sender != s.partner || e.Message.Text == "warm-up" {
			return
		}
		now := sinceClock()
		k, sentAt, ok := parseBenchText(e.Message.Text)
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case !ok || k >= len(s.seen):
			s.strange++
		case s.seen[k]:
			s.dups++
		default:
			s.seen[k] = true
			s.dLat = append(s.dLat, float64(now-sentAt)/1e6)
			delivered.Add(1)
		}
	})
}

// sendAll sends s.n messages keeping at most window of them unacknowledged,
// so ack latency is the time a send spends on the wire and in the relay, not
// in the client's own outbox.
func (s *sender) sendAll(ctx context.Context, window int, sent, acked *atomic.Int64) {
	slots := make(chan struct{}, window)
	var wg sync.WaitGroup
	for k := range s.n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			s.sendErr.Add(int64(s.n - k))
			wg.Wait()
			return
		}
		start := time.Now()
		_, res, err := s.c.SendAsync(s.conv, proto.MsgText, benchText(k), nil)
		if err != nil {
			s.sendErr.Add(1)
			<-slots
			continue
		}
		sent.Add(1)
		wg.Go(func() {
			defer func() { <-slots }()
			select {
			case r := <-res:
				if r.Err != nil {
					s.sendErr.Add(1)
					return
				}
				now := time.Now()
				s.ackAt[k] = now
				s.ackLat[k] = float64(now.Sub(start)) / 1e6
				acked.Add(1)
			case <-ctx.Done():
				s.sendErr.Add(1)
			}
		})
	}
	wg.Wait()
}

// benchText carries the message index and the send time (ns on clock).
func benchText(k int) string {
	return "m " + strconv.Itoa(k) + " " + strconv.FormatInt(sinceClock(), 10)
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
func closeAll(ss []*sender) {
	var wg sync.WaitGroup
	for _, s := range ss {
		if s.c != nil {
			wg.Go(func() { _ = s.c.Close() })
		}
	}
	wg.Wait()
}
