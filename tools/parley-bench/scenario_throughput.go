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
	c := pairsCast(cfg.Pairs)
	bs := c.bots(func(i int) int {
		if i < cfg.Messages%nc {
			return cfg.Messages/nc + 1
		}
		return cfg.Messages / nc
	})
	defer closeAll(bs)
	if err := startCast(ctx, rp, c, bs, cfg.Window); err != nil {
		return err
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	meter, err := startCPUOf(rp.pids(), nil)
	if err != nil {
		return err
	}

	var delivered atomic.Int64
	for _, b := range bs {
		b.watch(&delivered)
	}
	var sent, acked atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			<-start
			b.sendAll(ctx, cfg.Window, &sent, &acked)
		})
	}
	t0 := sinceClock()
	close(start)
	wg.Wait()

	// Deliveries trail the last ack by a fan-out; give them a bounded time.
	want := owed(bs)
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

	// Numbers: every message counts, so the window is all of time.
	t := tallyWindow(bs, math.MinInt64, math.MaxInt64)
	var last int64
	for _, b := range bs {
		last = max(last, slices.Max(append(b.ackAt, 0)))
	}
	nAck := acked.Load()
	run.set("sent", float64(sent.Load()))
	run.set("acked", float64(nAck))
	run.set("delivered", float64(t.unique))
	run.set("lost", float64(want-int64(t.unique)))
	run.set("duplicates", float64(t.dups))
	if nAck > 0 {
		run.set("acked_per_s", float64(nAck)/(float64(last-t0)/1e9))
		run.set("relay_cpu_s_per_1k", cpu.Relay/float64(nAck)*1000)
	}
	slices.Sort(t.ackLat)
	slices.Sort(t.dLat)
	run.set("ack_p50_ms", percentileSorted(t.ackLat, 50))
	run.set("ack_p95_ms", percentileSorted(t.ackLat, 95))
	run.set("ack_p99_ms", percentileSorted(t.ackLat, 99))
	run.set("ack_max_ms", percentileSorted(t.ackLat, 100))
	run.set("deliver_p50_ms", percentileSorted(t.dLat, 50))
	run.set("deliver_p99_ms", percentileSorted(t.dLat, 99))
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)

	relayHistograms(run, before, after)

	if t.errs > 0 {
		run.note("%d sends failed or were not acknowledged in time", t.errs)
	}
	if t.strange > 0 {
		run.note("%d messages from the partner had text the bench did not send", t.strange)
	}
	if int64(t.unique) < want {
		run.note("LOSS: %d of %d messages never reached the partner within 20 s of the last ack", want-int64(t.unique), want)
	}
	if t.dups > 0 {
		run.note("DUPLICATES: %d messages were delivered more than once", t.dups)
	}
	return nil
}

// sendAll sends s.n messages keeping at most window of them unacknowledged,
// so ack latency is the time a send spends on the wire and in the relay, not
// in the client's own outbox.
func (b *bot) sendAll(ctx context.Context, window int, sent, acked *atomic.Int64) {
	slots := make(chan struct{}, window)
	var wg sync.WaitGroup
	for k := range b.n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			b.sendErr.Add(int64(b.n - k))
			wg.Wait()
			return
		}
		b.send(ctx, k, &wg, sent, acked, func() { <-slots })
	}
	wg.Wait()
}

func (bn *bench) throughput(ctx context.Context) *scenarioResult {
	c := bn.cfg
	tc := throughputConfig{Pairs: c.pairs, Messages: c.messages, Window: c.window}
	s := &scenarioResult{
		Name: "throughput", defs: throughputDefs,
		Title: fmt.Sprintf("throughput — %d pairs (%d clients), %s messages, %d in flight per client, %d runs",
			tc.Pairs, 2*tc.Pairs, fmtNum(float64(tc.Messages), 0), tc.Window, c.runs),
		Params: map[string]any{"pairs": tc.Pairs, "clients": 2 * tc.Pairs, "messages": tc.Messages, "window": tc.Window, "runs": c.runs},
		Notes: []string{
			fmt.Sprintf("Closed loop: every client keeps up to %d sends unacknowledged (%d in all), so under saturation ack latency ≈ in-flight ÷ throughput (Little's law); it is not the latency of a lightly loaded relay. The send → delivered budget (p50 ≤ 5 ms, p99 ≤ 25 ms) is for moderate load: see the latency scenario.", tc.Window, 2*tc.Pairs*tc.Window),
			"Acks come after the relay's SQLite commit (synchronous=FULL by default); throughput counts acks from the first send to the last ack.",
			"Generator CPU near 100 % means the load generator, not the relay, set the pace. Other CPU use is everything else on the machine (other processes, hypervisor steal): a run with much of it measured a busy machine.",
		},
	}
	if !bn.rc.burst {
		s.Notes = append(s.Notes, "The relay has no --rate-burst flag; --rate-limit 100000 gives it a burst of 2 × that.")
	}
	bn.repeat(ctx, s, c.runs, []string{"acked_per_s", "ack_p99_ms", "deliver_p99_ms", "lost", "duplicates", "relay_cpu_util", "gen_cpu_util", "other_cpu_util"},
		func(r *runResult) error { return runThroughput(ctx, bn.rc, tc, r) })
	return s
}
