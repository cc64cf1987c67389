package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	{"other_cpu_util", "other CPU use on the machine while connecting (noise)", "% of a core", 0},
}

// idleBudgetKiB is SPEC §5: relay memory per idle connection.
const (
	idleBudgetKiB   = 16
	idleMoonshotKiB = 8
)

// runIdle opens n raw WebSockets that authenticate and then stay silent, and
// measures what they cost the relay.
func runIdle(ctx context.Context, rc relayConfig, n int, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// Silent connections must outlive the measurement: the relay closes a
	// connection after 2.5 heartbeats without a frame.
	rc.extra = slices.Concat(rc.extra, []string{"--heartbeat", "60s"})
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

	// Tokens are minted before the clock starts: the application server's
	// cost, not the relay's.
	toks := make([]string, n)
	for i := range n {
		if toks[i], err = token(fmt.Sprintf("idle-%05d", i), time.Hour); err != nil {
			return err
		}
	}

	rssBefore, err := settledRSS(ctx, rp.pid(), 0)
	if err != nil {
		return err
	}
	mBefore, err := rp.metrics(ctx)
	if err != nil {
		return err
	}

	conns := make([]*websocket.Conn, n)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range conns {
			if c != nil {
				wg.Go(func() { _ = c.CloseNow() })
			}
		}
		wg.Wait()
	}()
	var next atomic.Int64
	var failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	meter, err := startCPU(rp.pid())
	if err != nil {
		return err
	}
	t0 := time.Now()
	for range min(64, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dialIdle(ctx, rp.wsURL(), toks[i])
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu, err := meter.stop()
	if err != nil {
		return err
	}
	ok := n - int(failed.Load())
	run.set("connected", float64(ok))
	run.set("connect_per_s", float64(ok)/elapsed.Seconds())
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	if ok > 0 {
		run.set("relay_cpu_ms_per_conn", cpu.Relay/float64(ok)*1000)
	}
	if ok == 0 {
		return fmt.Errorf("no connection was welcomed: %v", firstErr)
	}
	if f := failed.Load(); f > 0 {
		run.note("%d of %d connections failed; first error: %v", f, n, firstErr)
	}

	rssAfter, err := settledRSS(ctx, rp.pid(), 2*time.Second)
	if err != nil {
		return err
	}
	mAfter, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	if !rp.alive() {
		return fmt.Errorf("relay exited during the run: %v", rp.err)
	}

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
	return nil
}

// dialIdle opens one connection, says Hello and waits for Welcome. After
// that the connection is never read or written again.
func dialIdle(ctx context.Context, url, tok string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	hello := proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1,
		Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "idle", Client: "parley-bench"}})
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	f, err := proto.Decode(b, 0)
	if err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	if _, ok := f.Body.(*proto.Welcome); !ok {
		c.CloseNow()
		if e, ok := f.Body.(*proto.ErrorBody); ok {
			return nil, fmt.Errorf("hello answered with error %d: %s", e.Code, e.Message)
		}
		if e, ok := f.Body.(*proto.Close); ok {
			return nil, fmt.Errorf("hello answered with close %d: %s", e.Code, e.Reason)
		}
		return nil, errors.New("hello answered with " + f.Type.String())
	}
	return c, nil
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
