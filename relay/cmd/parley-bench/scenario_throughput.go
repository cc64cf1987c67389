package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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

// runThroughput runs one throughput measurement against a fresh relay.
func runThroughput(ctx context.Context, rc relayConfig, cfg throughputConfig, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	nc := 2 * cfg.Pairs
	ss := newPairs(cfg.Pairs, func(i int) int {
		if i < cfg.Messages%nc {
			return cfg.Messages/nc + 1
		}
		return cfg.Messages / nc
	})
	defer closeAll(ss)
	if err := startClients(ctx, rp, ss, cfg.Window); err != nil {
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
	waitDelivered(ctx, &delivered, want)
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

	relayHistograms(run, before, after)

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
		s.send(ctx, k, &wg, sent, acked, func() { <-slots })
	}
	wg.Wait()
}
