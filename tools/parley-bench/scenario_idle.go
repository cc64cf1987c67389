package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// idleDefs are the numbers one idle run reports, in table order.
var idleDefs = []metricDef{
	{"connect_per_s", "connect rate (dial + hello + welcome)", "conn/s", 0},
	{"connected", "connections welcomed", "", 0},
	{"relay_connections", "relay's parley_connections after settling", "", 0},
	{"rss_before_mib", "relay RSS before connecting", "MiB", 1},
	{"rss_after_mib", "relay RSS after settling", "MiB", 1},
	{"rss_per_conn_kib", "relay RSS per idle connection", "KiB", 2},
	{"heap_before_mib", "relay Go heap in use before", "MiB", 1},
	{"heap_after_mib", "relay Go heap in use after", "MiB", 1},
	{"heap_per_conn_kib", "relay Go heap per idle connection", "KiB", 2},
	{"goroutines_before", "relay goroutines before", "", 0},
	{"goroutines_after", "relay goroutines after", "", 0},
	{"goroutines_per_conn", "relay goroutines per connection", "", 2},
	{"relay_cpu_ms_per_conn", "relay CPU per connect", "CPU ms", 3},
	{"relay_fds", "relay's open descriptors after settling", "", 0},
	{"relay_fd_limit", "relay's RLIMIT_NOFILE", "", 0},
	{"workers", "generator processes holding the connections", "", 0},
	{"gen_cpu_util", "generator CPU use while connecting (all its processes)", "% of a core", 0},
	{"other_cpu_util", "other CPU use on the machine while connecting (noise)", "% of a core", 0},
}

// idleBudgetKiB is the budget of relay memory per idle connection.
const (
	idleBudgetKiB   = 16
	idleMoonshotKiB = 8
)

// idleReserve is how many descriptors a "max" run leaves the relay: for
// the bench's /metrics scrapes and SQLite's read connections.
const idleReserve = 8

// runIdle opens n raw WebSockets (connsMax: as many as the relay can hold)
// that authenticate and then stay silent, and measures what they cost the
// relay.
func runIdle(ctx context.Context, rc relayConfig, n int, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	// Silent connections must outlive the measurement: the relay closes a
	// connection after 2.5 heartbeats without a frame.
	rc.extra = slices.Concat(rc.extra, []string{"--heartbeat", "60s"})
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	rssBefore, err := settledRSS(ctx, rp.pid(), 0)
	if err != nil {
		return err
	}
	mBefore, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	limit, err := nofileLimit(rp.pid())
	if err != nil {
		return err
	}
	fdsBefore, err := openFDs(rp.pid())
	if err != nil {
		return err
	}
	run.set("relay_fd_limit", float64(limit))
	toMax := n == connsMax
	if toMax {
		n = limit - fdsBefore - idleReserve
		run.note("max: the relay's RLIMIT_NOFILE is %d and it holds %d descriptors before any connection (listener, epoll, SQLite files, stdio); %d are left free for the bench's scrapes, so it is offered %d connections", limit, fdsBefore, idleReserve, n)
	}

	fl, err := startFleet(ctx, rp.wsURL(), n)
	if err != nil {
		return err
	}
	defer fl.close()
	meter, err := startCPU(rp.pid(), fl.pids()...)
	if err != nil {
		return err
	}
	t0 := time.Now()
	rep, err := fl.dial(ctx)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	cpu, err := meter.stop()
	if err != nil {
		return err
	}
	ok := rep.Connected
	run.set("connected", float64(ok))
	run.set("connect_per_s", float64(ok)/elapsed.Seconds())
	run.set("workers", float64(len(fl.procs)))
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	if ok > 0 {
		run.set("relay_cpu_ms_per_conn", cpu.Relay/float64(ok)*1000)
	}
	if ok == 0 {
		return fmt.Errorf("no connection was welcomed: %s", rep.FirstErr)
	}
	if rep.Failed > 0 {
		run.note("%d of %d connections failed; first error: %s", rep.Failed, n, rep.FirstErr)
	}

	rssAfter, err := settledRSS(ctx, rp.pid(), 2*time.Second)
	if err != nil {
		return err
	}
	mAfter, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	fdsAfter, err := openFDs(rp.pid())
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}
	run.set("relay_fds", float64(fdsAfter))

	const kib, mib = 1024.0, 1024.0 * 1024
	per := float64(ok)
	run.set("rss_before_mib", rssBefore/mib)
	run.set("rss_after_mib", rssAfter/mib)
	run.set("rss_per_conn_kib", (rssAfter-rssBefore)/per/kib)
	if c, has := mAfter.get("parley_connections"); has {
		run.set("relay_connections", c)
		if int(c) != ok {
			run.note("the relay counts %v open connections, the bench holds %d", c, ok)
		}
	}
	hb, ok1 := mBefore.get("go_memstats_heap_inuse_bytes")
	ha, ok2 := mAfter.get("go_memstats_heap_inuse_bytes")
	if ok1 && ok2 {
		run.set("heap_before_mib", hb/mib)
		run.set("heap_after_mib", ha/mib)
		run.set("heap_per_conn_kib", (ha-hb)/per/kib)
	} else {
		run.note("the relay's /metrics has no go_memstats_heap_inuse_bytes")
	}
	gb, ok1 := mBefore.get("go_goroutines")
	ga, ok2 := mAfter.get("go_goroutines")
	if ok1 && ok2 {
		run.set("goroutines_before", gb)
		run.set("goroutines_after", ga)
		run.set("goroutines_per_conn", (ga-gb)/per)
	} else {
		run.note("the relay's /metrics has no go_goroutines")
	}
	if toMax {
		probeLimit(ctx, rp, limit, fdsAfter, run)
	}
	return nil
}

