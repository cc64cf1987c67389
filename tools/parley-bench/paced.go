package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the open loop the paced scenarios (latency, group, p2p, room)
// and their knee sweeps share: a cast sends at a fixed offered rate, every
// talker on its own ticker, and every delivery is counted at its receiver.

// pacedDefs are the numbers one paced run reports, in table order.
var pacedDefs = []metricDef{
	{"offered_per_s", "offered rate", "msg/s", 0},
	{"offered_deliveries_per_s", "offered deliveries (offered × recipients per message)", "deliveries/s", 0},
	{"sent_per_s", "sent rate (generator; ≈ offered if it kept pace)", "msg/s", 0},
	{"achieved_per_s", "achieved rate (messages acknowledged in the window)", "msg/s", 0},
	{"delivered_per_s", "delivered (deliveries arriving in the window)", "deliveries/s", 0},
	{"deliver_p50_ms", "send → delivered p50 (over all deliveries)", "ms", 2},
	{"deliver_p95_ms", "send → delivered p95", "ms", 2},
	{"deliver_p99_ms", "send → delivered p99", "ms", 2},
	{"deliver_max_ms", "send → delivered max", "ms", 2},
	{"ack_p50_ms", "ack latency p50", "ms", 2},
	{"ack_p99_ms", "ack latency p99", "ms", 2},
	{"relay_ack_mean_ms", "relay-side ack latency mean (frame read → ack queued; warm-up included)", "ms", 2},
	{"relay_ack_p99_ms", "relay-side ack latency p99 (upper bound of its histogram bucket)", "ms", 1},
	{"sent", "messages sent in the window", "", 0},
	{"delivered", "of those, deliveries received", "", 0},
	{"lost", "lost deliveries (warm-up included)", "", 0},
	{"duplicates", "duplicate deliveries (warm-up included)", "", 0},
	{"relay_cpu_util", "relay CPU use during the window", "% of a core", 0},
	{"relay_cpu_s_per_1k", "relay CPU per 1,000 deliveries", "CPU s", 4},
	{"relay_rss_mib", "relay RSS at the end of the window", "MiB", 1},
	{"gen_cpu_util", "generator CPU use during the window", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine during the window (noise)", "% of a core", 0},
	{"batch_mean", "mean commit batch size (warm-up included)", "sends", 1},
	{"relay_writes_per_frame", "relay write(2) calls per frame sent (syscw of /proc/<pid>/io, SQLite's included; warm-up included)", "", 2},
}

// pacedKeys are the numbers a paced run prints as it ends.
var pacedKeys = []string{"sent_per_s", "delivered_per_s", "deliver_p50_ms", "deliver_p99_ms", "lost", "duplicates",
	"relay_cpu_util", "relay_cpu_s_per_1k", "gen_cpu_util", "other_cpu_util"}

// latencyWarmUp is paced sending whose samples are discarded: it lets the
// relay's and the clients' buffers, caches and the Go heaps settle at the
// offered load before the window opens.
const latencyWarmUp = time.Second

// genBound is the generator CPU use (of its one core) above which a run
// measured the generator rather than the relay.
const genBound = 0.9

// pacedSpec is one paced scenario: who takes part and what they offer.
type pacedSpec struct {
	name   string         // scenario name in the report
	what   string         // its title, before the rate: "group fan-out — 100 rooms × 10 members (1,000 clients)"
	cast   cast           // users and conversations
	rate   float64        // offered messages per second, over all talkers
	params map[string]any // what the title does not say
	notes  []string       // what the shared notes do not say
	// probe, if set, runs beside the measured window, from its start; the
	// run waits for it.
	probe func(ctx context.Context, rp *relayProc) error
}

// every is the send interval of one talker: the rate is spread evenly.
func (p pacedSpec) every() time.Duration {
	return time.Duration(float64(p.cast.senders()) / p.rate * float64(time.Second))
}

// fan is the mean number of deliveries one message is owed: a talker picks
// one of its conversations at random for each message.
func (c cast) fan() float64 {
	per := make([][]int, len(c.users)) // conversation sizes of each talker
	for _, cv := range c.convs {
		for _, m := range cv.members {
			per[m] = append(per[m], len(cv.members)-1)
		}
	}
	var sum float64
	n := 0
	for i, fans := range per {
		if !c.talker(i) || len(fans) == 0 {
			continue
		}
		s := 0
		for _, f := range fans {
			s += f
		}
		sum += float64(s) / float64(len(fans))
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// runPaced offers spec's rate for latencyWarmUp + duration against a fresh
// relay and measures send → delivered at every receiver.
func runPaced(ctx context.Context, rc relayConfig, spec pacedSpec, duration time.Duration, window int, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, duration+3*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	every := spec.every()
	total := latencyWarmUp + duration
	// A talker's first send is within one interval of the start, then one
	// per interval until the end: at most total/every + 1; keep a spare.
	bs := spec.cast.bots(func(int) int { return int(total/every) + 2 })
	defer closeAll(bs)
	if err := startCast(ctx, rp, spec.cast, bs, window); err != nil {
		return err
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	w0, wErr := writeCalls(rp.pid())
	var delivered atomic.Int64
	for _, b := range bs {
		b.watch(&delivered)
	}
	probed := make(chan error, 1)
	if spec.probe != nil {
		go func() {
			if err := sleepCtx(ctx, latencyWarmUp+10*time.Millisecond); err != nil {
				probed <- err
				return
			}
			probed <- spec.probe(ctx, rp)
		}()
	} else {
		probed <- nil
	}
	pr, err := pacedWindow(ctx, rp, talkers(bs), every, total)
	if err != nil {
		return err
	}
	if err := <-probed; err != nil {
		run.note("probe: %v", err)
	}
	rss, rssErr := rssBytes(rp.pid())
	want := owed(bs)
	inTime := waitDelivered(ctx, &delivered, want)
	w1, wErr1 := writeCalls(rp.pid())
	after, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}
	if f0, ok := before.get("parley_frames_out_total"); ok && wErr == nil && wErr1 == nil {
		if f1, ok := after.get("parley_frames_out_total"); ok && f1 > f0 {
			run.set("relay_writes_per_frame", (w1-w0)/(f1-f0))
		}
	}

	t := tallyWindow(bs, int64(pr.warmEnd.Sub(clock)), int64(pr.end.Sub(clock)))
	secs := duration.Seconds()
	cpu := pr.cpu
	run.set("offered_per_s", spec.rate)
	run.set("offered_deliveries_per_s", spec.rate*spec.cast.fan())
	run.set("sent_per_s", float64(t.sent)/secs)
	run.set("achieved_per_s", float64(t.acked)/secs)
	run.set("delivered_per_s", float64(t.arrived)/secs)
	run.set("sent", float64(t.sent))
	run.set("delivered", float64(len(t.dLat)))
	run.set("lost", float64(want-int64(t.unique)))
	run.set("duplicates", float64(t.dups))
	slices.Sort(t.ackLat)
	slices.Sort(t.dLat)
	run.set("deliver_p50_ms", percentileSorted(t.dLat, 50))
	run.set("deliver_p95_ms", percentileSorted(t.dLat, 95))
	run.set("deliver_p99_ms", percentileSorted(t.dLat, 99))
	run.set("deliver_max_ms", percentileSorted(t.dLat, 100))
	run.set("ack_p50_ms", percentileSorted(t.ackLat, 50))
	run.set("ack_p99_ms", percentileSorted(t.ackLat, 99))
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	if t.arrived > 0 {
		run.set("relay_cpu_s_per_1k", cpu.Relay/float64(t.arrived)*1000)
	}
	if rssErr == nil {
		run.set("relay_rss_mib", rss/(1<<20))
	}
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	relayHistograms(run, before, after)

	if g := cpu.Self / cpu.Wall; g >= genBound {
		run.note("GENERATOR-BOUND: the generator used %.0f %% of its core during the window; the rates and latencies are the limit of %d clients in one bench process, not the relay's", g*100, len(bs))
	}
	if offered := spec.rate * secs; float64(t.sent) < 0.95*offered {
		run.note("the generator fell behind: %d sends in the window against %.0f offered", t.sent, offered)
	}
	if t.errs > 0 {
		run.note("%d sends failed or were not acknowledged in time", t.errs)
	}
	if t.strange > 0 {
		run.note("%d messages had a sender, conversation or text the bench did not send", t.strange)
	}
	if !inTime {
		run.note("LOSS: %d of %d deliveries never reached a member within 20 s of the last ack", want-int64(t.unique), want)
	}
	if t.dups > 0 {
		run.note("DUPLICATES: %d deliveries arrived more than once", t.dups)
	}
	return nil
}

// sendPaced sends one message at first and then one per tick of its own
// ticker until halt is closed, without waiting for acks: the load is offered
// whatever the relay does, so a slow relay shows up as latency rather than as
// a lower rate. A tick missed because the client was busy is dropped (and
// shows as a sent rate below the offered one).
func (b *bot) sendPaced(ctx context.Context, first time.Time, every time.Duration, halt <-chan struct{}, acks *sync.WaitGroup, sent, acked *atomic.Int64) {
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
	for k := 0; k < b.n; k++ {
		b.send(ctx, k, acks, sent, acked, nil)
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

// pacedWindow runs the open loop: talker i sends first at t0 + i/len(bs) of
// an interval, so the sends interleave evenly rather than arriving together,
// then one message every interval until total has passed; CPU is metered
// over the window after the warm-up. It returns once every send was
// acknowledged.
func pacedWindow(ctx context.Context, rp *relayProc, bs []*bot, every, total time.Duration) (pacedRun, error) {
	var sent, acked atomic.Int64
	var loops, acks sync.WaitGroup
	halt := make(chan struct{})
	t0 := time.Now().Add(10 * time.Millisecond)
	for i, b := range bs {
		first := t0.Add(time.Duration(int64(every) * int64(i) / int64(len(bs))))
		loops.Go(func() { b.sendPaced(ctx, first, every, halt, &acks, &sent, &acked) })
	}
	r := pacedRun{warmEnd: t0.Add(latencyWarmUp), end: t0.Add(total)}
	if err := sleepCtx(ctx, time.Until(r.warmEnd)); err != nil {
		close(halt)
		loops.Wait()
		return r, err
	}
	meter, err := startCPUOf(rp.pids(), nil)
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

// pacedScenario runs spec runs times for duration each and summarizes it.
func (bn *bench) pacedScenario(ctx context.Context, spec pacedSpec, runs int, duration time.Duration) *scenarioResult {
	every := spec.every()
	nc, talk := len(spec.cast.users), spec.cast.senders()
	fan := spec.cast.fan()
	s := &scenarioResult{
		Name: spec.name, defs: pacedDefs,
		Title: fmt.Sprintf("%s, %s msg/s offered (%s deliveries/s) for %s after a %s warm-up, %d runs",
			spec.what, fmtNum(spec.rate, 0), fmtNum(spec.rate*fan, 0), duration, latencyWarmUp, runs),
		Params: map[string]any{"clients": nc, "talkers": talk, "conversations": len(spec.cast.convs), "rate": spec.rate,
			"recipients_per_message": fan, "offered_deliveries_per_s": spec.rate * fan, "duration_s": duration.Seconds(),
			"warm_up_s": latencyWarmUp.Seconds(), "send_interval_ms": float64(every) / 1e6, "window": bn.cfg.window, "runs": runs},
	}
	maps.Copy(s.Params, spec.params)
	s.Notes = append(s.Notes, spec.notes...)
	s.Notes = append(s.Notes,
		fmt.Sprintf("Open loop: each of the %d talking clients sends one message every %s on its own ticker, whether or not earlier ones were acked; their first sends are staggered evenly over one interval, so together they send one message every %s.",
			talk, every.Round(time.Microsecond), (every/time.Duration(max(1, talk))).Round(time.Microsecond)),
		"Send → delivered: the sender writes its send time (one monotonic clock, one process) into the text; each receiving client takes the difference when its event handler sees the message. Percentiles cover deliveries of messages sent in the window; the warm-up's are discarded. Lost and duplicates count every delivery owed, warm-up included, and must be 0.",
		"Ack latency: from the send call to the relay's durable ack (after the SQLite commit, synchronous=FULL by default) reaching the sender. Relay CPU per 1,000 deliveries = relay CPU seconds in the window ÷ deliveries arriving in it × 1,000.",
		fmt.Sprintf("All %d clients live in the one generator process on one core: generator CPU at or above %.0f %% means the generator, not the relay, set the limit (the run says so).", nc, genBound*100),
	)
	bn.repeat(ctx, s, runs, pacedKeys, func(r *runResult) error {
		return runPaced(ctx, bn.rc, spec, duration, bn.cfg.window, r)
	})
	return s
}
