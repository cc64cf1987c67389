package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
)

// syncDefs are the numbers one sync run reports, in table order.
var syncDefs = []metricDef{
	{"messages", "messages to catch up", "", 0},
	{"caught_up_s", "time to caught up (connect → every message seen by the app)", "s", 2},
	{"catch_up_per_s", "catch-up rate", "msg/s", 0},
	{"connect_ms", "of which, connect (dial, hello, welcome)", "ms", 1},
	{"synced_s", "connect → WaitSynced returns", "s", 2},
	{"requests", "requests the device made (sync and history pages)", "", 0},
	{"delivered", "messages caught up", "", 0},
	{"lost", "lost (sent, never caught up)", "", 0},
	{"duplicates", "duplicate deliveries", "", 0},
	{"relay_cpu_s_per_1k", "relay CPU per 1,000 messages caught up", "CPU s", 4},
	{"relay_cpu_util", "relay CPU use while catching up", "% of a core", 0},
	{"relay_rss_mib", "relay RSS after catching up", "MiB", 1},
	{"gen_cpu_util", "generator CPU use while catching up (the device)", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine while catching up (noise)", "% of a core", 0},
	{"write_per_s", "rate the peers wrote the backlog at (closed loop, for reference)", "msg/s", 0},
}

// syncCast is the reader and its peers, one p2p conversation each; only the
// peers send.
func syncCast(convs int) cast {
	c := cast{users: []string{"bench-reader"}, talks: []bool{false}}
	for i := range convs {
		c.users = append(c.users, fmt.Sprintf("bench-peer-%03d", i))
		c.talks = append(c.talks, true)
		c.convs = append(c.convs, castConv{id: proto.P2PID("bench-reader", c.users[i+1]), members: []int{0, i + 1}})
	}
	return c
}

// runSync has a device that was offline catch up: the reader connects and
// syncs (one warm-up message from every peer), goes offline, the peers
// write messages into their conversations with it, and the reader connects
// again with the same cache and fetches the backlog.
func runSync(ctx context.Context, rc relayConfig, messages, convs, window int, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	c := syncCast(convs)
	bs := c.bots(func(i int) int {
		if i-1 < messages%convs {
			return messages/convs + 1
		}
		return messages / convs
	})
	reader := bs[0]
	reader.store = client.NewMemoryStore() // survives Close: the device's cache
	defer closeAll(bs)
	if err := startCast(ctx, rp, c, bs, window); err != nil {
		return err
	}
	if err := reader.c.Close(); err != nil {
		return fmt.Errorf("reader offline: %w", err)
	}
	reader.c = nil

	// The backlog, as fast as the peers can write it.
	var sent, acked atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, b := range bs[1:] {
		wg.Go(func() { b.sendAll(ctx, window, &sent, &acked) })
	}
	wg.Wait()
	run.set("write_per_s", float64(acked.Load())/time.Since(t0).Seconds())
	want := owed(bs)
	if acked.Load() != sent.Load() || sent.Load() != int64(messages) {
		return fmt.Errorf("backlog: %d of %d messages sent, %d acknowledged", sent.Load(), messages, acked.Load())
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if err := reader.open(rp, window, 1); err != nil {
		return err
	}
	var delivered atomic.Int64
	reader.watch(&delivered)
	meter, err := startCPU(rp.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
	defer ccancel()
	if err := reader.c.Connect(cctx); err != nil {
		return fmt.Errorf("reader back online: %w", err)
	}
	connected := time.Since(start)
	if err := reader.c.WaitSynced(cctx); err != nil {
		return fmt.Errorf("reader sync: %w", err)
	}
	synced := time.Since(start)
	inTime := waitDelivered(ctx, &delivered, want)
	cpu, err := meter.stop()
	if err != nil {
		return err
	}
	rss, rssErr := rssBytes(rp.pid())
	after, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}

	t := tallyWindow(bs, math.MinInt64, math.MaxInt64)
	reader.mu.Lock()
	var last int64
	for _, at := range reader.dRecv {
		last = max(last, at)
	}
	reader.mu.Unlock()
	caughtUp := max(synced, time.Duration(last-int64(start.Sub(clock))))
	run.set("messages", float64(want))
	run.set("delivered", float64(t.unique))
	run.set("lost", float64(want-int64(t.unique)))
	run.set("duplicates", float64(t.dups))
	run.set("connect_ms", float64(connected)/1e6)
	run.set("synced_s", synced.Seconds())
	run.set("caught_up_s", caughtUp.Seconds())
	run.set("catch_up_per_s", float64(t.unique)/caughtUp.Seconds())
	if a, ok1 := after.get("parley_frames_in_total"); ok1 {
		if b, ok2 := before.get("parley_frames_in_total"); ok2 {
			run.set("requests", a-b-1) // less the Hello
		}
	}
	if t.unique > 0 {
		run.set("relay_cpu_s_per_1k", cpu.Relay/float64(t.unique)*1000)
	}
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	if rssErr == nil {
		run.set("relay_rss_mib", rss/(1<<20))
	}
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	if t.strange > 0 {
		run.note("%d messages had a sender, conversation or text the bench did not send", t.strange)
	}
	if !inTime {
		run.note("LOSS: %d of %d messages never reached the device within 20 s", want-int64(t.unique), want)
	}
	if t.dups > 0 {
		run.note("DUPLICATES: %d messages were delivered more than once", t.dups)
	}
	return nil
}

func (bn *bench) sync(ctx context.Context) *scenarioResult {
	c := bn.cfg
	s := &scenarioResult{
		Name: "sync", defs: syncDefs,
		Title: fmt.Sprintf("sync — a device offline for %s messages in %d conversations catches up, %d runs",
			fmtNum(float64(c.syncMsgs), 0), c.syncConvs, c.runs),
		Params: map[string]any{"messages": c.syncMsgs, "conversations": c.syncConvs, "runs": c.runs, "history_page": proto.MaxPageLimit},
		Notes: []string{
			fmt.Sprintf("The reader's device connects, syncs one warm-up message from each of %d peers and goes offline, keeping its cache (a client.MemoryStore); the peers then write %s messages into their p2p conversations with it (closed loop, %d in flight each). The device connects again with the same cache: one sync names the %d changed conversations and the core fills each gap with history pages of up to %d messages, 4 conversations at a time.",
				c.syncConvs, fmtNum(float64(c.syncMsgs), 0), c.window, c.syncConvs, proto.MaxPageLimit),
			"Time to caught up runs from Connect to the later of WaitSynced returning and the app's event handler seeing the last message; every message must be seen exactly once.",
		},
	}
	bn.repeat(ctx, s, c.runs, []string{"caught_up_s", "catch_up_per_s", "requests", "lost", "duplicates", "relay_cpu_s_per_1k", "gen_cpu_util", "other_cpu_util"},
		func(r *runResult) error { return runSync(ctx, bn.rc, c.syncMsgs, c.syncConvs, c.window, r) })
	if c.syncMsgs == 10_000 {
		// The budget is for the sync into IndexedDB in Chromium (the browser
		// bench); a native client with a memory cache is the relay's share.
		s.budget("offline sync of 10,000 messages, native client with a memory cache (the relay's share of the browser budget)", "caught_up_s", 3, 1, "s")
	}
	return s
}
