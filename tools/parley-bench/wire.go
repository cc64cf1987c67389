package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The bench side of the wire generator (see wireworker.go): it splits a
// cast over --procs worker processes, starts them together, meters them and
// the relay over the window, and merges what they counted.

// Targets of the relay throughput issue, on one relay core.
const (
	fanTargetDeliveries = 45_000 // fan-out 100 × 10 at 5,000 msg/s
	fanTargetP99ms      = 25
	fanTargetCPUus      = 20 // relay CPU per delivery
	p2pTargetRate       = 10_000
	p2pTargetP99ms      = 50
	overloadFactor      = 4
	overloadGoodput     = 0.9 // of the knee's
	overloadP99ms       = 1000
	fanProfileRate      = 5000 // the fan-out rate the profile runs at
	p2pProfileRate      = 5000 // the p2p2k rate its profile runs at
	// wireGenMax is the generator CPU use (of its core) a wire run must stay
	// under for the relay, not the generator, to be what it measures.
	wireGenMax = 0.6
)

// wireDefs are the numbers one wire run reports, in table order.
var wireDefs = []metricDef{
	{"offered_per_s", "offered rate", "msg/s", 0},
	{"offered_deliveries_per_s", "offered deliveries (offered × recipients per message)", "deliveries/s", 0},
	{"sent_per_s", "sent rate (generator; ≈ offered if it kept pace)", "msg/s", 0},
	{"achieved_per_s", "achieved rate (acks arriving in the window)", "msg/s", 0},
	{"delivered_per_s", "delivered (deliveries arriving in the window; only admitted messages are delivered: the goodput)", "deliveries/s", 0},
	{"deliver_p50_ms", "send → delivered p50, from the first send (a refused message's refusal, wait and resend included)", "ms", 2},
	{"admitted_p50_ms", "send → delivered p50, from the attempt the relay admitted (the first send unless it was refused)", "ms", 2},
	{"deliver_p99_ms", "send → delivered p99, from the first send", "ms", 2},
	{"admitted_p99_ms", "send → delivered p99, from the attempt the relay admitted", "ms", 2},
	{"deliver_max_ms", "send → delivered max, from the first send", "ms", 1},
	{"admitted_max_ms", "send → delivered max, from the attempt the relay admitted", "ms", 1},
	{"first_p99_ms", "send → delivered p99 of each sender's first message into a conversation (whenever sent)", "ms", 2},
	{"first_count", "first messages delivered", "", 0},
	{"ack_p50_ms", "ack latency p50, from the attempt the relay acked", "ms", 2},
	{"ack_p99_ms", "ack latency p99, from the attempt the relay acked", "ms", 2},
	{"refused_per_s", "sends refused with an error reply", "msg/s", 0},
	{"closed", "connections the relay closed", "", 0},
	{"lost", "lost deliveries (owed, not arrived when none had arrived for 5 s)", "", 0},
	{"backlog", "deliveries still on their way at the end of the drain time (12 s; overload 20 s): a backlog, not counted as lost", "", 0},
	{"duplicates", "duplicate deliveries", "", 0},
	{"relay_cpu_util", "relay CPU use during the window", "% of a core", 0},
	{"relay_cpu_us_per_delivery", "relay CPU per delivery", "µs", 1},
	{"relay_writes_per_frame", "relay write(2) calls per frame sent (SQLite's included; setup included)", "", 2},
	{"relay_runq_wait_pct", "time the relay's threads waited for a CPU while runnable, summed over its threads, during the window (schedstat; high: the host starved it)", "% of wall", 0},
	{"relay_rss_mib", "relay RSS at the end of the window", "MiB", 1},
	{"gen_cpu_util", "generator CPU use during the window, all its processes on its one core", "% of a core", 0},
	{"gen_proc_max_util", "busiest generator process", "% of a core", 0},
	{"gen_cpu_us_per_delivery", "generator CPU per delivery arriving in the window (CPU time, so the host's other load does not inflate it; its sends included)", "µs", 1},
	{"other_cpu_util", "other CPU use on the machine during the window (noise)", "% of a core", 0},
	{"batch_mean", "mean commit batch size (setup included)", "sends", 1},
}