// probeLimit shows what stops a "max" run: it dials more connections than
// the relay has descriptors left and notes how many it could accept.
func probeLimit(ctx context.Context, rp *relayProc, limit, fds int, run *runResult) {
	free := limit - fds
	extra := free + 4
	tok, err := token("idle-probe", time.Hour)
	if err != nil {
		return
	}
	var conns []*websocket.Conn
	var firstErr error
	for range extra {
		c, err := dialIdle(ctx, rp.wsURL(), tok, nil, 2*time.Second)
		if err != nil {
			firstErr = err
			break
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.CloseNow()
	}
	run.set("probe_accepted", float64(len(conns)))
	if firstErr != nil {
		run.note("limit: with %d connections the relay holds %d of its %d descriptors; of %d more dialled one by one, %d were accepted and the next failed (%v): accept(2) has no descriptor left (EMFILE), so the relay's RLIMIT_NOFILE is the limit, not memory or ports",
			int(run.Metrics["connected"]), fds, limit, extra, len(conns), firstErr)
	} else {
		run.note("limit: %d more connections were accepted beyond the %d descriptors the relay held; the limit was not reached", len(conns), fds)
	}
}

// nofileLimit returns the soft RLIMIT_NOFILE of pid from /proc/<pid>/limits.
func nofileLimit(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, errors.New("no \"Max open files\" in /proc limits")
}

// openFDs counts the descriptors pid holds.
func openFDs(pid int) (int, error) {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(es), err
}

// helloFrame is a bench client's Hello.
func helloFrame(tok string) []byte {
	return proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1,
		Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "idle", Client: "parley-bench"}})
}

// hello says Hello on a fresh connection and waits for Welcome.
func hello(ctx context.Context, c *websocket.Conn, tok string) error {
	if err := c.Write(ctx, websocket.MessageBinary, helloFrame(tok)); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("welcome: %w", err)
	}
	return welcomed(b)
}

// welcomed reads the relay's answer to a Hello: nil for a Welcome.
func welcomed(b []byte) error {
	f, err := proto.Decode(b, 0)
	if err != nil {
		return fmt.Errorf("welcome: %w", err)
	}
	switch body := f.Body.(type) {
	case *proto.Welcome:
		return nil
	case *proto.ErrorBody:
		return fmt.Errorf("hello answered with error %d: %s", body.Code, body.Message)
	case *proto.Close:
		return fmt.Errorf("hello answered with close %d: %s", body.Code, body.Reason)
	}
	return errors.New("hello answered with " + f.Type.String())
}

// settledRSS waits, then returns the median of three VmRSS readings 500 ms
// apart: one reading can land on either side of a GC or a page scavenge.
func settledRSS(ctx context.Context, pid int, wait time.Duration) (float64, error) {
	if err := sleepCtx(ctx, wait); err != nil {
		return 0, err
	}
	var xs []float64
	for i := range 3 {
		if i > 0 {
			if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
				return 0, err
			}
		}
		v, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		xs = append(xs, v)
	}
	return median(xs), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idle measures every --conns point: the headline point (10,000 when asked
// for, else the largest count) --runs times, the others --sweep-runs times.
// It returns the headline scenario and records every point in the sweep.
func (bn *bench) idle(ctx context.Context) []*scenarioResult {
	c := bn.cfg
	head := c.conns[0]
	for _, n := range c.conns {
		if n == 10_000 || head != 10_000 && n > head {
			head = n
		}
	}
	var headline *scenarioResult
	for _, n := range c.conns {
		if ctx.Err() != nil {
			break
		}
		runs := c.sweepRuns
		if n == head {
			runs = c.runs
		}
		what := fmtNum(float64(n), 0) + " connections"
		if n == connsMax {
			what = "as many connections as the relay can hold"
		}
		s := &scenarioResult{
			Name: "idle", defs: idleDefs,
			Title:  fmt.Sprintf("idle — %s, %d runs", what, runs),
			Params: map[string]any{"conns": connsParam(n), "runs": runs, "relay_heartbeat": "60s", "workers": workerCount(max(n, 1)), "per_source_address": maxPerSource},
			Notes: []string{
				"Each connection is a raw WebSocket that sends Hello, reads Welcome and then stays silent; the relay runs with --heartbeat 60s so none times out during the measurement.",
				fmt.Sprintf("The connections are held by generator worker processes (parley-bench re-executed, at most %s connections each, on the generator's CPU), dialling from source addresses spread over 127.1.0.0/16 (%s connections per address), so neither the generator's descriptor limit nor the ephemeral ports of one address bound the count.", fmtNum(maxPerWorker, 0), fmtNum(maxPerSource, 0)),
				"RSS before is the median of 3 readings 500 ms apart; after is the same, taken 2 s after the last Welcome. Per connection = (after − before) ÷ connections.",
			},
		}
		bn.repeat(ctx, s, runs, []string{"connected", "connect_per_s", "rss_after_mib", "rss_per_conn_kib", "heap_per_conn_kib", "goroutines_per_conn", "other_cpu_util"},
			func(r *runResult) error { return runIdle(ctx, bn.rc, n, r) })
		s.budget("relay memory (RSS) per idle connection", "rss_per_conn_kib", idleBudgetKiB, idleMoonshotKiB, "KiB")
		if n == head {
			headline = s
		}
		bn.res.IdleSweep = append(bn.res.IdleSweep, s)
	}
	if headline == nil {
		return nil
	}
	return []*scenarioResult{headline}
}

func connsParam(n int) any {
	if n == connsMax {
		return "max"
	}
	return n
}
