package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// groupDefs are the numbers one group fan-out run reports, in table order.
var groupDefs = []metricDef{
	{"offered_per_s", "offered rate", "msg/s", 0},
	{"offered_deliveries_per_s", "offered deliveries (offered × (members − 1))", "deliveries/s", 0},
	{"sent_per_s", "sent rate (generator; ≈ offered if it kept pace)", "msg/s", 0},
	{"achieved_deliveries_per_s", "achieved deliveries (arriving in the window)", "deliveries/s", 0},
	{"deliver_p50_ms", "send → delivered p50 (over all deliveries)", "ms", 2},
	{"deliver_p95_ms", "send → delivered p95", "ms", 2},
	{"deliver_p99_ms", "send → delivered p99", "ms", 2},
	{"deliver_max_ms", "send → delivered max", "ms", 2},
	{"ack_p50_ms", "ack latency p50", "ms", 2},
	{"ack_p99_ms", "ack latency p99", "ms", 2},
	{"sent", "messages sent in the window", "", 0},
	{"delivered", "of those, deliveries received", "", 0},
	{"lost", "lost deliveries (warm-up included)", "", 0},
	{"duplicates", "duplicate deliveries (warm-up included)", "", 0},
	{"relay_cpu_util", "relay CPU use during the window", "% of a core", 0},
	{"relay_cpu_s_per_1k", "relay CPU per 1,000 deliveries", "CPU s", 4},
	{"gen_cpu_util", "generator CPU use during the window", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine during the window (noise)", "% of a core", 0},
	{"batch_mean", "mean commit batch size (warm-up included)", "sends", 1},
	{"relay_ack_mean_ms", "relay-side ack latency mean (frame read → ack queued; warm-up included)", "ms", 2},
}

// The group fan-out target: Centrifugo's 50,000 deliveries/s at p99 12 ms
// (in-memory), matched in throughput with every message durable, at a p99
// within SPEC §5's 25 ms, on one relay core.
const (
	groupTargetDeliveries = 50_000
	groupTargetP99ms      = 25
	groupDefaultRate      = 5000
)

// groupConfig are the knobs of the group fan-out scenario.
type groupConfig struct {
	Rooms    int
	Members  int
	Rate     float64       // offered messages per second, over all clients
	Duration time.Duration // the measured window, after latencyWarmUp
	Window   int           // the client's SendWindow
}

func (c groupConfig) clients() int { return c.Rooms * c.Members }

// every is the send interval of one client: every member sends, and the rate
// is spread evenly over all of them.
func (c groupConfig) every() time.Duration {
	return time.Duration(float64(c.clients()) / c.Rate * float64(time.Second))
}

// groupID is room r's conversation id.
func groupID(r int) string { return fmt.Sprintf("g:bench-r%d", r) }

// member is the receiving side of one group client: which of its room's
// messages it has seen, by sender and message index. It is guarded by the
// sender's mu and touched by the client's event goroutine.
type member struct {
	*sender
	peers map[string]int // user → index in seen
	seen  [][]bool
	warmN int // distinct peers whose warm-up arrived
	warmS map[string]bool
}

// newGroup returns rooms × members clients, not yet connected: client
// r×members+m is user bench-r<r>-m<m> of room r. Each may send n messages.
func newGroup(cfg groupConfig, n int) []*member {
	ms := make([]*member, 0, cfg.clients())
	for r := range cfg.Rooms {
		for m := range cfg.Members {
			s := &sender{user: fmt.Sprintf("bench-r%d-m%d", r, m), conv: groupID(r), n: n}
			s.ackLat = make([]float64, n)
			for k := range s.ackLat {
				s.ackLat[k] = math.NaN()
			}
			s.ackAt = make([]time.Time, n)
			s.sentAt = make([]int64, n)
			ms = append(ms, &member{sender: s, warmS: make(map[string]bool)})
		}
	}
	for r := range cfg.Rooms {
		room := ms[r*cfg.Members : (r+1)*cfg.Members]
		for _, me := range room {
			me.peers = make(map[string]int, cfg.Members-1)
			for _, p := range room {
				if p != me {
					me.peers[p.user] = len(me.seen)
					me.seen = append(me.seen, make([]bool, n))
				}
			}
		}
	}
	return ms
}

func senders(ms []*member) []*sender {
	ss := make([]*sender, len(ms))
	for i, m := range ms {
		ss[i] = m.sender
	}
	return ss
}

// createGroups has the first member of every room create its group with the
// others, a few rooms at a time.
func createGroups(ctx context.Context, cfg groupConfig, ms []*member) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sem := make(chan struct{}, 16)
	errs := make([]error, cfg.Rooms)
	var wg sync.WaitGroup
	for r := range cfg.Rooms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			room := ms[r*cfg.Members : (r+1)*cfg.Members]
			others := make([]string, 0, len(room)-1)
			for _, m := range room[1:] {
				others = append(others, m.user)
			}
			if _, err := room[0].c.CreateGroup(ctx, groupID(r), fmt.Sprintf("bench room %d", r), others); err != nil {
				errs[r] = fmt.Errorf("create %s: %w", groupID(r), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// groupWarmUp has every member send one message to its room and waits until
// every member has seen the warm-up of every other member of its room: then
// each membership is known to the relay and the fan-out path is warm.
func groupWarmUp(ctx context.Context, ms []*member) error {
	got := make(chan struct{}, len(ms))
	unsub := make([]func(), len(ms))
	for i, m := range ms {
		unsub[i] = m.c.On(func(e core.Event) {
			if e.Kind != core.EventMessage || e.Message.Text != "warm-up" || e.Message.ConvID != m.conv {
				return
			}
			if _, ok := m.peers[e.Message.Sender]; !ok {
				return
			}
			m.mu.Lock()
			done := false
			if !m.warmS[e.Message.Sender] {
				m.warmS[e.Message.Sender] = true
				m.warmN++
				done = m.warmN == len(m.peers)
			}
			m.mu.Unlock()
			if done {
				got <- struct{}{}
			}
		})
	}
	defer func() {
		for _, u := range unsub {
			u()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			if _, err := m.c.SendText(ctx, m.conv, "warm-up"); err != nil {
				errs[i] = fmt.Errorf("warm-up send %s: %w", m.user, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for range ms {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("warm-up messages not delivered to every member: %w", ctx.Err())
		}
	}
	return nil
}

// watchGroup counts the room's benchmark messages from other members as
// they arrive; delivered counts unique deliveries.
func (m *member) watchGroup(delivered *atomic.Int64) {
	m.c.On(func(e core.Event) {
		if e.Kind != core.EventMessage || e.Message.Sender == m.user || e.Message.Text == "warm-up" {
			return
		}
		now := sinceClock()
		p, isPeer := m.peers[e.Message.Sender]
		k, sentAt, ok := parseBenchText(e.Message.Text)
		m.mu.Lock()
		defer m.mu.Unlock()
		switch {
		case !isPeer || e.Message.ConvID != m.conv || !ok || k >= len(m.seen[p]):
			m.strange++
		case m.seen[p][k]:
			m.dups++
		default:
			m.seen[p][k] = true
			m.dLat = append(m.dLat, float64(now-sentAt)/1e6)
			m.dSent = append(m.dSent, sentAt)
			m.dRecv = append(m.dRecv, now)
			delivered.Add(1)
		}
	})
}

// runGroup offers a fixed rate of messages into rooms × members group
// conversations, every member pacing its own sends, and measures send →
// delivered at every other member of the room.
func runGroup(ctx context.Context, rc relayConfig, cfg groupConfig, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+3*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	nc := cfg.clients()
	every := cfg.every()
	total := latencyWarmUp + cfg.Duration
	ms := newGroup(cfg, int(total/every)+2)
	ss := senders(ms)
	defer closeAll(ss)
	if err := connectAll(ctx, rp, ss, cfg.Window); err != nil {
		return err
	}
	if err := createGroups(ctx, cfg, ms); err != nil {
		return err
	}
	if err := groupWarmUp(ctx, ms); err != nil {
		return err
	}

	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	var delivered atomic.Int64
	for _, m := range ms {
		m.watchGroup(&delivered)
	}
	pr, err := pacedWindow(ctx, rp, ss, every, total)
	if err != nil {
		return err
	}
	warmEnd, end, cpu := pr.warmEnd, pr.end, pr.cpu

	fan := int64(cfg.Members - 1)
	want := pr.sent * fan
	inTime := waitDelivered(ctx, &delivered, want)
	after, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}

	t := tallyWindow(ss, int64(warmEnd.Sub(clock)), int64(end.Sub(clock)))
	ackLat, dLat := t.ackLat, t.dLat
	nSent, arrived, unique, dups, strange, errs := t.sent, t.arrived, t.unique, t.dups, t.strange, t.errs
	secs := cfg.Duration.Seconds()
	run.set("offered_per_s", cfg.Rate)
	run.set("offered_deliveries_per_s", cfg.Rate*float64(fan))
	run.set("sent_per_s", float64(nSent)/secs)
	run.set("achieved_deliveries_per_s", float64(arrived)/secs)
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
	if arrived > 0 {
		run.set("relay_cpu_s_per_1k", cpu.Relay/float64(arrived)*1000)
	}
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	relayHistograms(run, before, after)

	if g := cpu.Self / cpu.Wall; g > 0.9 {
		run.note("GENERATOR-BOUND: the generator used %.0f %% of its core during the window; the rates and latencies are the limit of %d clients in one bench process, not the relay's", g*100, nc)
	}
	if offered := cfg.Rate * secs; float64(nSent) < 0.95*offered {
		run.note("the generator fell behind: %d sends in the window against %.0f offered", nSent, offered)
	}
	if errs > 0 {
		run.note("%d sends failed or were not acknowledged in time", errs)
	}
	if strange > 0 {
		run.note("%d messages had a sender, conversation or text the bench did not send", strange)
	}
	if !inTime {
		run.note("LOSS: %d of %d deliveries never reached a member within 20 s of the last ack", want-int64(unique), want)
	}
	if dups > 0 {
		run.note("DUPLICATES: %d deliveries arrived more than once", dups)
	}
	return nil
}

// groupTargetLine compares a group scenario's medians with the fan-out
// target.
func groupTargetLine(s *scenarioResult, cfg groupConfig) string {
	d, ok1 := s.row("achieved_deliveries_per_s")
	p, ok2 := s.row("deliver_p99_ms")
	offered := cfg.Rate * float64(cfg.Members-1)
	if !ok1 || !ok2 {
		return fmt.Sprintf("Target: %s deliveries/s at p99 ≤ %d ms on one relay core — not measured (offered %s deliveries/s).",
			fmtNum(groupTargetDeliveries, 0), groupTargetP99ms, fmtNum(offered, 0))
	}
	verdict := "**NOT MET**"
	if *d.Median >= groupTargetDeliveries && *p.Median <= groupTargetP99ms {
		verdict = "**MET**"
	}
	return fmt.Sprintf("Target %s: %s deliveries/s at p99 ≤ %d ms on one relay core (Centrifugo, in-memory: 50,000 at p99 12 ms); "+
		"measured %s deliveries/s at p99 %s ms (medians; offered %s msg/s × %d = %s deliveries/s).",
		verdict, fmtNum(groupTargetDeliveries, 0), groupTargetP99ms, fmtNum(*d.Median, 0), fmtNum(*p.Median, 2),
		fmtNum(cfg.Rate, 0), cfg.Members-1, fmtNum(offered, 0))
}

// groupScenario runs the group scenario cfg.runs times and summarizes it.
func groupScenario(ctx context.Context, rc relayConfig, c config) *scenarioResult {
	gc := groupConfig{Rooms: c.rooms, Members: c.members, Rate: c.gRate, Duration: c.duration, Window: c.window}
	nc := gc.clients()
	s := &scenarioResult{
		Name: "group", defs: groupDefs,
		Title: fmt.Sprintf("group fan-out — %d rooms × %d members (%d clients), %s msg/s offered (%s deliveries/s) for %s after a %s warm-up, %d runs",
			gc.Rooms, gc.Members, nc, fmtNum(gc.Rate, 0), fmtNum(gc.Rate*float64(gc.Members-1), 0), gc.Duration, latencyWarmUp, c.runs),
		Params: map[string]any{"rooms": gc.Rooms, "members": gc.Members, "clients": nc, "rate": gc.Rate,
			"offered_deliveries_per_s": gc.Rate * float64(gc.Members-1), "duration_s": gc.Duration.Seconds(),
			"warm_up_s": latencyWarmUp.Seconds(), "send_interval_ms": float64(gc.every()) / 1e6, "window": gc.Window, "runs": c.runs},
		Notes: []string{
			fmt.Sprintf("Rooms are group conversations g:bench-r<N>, each created by its first member; every member is a distinct user with one native client. Open loop: every member sends one message every %s on its own ticker, first sends staggered evenly over one interval, so together they send one message every %s.",
				gc.every().Round(time.Microsecond), (gc.every() / time.Duration(nc)).Round(time.Microsecond)),
			fmt.Sprintf("Every message must reach the other %d members of its room exactly once; a delivery is counted at the receiving member's event handler, with send → delivered from the send time in the text (one clock, one process). Achieved deliveries/s counts arrivals in the window; percentiles cover deliveries of messages sent in the window.", gc.Members-1),
			"Relay CPU per 1,000 deliveries = relay CPU seconds in the window ÷ deliveries arriving in it × 1,000. Every message is committed to SQLite (synchronous=FULL by default) before its ack and fan-out.",
			fmt.Sprintf("All %d clients live in the one generator process on one core: generator CPU near 100 %% means the generator, not the relay, set the limit (a run above 90 %% says so).", nc),
		},
	}
	for i := 1; i <= c.runs && ctx.Err() == nil; i++ {
		r := newRun(i)
		t := time.Now()
		if err := runGroup(ctx, rc, gc, r); err != nil {
			r.Err = err.Error()
		}
		r.Seconds = time.Since(t).Seconds()
		s.Runs = append(s.Runs, r)
		progress("group", i, c.runs, r, "sent_per_s", "achieved_deliveries_per_s", "deliver_p50_ms", "deliver_p99_ms", "lost", "duplicates", "relay_cpu_util", "relay_cpu_s_per_1k", "gen_cpu_util", "other_cpu_util")
	}
	s.summarize()
	if row, ok := s.row("deliver_p99_ms"); ok {
		s.Budgets = append(s.Budgets, budgetCheck{
			What: "group send → delivered p99", Metric: "deliver_p99_ms", Limit: groupTargetP99ms, Unit: "ms",
			Median: *row.Median, Worst: *row.Max, Pass: *row.Median <= groupTargetP99ms,
		})
	}
	s.Notes = append(s.Notes, groupTargetLine(s, gc))
	return s
}