var wireKeys = []string{"sent_per_s", "delivered_per_s", "deliver_p50_ms", "deliver_p99_ms", "admitted_p99_ms", "lost", "refused_per_s",
	"relay_cpu_util", "relay_cpu_us_per_delivery", "gen_cpu_util", "gen_cpu_us_per_delivery", "other_cpu_util"}

// wireSpec is one wire scenario at one rate.
type wireSpec struct {
	name, what string
	cast       cast
	rate       float64
	warm, dur  time.Duration
	first      bool // flag first messages (p2p: the message that creates the conversation)
	overload   bool // a backlog at the end is reported as such, not as loss
	params     map[string]any
	notes      []string
	// probe, if set, runs beside the measured window, from its start; the
	// run waits for it.
	probe func(ctx context.Context, rp *relayProc) error
}

// wireProc is one running worker.
type wireProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func (p *wireProc) say(s string) error {
	_, err := io.WriteString(p.stdin, s+"\n")
	return err
}

func (p *wireProc) line(ctx context.Context, timeout time.Duration) (string, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", errors.New("wire worker exited")
		}
		return l, nil
	case <-time.After(timeout):
		return "", errors.New("wire worker timed out")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// startWire starts procs workers for job, each owning every procs-th user.
func startWire(ctx context.Context, job wireJob, procs int) ([]*wireProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ps []*wireProc
	stop := func() {
		for _, p := range ps {
			p.stdin.Close()
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	}
	for i := range procs {
		j := job
		j.Own = nil
		for u := i; u < len(job.Users); u += procs {
			j.Own = append(j.Own, u)
		}
		cmd := exec.Command(self, wireWorkerArg)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err1 := cmd.StdinPipe()
		stdout, err2 := cmd.StdoutPipe()
		if err := errors.Join(err1, err2); err != nil {
			stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start wire worker: %w", err)
		}
		p := &wireProc{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<16), 64<<20)
			for sc.Scan() {
				p.lines <- sc.Text()
			}
			close(p.lines)
		}()
		ps = append(ps, p)
		b, _ := json.Marshal(j)
		if err := p.say(string(b)); err != nil {
			stop()
			return nil, err
		}
	}
	for _, p := range ps {
		if l, err := p.line(ctx, 3*time.Minute); err != nil || l != "ready" {
			stop()
			return nil, fmt.Errorf("wire worker not ready: %q %v", l, err)
		}
	}
	return ps, nil
}

