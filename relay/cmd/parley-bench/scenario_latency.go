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

// latencyDefs are the numbers one latency run reports, in table order.
var latencyDefs = []metricDef{
	{"offered_per_s", "offered rate", "msg/s", 0},
	{"sent_per_s", "sent rate (generator; ≈ offered if it kept pace)", "msg/s", 0},
	{"achieved_per_s", "achieved rate (deliveries arriving in the window)", "msg/s", 0},
	{"deliver_p50_ms", "send → delivered p50", "ms", 2},
	{"deliver_p95_ms", "send → delivered p95", "ms", 2},
	{"deliver_p99_ms", "send → delivered p99", "ms", 2},
	{"deliver_max_ms", "send → delivered max", "ms", 2},
	{"ack_p50_ms", "ack latency p50", "ms", 2},
	{"ack_p99_ms", "ack latency p99", "ms", 2},
	{"sent", "messages sent in the window", "", 0},
	{"delivered", "of those, delivered", "", 0},
	{"lost", "lost (sent, never delivered; warm-up included)", "", 0},
	{"duplicates", "duplicate deliveries (warm-up included)", "", 0},
	{"relay_cpu_util", "relay CPU use during the window", "% of a core", 0},
	{"gen_cpu_util", "generator CPU use during the window", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine during the window (noise)", "% of a core", 0},
	{"batch_mean", "mean commit batch size (warm-up included)", "sends", 1},
	{"relay_ack_mean_ms", "relay-side ack latency mean (frame read → ack queued; warm-up included)", "ms", 2},
}

// SPEC §5: send → delivered on another client, loopback, at moderate load.
const (
	latencyBudgetP50ms = 5
	latencyBudgetP99ms = 25
)

// latencyWarmUp is paced sending whose samples are discarded: it lets the
// relay's and the clients' buffers, caches and the Go heaps settle at the
// offered load before the window opens.
const latencyWarmUp = time.Second

// latencyConfig are the knobs of the latency scenario.
type latencyConfig struct {
	Pairs    int
	Rate     float64       // offered messages per second, over all clients
	Duration time.Duration // the measured window, after latencyWarmUp
	Window   int           // the client's SendWindow
}

// every is the send interval of one client: the rate is spread evenly.
func (c latencyConfig) every() time.Duration {
	return time.Duration(float64(2*c.Pairs) / c.Rate * float64(time.Second))
}

// runLatency offers a fixed rate of messages, each client pacing itself with
// its own ticker, and measures send → delivered at the receiver.
func runLatency(ctx context.Context, rc relayConfig, cfg latencyConfig, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+2*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	every := cfg.every()
	total := latencyWarmUp + cfg.Duration
	// A client's first send is within one interval of the start, then one
	// per interval until the end: at most total/every + 1; keep a spare.
	ss := newPairs(cfg.Pairs, func(int) int { return int(total/every) + 2 })
	defer closeAll(ss)
	if err := startClients(ctx, rp, ss, cfg.Window); err != nil {
		return err
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	var delivered atomic.Int64
	for _, s := range ss {
		s.watch(&delivered)
	}
	pr, err := pacedWindow(ctx, rp, ss, every, total)
	if err != nil {
		return err
	}
	warmEnd, end, cpu := pr.warmEnd, pr.end, pr.cpu

	want := pr.sent
	inTime := waitDelivered(ctx, &delivered, want)
	after, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}

	// Numbers. The window is [warmEnd, end) on clock; a message belongs to
	// it by its send time, an arrival by its arrival time.
	t := tallyWindow(ss, int64(warmEnd.Sub(clock)), int64(end.Sub(clock)))
	ackLat, dLat := t.ackLat, t.dLat
	nSent, arrived, unique, dups, strange, errs := t.sent, t.arrived, t.unique, t.dups, t.strange, t.errs
	secs := cfg.Duration.Seconds()
	run.set("offered_per_s", cfg.Rate)
	run.set("sent_per_s", float64(nSent)/secs)
	run.set("achieved_per_s", float64(arrived)/secs)
	run.set("sent", float64(nSent))
	run.set("delivered", float64(len(dLat)))
	run.set("lost", float64(want-int64(unique)))
	run.set("duplicates", float64(dups))
	slices.Sort(ackLat)
	slices.Sort(dLat)
	run.set("deliver_p50_ms", percentileSorted(dLat, 50))
	run.set("deliver_p95_ms", percentileSorted(dLat, 95))
	run.set("deliver_p99_ms", percentileSorted(dLat, 99))
	run.set("deliver_max_ms", percentileSorted(dLat, 100))
	run.set("ack_p50_ms", percentileSorted(ackLat, 50))
	run.set("ack_p99_ms", percentileSorted(ackLat, 99))
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	relayHistograms(run, before, after)

	if offered := cfg.Rate * secs; float64(nSent) < 0.95*offered {
		run.note("the generator fell behind: %d sends in the window against %.0f offered", nSent, offered)
	}
	if errs > 0 {
		run.note("%d sends failed or were not acknowledged in time", errs)
	}
	if strange > 0 {
		run.note("%d messages from the partner had text the bench did not send", strange)
	}
	if !inTime {
		run.note("LOSS: %d of %d messages never reached the partner within 20 s of the last ack", want-int64(unique), want)
	}
	if dups > 0 {
		run.note("DUPLICATES: %d messages were delivered more than once", dups)
	}
	return nil
}

// sendPaced sends one message at first and then one per tick of its own
// ticker until halt is closed, without waiting for acks: the load is offered
// whatever the relay does, so a slow relay shows up as latency rather than as
// a lower rate. A tick missed because the client was busy is dropped (and
// shows as a sent rate below the offered one).
func (s *sender) sendPaced(ctx context.Context, first time.Time, every time.Duration, halt <-chan struct{}, acks *sync.WaitGroup, sent, acked *atomic.Int64) {
	t := time.NewTimer(time.Until(first))
	select {
	case <-t.C:
	case <-halt:
		t.Stop()
		return
	case <-ctx.Done():
		t.Stop()
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for k := 0; k < s.n; k++ {
		s.send(ctx, k, acks, sent, acked, nil)
		select {
		case <-tick.C:
		case <-halt:
			return
		case <-ctx.Done():
			return
		}
		select {
		case <-halt: // a tick and the halt together: halt wins
			return
		default:
		}
	}
}

// pacedRun is what one open-loop window measured.
type pacedRun struct {
	sent, acked  int64     // messages sent and acknowledged, warm-up included
	warmEnd, end time.Time // the measured window
	cpu          cpuUse    // CPU use during the window
}

// pacedWindow runs the open loop both paced scenarios share: client i sends
// first at t0 + i/len(ss) of an interval, so the clients' sends interleave
// evenly rather than arriving together, then one message every interval
// until total has passed; CPU is metered over the window after the warm-up.
// It returns once every send was acknowledged.
func pacedWindow(ctx context.Context, rp *relayProc, ss []*sender, every, total time.Duration) (pacedRun, error) {
	var sent, acked atomic.Int64
	var loops, acks sync.WaitGroup
	halt := make(chan struct{})
	t0 := time.Now().Add(10 * time.Millisecond)
	for i, s := range ss {
		first := t0.Add(time.Duration(int64(every) * int64(i) / int64(len(ss))))
		loops.Go(func() { s.sendPaced(ctx, first, every, halt, &acks, &sent, &acked) })
	}
	r := pacedRun{warmEnd: t0.Add(latencyWarmUp), end: t0.Add(total)}
	if err := sleepCtx(ctx, time.Until(r.warmEnd)); err != nil {
		close(halt)
		loops.Wait()
		return r, err
	}
	meter, err := startCPU(rp.pid())
	if err != nil {
		close(halt)
		loops.Wait()
		return r, err
	}
	werr := sleepCtx(ctx, time.Until(r.end))
	close(halt)
	r.cpu, err = meter.stop()
	loops.Wait()
	if werr != nil {
		return r, werr
	}
	if err != nil {
		return r, err
	}
	acks.Wait()
	r.sent, r.acked = sent.Load(), acked.Load()
	return r, nil
}

// tally is what the clients saw of one measured window: a message belongs
// to [w0, w1) (ns on the bench clock) by its send time, an arrival by its
// arrival time; unique, dups and strange count every delivery.
type tally struct {
	ackLat, dLat                               []float64
	sent, arrived, unique, dups, strange, errs int
}

func tallyWindow(ss []*sender, w0, w1 int64) tally {
	in := func(t int64) bool { return t >= w0 && t < w1 }
	var t tally
	for _, s := range ss {
		for k, at := range s.sentAt {
			if at == 0 || !in(at) {
				continue
			}
			t.sent++
			if !math.IsNaN(s.ackLat[k]) {
				t.ackLat = append(t.ackLat, s.ackLat[k])
			}
		}
		s.mu.Lock()
		for j, at := range s.dSent {
			if in(at) {
				t.dLat = append(t.dLat, s.dLat[j])
			}
			if in(s.dRecv[j]) {
				t.arrived++
			}
		}
		t.unique += len(s.dLat)
		t.dups += s.dups
		t.strange += s.strange
		s.mu.Unlock()
		t.errs += int(s.sendErr.Load())
	}
	return t
}
