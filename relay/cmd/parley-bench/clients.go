package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// This file holds what the scenarios that drive native clients (throughput,
// latency) share: pairs of clients, their setup and warm-up, sending with
// ack tracking, and the receiving side.

// sender is one benchmark client and what it measured.
type sender struct {
	c       *client.Client
	user    string
	partner string
	conv    string
	n       int // messages this client may send (the size of the slices below)

	ackLat  []float64   // ms, per message index; NaN until acked
	ackAt   []time.Time // when each ack arrived
	sentAt  []int64     // send time on clock (ns) per message index; 0 until sent
	sendErr atomic.Int64

	// receiving side, touched by the client's event goroutine
	mu      sync.Mutex
	seen    []bool // by the partner's message index
	warm    bool
	dLat    []float64 // send → delivered, ms, in arrival order
	dSent   []int64   // the partner's send time on clock (ns), same order
	dRecv   []int64   // arrival time on clock (ns), same order
	dups    int
	strange int
}

// clock is a monotonic time base shared by senders and receivers (one
// process), so send → delivered needs no clock sync.
var clock = time.Now()

func sinceClock() int64 { return int64(time.Since(clock)) }

// newPairs returns 2 × pairs clients, not yet connected: pair p is
// bench-a-p ↔ bench-b-p, clients 2p and 2p+1, each the other's partner.
// Client i may send n(i) messages.
func newPairs(pairs int, n func(i int) int) []*sender {
	ss := make([]*sender, 2*pairs)
	most := 0
	for i := range ss {
		p := i / 2
		me, peer := fmt.Sprintf("bench-a-%04d", p), fmt.Sprintf("bench-b-%04d", p)
		if i%2 == 1 {
			me, peer = peer, me
		}
		s := &sender{user: me, partner: peer, conv: proto.P2PID(me, peer), n: n(i)}
		s.ackLat = make([]float64, s.n)
		for k := range s.ackLat {
			s.ackLat[k] = math.NaN()
		}
		s.ackAt = make([]time.Time, s.n)
		s.sentAt = make([]int64, s.n)
		most = max(most, s.n)
		ss[i] = s
	}
	// Each client's partner sends at most the largest n.
	for _, s := range ss {
		s.seen = make([]bool, most)
	}
	return ss
}

// benchRelay starts a fresh relay for one run. stop notes the tail of the
// relay's log in run, then stops it.
func benchRelay(ctx context.Context, rc relayConfig, run *runResult) (rp *relayProc, stop func(), err error) {
	rp, err = startRelay(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	return rp, func() {
		if l := rp.log.lines(5); len(l) > 0 {
			run.note("relay log (last %d lines): %s", len(l), strings.Join(l, " | "))
		}
		rp.stop()
	}, nil
}

// startClients connects and syncs every client with the given send window,
// then warms up: one message each way, so every conversation exists on the
// relay and in both caches before any clock starts.
func startClients(ctx context.Context, rp *relayProc, ss []*sender, window int) error {
	if err := connectAll(ctx, rp, ss, window); err != nil {
		return err
	}
	return warmUp(ctx, ss)
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
			s.dSent = append(s.dSent, sentAt)
			s.dRecv = append(s.dRecv, now)
			delivered.Add(1)
		}
	})
}

// send queues message k (k < s.n) and waits for its ack on a goroutine of
// wg, recording the ack latency: the time the send spends in the client's
// outbox, on the wire and in the relay. done, if not nil, runs once when the
// message is settled: acked, failed or given up on.
func (s *sender) send(ctx context.Context, k int, wg *sync.WaitGroup, sent, acked *atomic.Int64, done func()) {
	start := time.Now()
	at := sinceClock()
	_, res, err := s.c.SendAsync(s.conv, proto.MsgText, benchText(k, at), nil)
	if err != nil {
		s.sendErr.Add(1)
		if done != nil {
			done()
		}
		return
	}
	s.sentAt[k] = at
	sent.Add(1)
	wg.Go(func() {
		if done != nil {
			defer done()
		}
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
func closeAll(ss []*sender) {
	var wg sync.WaitGroup
	for _, s := range ss {
		if s.c != nil {
			wg.Go(func() { _ = s.c.Close() })
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
		}
	}
}