// runWire runs spec once against a fresh relay with procs workers.
func runWire(ctx context.Context, rc relayConfig, spec wireSpec, procs int, run *runResult) error {
	ctx, cancel := context.WithTimeout(ctx, spec.warm+spec.dur+4*time.Minute)
	defer cancel()
	rp, stop, err := benchRelay(ctx, rc, run)
	if err != nil {
		return err
	}
	defer stop()

	c := spec.cast
	job := wireJob{URL: rp.wsURL(), Users: c.users, Talk: c.talks, Warm: int64(spec.warm), Dur: int64(spec.dur), First: spec.first}
	for _, cv := range c.convs {
		job.Convs = append(job.Convs, wireConv{ID: cv.id, Members: cv.members, Group: cv.group})
	}
	every := time.Duration(float64(c.senders()) / spec.rate * float64(time.Second))
	job.Every = int64(every)
	job.Count = int((spec.warm+spec.dur)/every) + 2
	ps, err := startWire(ctx, job, procs)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range ps {
			p.stdin.Close()
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	}()
	var pids []int
	for _, p := range ps {
		pids = append(pids, p.cmd.Process.Pid)
	}
	before, err := rp.metrics(ctx)
	if err != nil {
		return err
	}
	w0, wErr := writeCalls(rp.pid())
	t0 := time.Now().Add(100 * time.Millisecond)
	for _, p := range ps {
		if err := p.say("go " + strconv.FormatInt(t0.UnixNano(), 10)); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, time.Until(t0.Add(spec.warm))); err != nil {
		return err
	}
	meter, err := startCPUOf(rp.pids(), pids)
	if err != nil {
		return err
	}
	q0, qErr := runqWait(rp.pid())
	probed := make(chan error, 1)
	if spec.probe != nil {
		go func() { probed <- spec.probe(ctx, rp) }()
	} else {
		probed <- nil
	}
	if err := sleepCtx(ctx, time.Until(t0.Add(spec.warm+spec.dur))); err != nil {
		return err
	}
	cpu, err := meter.stop()
	if err != nil {
		return err
	}
	if q1, err := runqWait(rp.pid()); err == nil && qErr == nil {
		run.set("relay_runq_wait_pct", (q1-q0)/cpu.Wall*100)
	}
	rss, rssErr := rssBytes(rp.pid())
	if err := <-probed; err != nil {
		run.note("probe: %v", err)
	}
	var sent wireSent
	for _, p := range ps {
		l, err := p.line(ctx, time.Minute)
		s, ok := strings.CutPrefix(l, "sent ")
		if err != nil || !ok {
			return fmt.Errorf("wire worker: %q %v", l, err)
		}
		var w wireSent
		if err := json.Unmarshal([]byte(s), &w); err != nil {
			return err
		}
		sent.Sent += w.Sent
		sent.Owed += w.Owed
	}
	// Wait for every delivery owed, or for the drain time.
	drain := 12 * time.Second
	if spec.overload {
		drain = 20 * time.Second
	}
	deadline := time.Now().Add(drain)
	var got, last int64
	lastMove := time.Now()
	stillComing := false // the drain time ended while deliveries still arrived
	for {
		got = 0
		for _, p := range ps {
			if err := p.say("count"); err != nil {
				return err
			}
			l, err := p.line(ctx, 30*time.Second)
			if err != nil {
				return err
			}
			n, err := strconv.ParseInt(l, 10, 64)
			if err != nil {
				return fmt.Errorf("wire worker count %q", l)
			}
			got += n
		}
		if got != last {
			last, lastMove = got, time.Now()
		}
		// Done when everything arrived, at the drain time, or when nothing
		// arrived for 5 s: what is missing then is not on its way.
		if got >= sent.Owed || time.Since(lastMove) > 5*time.Second {
			break
		}
		if time.Now().After(deadline) {
			stillComing = true
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
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
	rep := wireReport{Refused: map[string]int64{}, Closed: map[string]int64{}, Deliver: hist{}, Admitted: hist{}, First: hist{}, Ack: hist{}}
	var procMax float64
	for _, p := range ps {
		if err := p.say("report"); err != nil {
			return err
		}
		l, err := p.line(ctx, time.Minute)
		if err != nil {
			return err
		}
		var r wireReport
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return fmt.Errorf("wire worker report: %w", err)
		}
		rep.SentWin += r.SentWin
		rep.AckedWin += r.AckedWin
		rep.ArrWin += r.ArrWin
		rep.Unique += r.Unique
		rep.Dups += r.Dups
		rep.Strange += r.Strange
		rep.Unacked += r.Unacked
		rep.RefusedOwed += r.RefusedOwed
		rep.Resent += r.Resent
		rep.SendErrs += r.SendErrs
		rep.PeekFails += r.PeekFails
		for k, v := range r.Refused {
			rep.Refused[k] += v
		}
		for k, v := range r.Closed {
			rep.Closed[k] += v
		}
		rep.Deliver.merge(r.Deliver)
		rep.Admitted.merge(r.Admitted)
		rep.First.merge(r.First)
		rep.Ack.merge(r.Ack)
		for i, h := range r.BySecond {
			for len(rep.BySecond) <= i {
				rep.BySecond = append(rep.BySecond, hist{})
			}
			rep.BySecond[i].merge(h)
		}
		procMax = max(procMax, r.CPU)
	}

	secs := spec.dur.Seconds()
	var refused, closed int64
	for _, v := range rep.Refused {
		refused += v
	}
	for _, v := range rep.Closed {
		closed += v
	}
	run.set("offered_per_s", spec.rate)
	run.set("offered_deliveries_per_s", spec.rate*c.fan())
	run.set("sent_per_s", float64(rep.SentWin)/secs)
	run.set("achieved_per_s", float64(rep.AckedWin)/secs)
	run.set("delivered_per_s", float64(rep.ArrWin)/secs)
	run.set("deliver_p50_ms", rep.Deliver.quantile(0.5))
	run.set("deliver_p99_ms", rep.Deliver.quantile(0.99))
	run.set("deliver_max_ms", rep.Deliver.quantile(1))
	run.set("admitted_p50_ms", rep.Admitted.quantile(0.5))
	run.set("admitted_p99_ms", rep.Admitted.quantile(0.99))
	run.set("admitted_max_ms", rep.Admitted.quantile(1))
	if spec.first {
		run.set("first_p99_ms", rep.First.quantile(0.99))
		run.set("first_count", float64(rep.First.count()))
	}
	run.set("ack_p50_ms", rep.Ack.quantile(0.5))
	run.set("ack_p99_ms", rep.Ack.quantile(0.99))
	run.set("refused_per_s", float64(refused)/(spec.warm+spec.dur).Seconds())
	run.set("closed", float64(closed))
	// A refused send is owed nothing: its sender was told (and an SDK
	// client's outbox sends it again later).
	missing := float64(sent.Owed - rep.RefusedOwed - rep.Unique)
	if spec.overload || stillComing {
		run.set("backlog", missing)
		run.set("lost", 0)
	} else {
		run.set("lost", missing)
	}
	run.set("duplicates", float64(rep.Dups))
	run.set("relay_cpu_util", cpu.Relay/cpu.Wall*100)
	if rep.ArrWin > 0 {
		run.set("relay_cpu_us_per_delivery", cpu.Relay/float64(rep.ArrWin)*1e6)
	}
	if rssErr == nil {
		run.set("relay_rss_mib", rss/(1<<20))
	}
	run.set("gen_cpu_util", cpu.Self/cpu.Wall*100)
	run.set("gen_proc_max_util", procMax/cpu.Wall*100)
	if rep.ArrWin > 0 {
		run.set("gen_cpu_us_per_delivery", cpu.Self/float64(rep.ArrWin)*1e6)
	}
	run.set("other_cpu_util", cpu.Other/cpu.Wall*100)
	relayHistograms(run, before, after)

	if g := cpu.Self / cpu.Wall; g >= genBound {
		run.note("GENERATOR-BOUND: the generator's %d process(es) used %.0f %% of their core during the window", procs, g*100)
	} else if g >= wireGenMax {
		run.note("GENERATOR ABOVE %.0f %%: the generator's %d process(es) used %.0f %% of their core during the window, so it may be part of the limit", wireGenMax*100, procs, g*100)
	}
	if offered := spec.rate * secs; float64(rep.SentWin) < 0.95*offered {
		run.note("the generator fell behind: %d sends in the window against %.0f offered", rep.SentWin, offered)
	}
	if len(rep.BySecond) > 1 {
		p99s := make([]string, len(rep.BySecond))
		for i, h := range rep.BySecond {
			p99s[i] = fmtNum(h.quantile(0.99), 1)
		}
		run.note("send → delivered p99 by second of the window the message was first sent in: %s ms", strings.Join(p99s, ", "))
	}
	if refused > 0 {
		run.note("refused sends by code: %v; %d refused sends written again after the retry hint, oldest first, new messages held meanwhile (as the SDK's outbox does)", rep.Refused, rep.Resent)
	}
	if closed > 0 {
		run.note("connections closed by the relay, by code: %v", rep.Closed)
	}
	if rep.SendErrs > 0 {
		run.note("%d talkers stopped on a failed write", rep.SendErrs)
	}
	if rep.Strange > 0 || rep.PeekFails > 0 {
		run.note("%d deliveries the bench did not send, %d frames that did not peek", rep.Strange, rep.PeekFails)
	}
	if missing > 0 {
		if spec.overload || stillComing {
			run.note("BACKLOG: %.0f of %d deliveries had not arrived %s after the window, and were still arriving (not counted as lost)", missing, sent.Owed-rep.RefusedOwed, drain)
		} else {
			run.note("LOSS: %.0f of %d deliveries had not arrived, and none arrived for 5 s (refused sends excluded)", missing, sent.Owed-rep.RefusedOwed)
		}
	}
	if rep.Dups > 0 {
		run.note("DUPLICATES: %d deliveries arrived more than once", rep.Dups)
	}
	return nil
}

// wireScenario runs spec runs times and summarizes it.
func (bn *bench) wireScenario(ctx context.Context, spec wireSpec) *scenarioResult {
	c := spec.cast
	fan := c.fan()
	runs := bn.cfg.runs
	s := &scenarioResult{
		Name: spec.name, defs: wireDefs,
		Title: fmt.Sprintf("%s, %s msg/s offered (%s deliveries/s) for %s after a %s warm-up, %d runs, %d generator processes",
			spec.what, fmtNum(spec.rate, 0), fmtNum(spec.rate*fan, 0), spec.dur, spec.warm, runs, bn.cfg.genProcs),
		Params: map[string]any{"clients": len(c.users), "talkers": c.senders(), "conversations": len(c.convs), "rate": spec.rate,
			"recipients_per_message": fan, "duration_s": spec.dur.Seconds(), "warm_up_s": spec.warm.Seconds(), "generator_procs": bn.cfg.genProcs, "runs": runs},
	}
	for k, v := range spec.params {
		s.Params[k] = v
	}
	s.Notes = append(s.Notes, spec.notes...)
	s.Notes = append(s.Notes,
		fmt.Sprintf("Wire generator: bare WebSocket clients in %d worker processes pinned with the bench to the generator's core; each reads every frame with the proto peeks (type and id, and a Deliver's sender and text) instead of decoding it. Generator CPU is the sum of all its processes on that one core.", bn.cfg.genProcs),
		"Open loop: every talker sends on its own ticker whatever the relay answers; first sends staggered evenly over one interval. A talker refused with 4301 holds its new messages for the retry hint, then resends the refused ones oldest first, as the SDK's outbox does. Send → delivered is measured at each receiver from two send times (unix ns) in the text: the message's first send, and the attempt the relay admitted (later than the first send only for a message refused and resent); both over the messages first sent in the window. Percentiles are of 1 %-wide histogram buckets merged over the workers.",
	)
	bn.repeat(ctx, s, runs, wireKeys, func(r *runResult) error { return runWire(ctx, bn.rc, spec, bn.cfg.genProcs, r) })
	s.budget("generator CPU (the generator must not be the limit)", "gen_cpu_util", wireGenMax*100, 0, "% of a core")
	return s
}

// fanoutSpec is 100 rooms × 10 members, every member talking.
func (bn *bench) fanoutSpec(rate float64) wireSpec {
	r, m := bn.cfg.rooms, bn.cfg.members
	return wireSpec{name: "fanout " + fmtNum(rate, 0), rate: rate, cast: roomsCast(r, m, 0), warm: latencyWarmUp, dur: bn.cfg.duration,
		what:   fmt.Sprintf("fan-out — %d rooms × %d members (%s wire clients)", r, m, fmtNum(float64(r*m), 0)),
		params: map[string]any{"rooms": r, "members": m}}
}

// p2p2kSpec is --p2p-users users in random pairs, one partner each, no
// warm-up: the first message of every pair, which creates the
// conversation, is measured.
func (bn *bench) p2p2kSpec(rate float64) wireSpec {
	u := bn.cfg.p2pUsers
	c := contactsCast(u, 1, 7)
	return wireSpec{name: "p2p2k " + fmtNum(rate, 0), rate: rate, cast: c, warm: 0, dur: bn.cfg.duration, first: true,
		what:   fmt.Sprintf("p2p — %s users in %s random pairs (wire clients)", fmtNum(float64(u), 0), fmtNum(float64(len(c.convs)), 0)),
		params: map[string]any{"users": u},
		notes: []string{"No warm-up and no conversation exists before the window: each pair's conversation comes into being with its first message, and those first messages are in the percentiles (and in their own p99 row).",
			fmt.Sprintf("Each talker sends %s messages per second, so the %s first messages fall in the first second of the window.", fmtNum(rate/float64(u), 1), fmtNum(float64(u), 0))}}
}

// fanout runs the fan-out scenario at each --fan-rates rate.
func (bn *bench) fanout(ctx context.Context) []*scenarioResult {
	var out []*scenarioResult
	for _, rate := range bn.cfg.fanRates {
		if ctx.Err() != nil {
			break
		}
		s := bn.wireScenario(ctx, bn.fanoutSpec(rate))
		s.budget("fan-out send → delivered p99", "deliver_p99_ms", fanTargetP99ms, 0, "ms")
		s.budget("relay CPU per delivery", "relay_cpu_us_per_delivery", fanTargetCPUus, 0, "µs")
		out = append(out, s)
	}
	return out
}

func (bn *bench) p2p2k(ctx context.Context) []*scenarioResult {
	var out []*scenarioResult
	for _, rate := range bn.cfg.p2pRates {
		if ctx.Err() != nil {
			break
		}
		s := bn.wireScenario(ctx, bn.p2p2kSpec(rate))
		s.budget("p2p send → delivered p99", "deliver_p99_ms", p2pTargetP99ms, 0, "ms")
		out = append(out, s)
	}
	return out
}

// fanKnee is the highest fan-out rate measured whose medians kept p99 ≤ 25
// ms with nothing lost, and its delivered rate; 0 when none did.
func fanKnee(ss []*scenarioResult) (rate, delivered float64) {
	for _, s := range ss {
		if !strings.HasPrefix(s.Name, "fanout ") {
			continue
		}
		m := medians(s)
		p, ok := m["deliver_p99_ms"]
		if ok && p <= fanTargetP99ms && m["lost"] == 0 && m["offered_per_s"] > rate {
			rate, delivered = m["offered_per_s"], m["delivered_per_s"]
		}
	}
	return rate, delivered
}

// overload offers the fan-out at overloadFactor × its knee.
func (bn *bench) overload(ctx context.Context, measured []*scenarioResult) *scenarioResult {
	knee, kneeDel := fanKnee(measured)
	why := "the knee of this report's fan-out rates (p99 ≤ 25 ms, no loss)"
	if knee == 0 {
		knee, kneeDel = bn.cfg.knee, 0
		why = fmt.Sprintf("--knee (%s msg/s): no fan-out rate of this report passed p99 ≤ 25 ms, or none was measured", fmtNum(knee, 0))
	}
	spec := bn.fanoutSpec(overloadFactor * knee)
	spec.name, spec.overload = "overload", true
	spec.what = "overload: " + spec.what
	spec.notes = []string{fmt.Sprintf("Offered %d × the knee, %s msg/s; the knee is %s.", overloadFactor, fmtNum(knee, 0), why),
		"Goodput is the deliveries arriving in the window: refused messages are never delivered, so every delivery is of an admitted message. Its latency is reported twice: from the attempt the relay admitted (what the relay answers for: its queue, commit and fan-out) and from the message's first send (what the sender waited in all: the refusals, the retry hints and the resends too)."}
	s := bn.wireScenario(ctx, spec)
	s.Params["knee_per_s"] = knee
	s.Params["knee_delivered_per_s"] = kneeDel
	if d, ok := s.row("delivered_per_s"); ok && kneeDel > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("Goodput %s deliveries/s = %s %% of the knee's %s (target ≥ %.0f %%).",
			fmtNum(*d.Median, 0), fmtNum(*d.Median/kneeDel*100, 0), fmtNum(kneeDel, 0), overloadGoodput*100))
	}
	what := "admitted send → delivered p99, from the attempt the relay admitted"
	if f, ok := s.row("deliver_p99_ms"); ok {
		what += fmt.Sprintf(" (from the first send, refusals and resends included: median %s ms, worst run %s ms)", fmtNum(*f.Median, 0), fmtNum(*f.Max, 0))
	}
	s.budget(what, "admitted_p99_ms", overloadP99ms, 0, "ms")
	return s
}

// runqWait is the time, in seconds, the threads of pid have waited on a run
// queue while runnable (the second field of /proc/<pid>/task/*/schedstat).
func runqWait(pid int) (float64, error) {
	files, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no schedstat for %d", pid)
	}
	var ns float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		if fs := strings.Fields(string(b)); len(fs) >= 2 {
			v, err := strconv.ParseFloat(fs[1], 64)
			if err == nil {
				ns += v
			}
		}
	}
	return ns / 1e9, nil
}

// parseRateList parses a comma-separated list of rates.
func parseRateList(flag, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 1 && v <= 200_000) || math.IsNaN(v) {
			return nil, fmt.Errorf("--%s %q: want rates from 1 to 200,000, comma-separated", flag, s)
		}
		out = append(out, v)
	}
	return out, nil
}
