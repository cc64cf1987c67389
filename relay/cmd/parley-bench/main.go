package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	// Pin first, while the process has few threads; flags are parsed later,
	// so --pin=false is looked for by hand.
	pin := pinning{Relay: "disabled by --pin=false", Generator: "disabled by --pin=false"}
	if !slices.Contains(os.Args[1:], "--pin=false") && !slices.Contains(os.Args[1:], "-pin=false") {
		pin = pinSelf()
	}
	os.Exit(run(pin))
}

type config struct {
	relay    string
	scenario string
	pairs    int
	messages int
	window   int
	conns    int
	rate     float64
	rooms    int
	members  int
	gRate    float64 // group: --rate if given, else groupDefaultRate
	duration time.Duration
	runs     int
	quick    bool
	out      string
	timeout  time.Duration
	pin      bool
	procs    int
	flags    string
}

func parseFlags() (config, error) {
	var c config
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	fs.StringVar(&c.relay, "relay", "bin/parley-relay", "the parley-relay binary to benchmark")
	fs.StringVar(&c.scenario, "scenario", "all", "latency, group, throughput, idle or all")
	fs.IntVar(&c.pairs, "pairs", 50, "latency and throughput: pairs of users, two clients each")
	fs.IntVar(&c.messages, "messages", 20000, "throughput: messages sent in total per run")
	fs.IntVar(&c.window, "window", 16, "throughput: sends in flight per client (also the client's SendWindow, in latency too)")
	fs.IntVar(&c.conns, "conns", 5000, "idle: connections to open")
	fs.Float64Var(&c.rate, "rate", 1000, "latency and group: offered messages per second, spread evenly over the clients (group's default is 5000 when --rate is not given)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "latency and group: measured window, after a 1 s warm-up")
	fs.IntVar(&c.rooms, "rooms", 100, "group: group conversations")
	fs.IntVar(&c.members, "members", 10, "group: members per group, one native client each")
	fs.IntVar(&c.runs, "runs", 3, "runs per scenario")
	fs.BoolVar(&c.quick, "quick", false, "smoke test: --runs 1 --messages 5000 --conns 1000 --duration 2s, unless those are given")
	fs.StringVar(&c.out, "out", "docs/benchmarks", "directory for results.json and results.md")
	fs.BoolVar(&c.pin, "pin", true, "pin the relay to CPU 0 and the bench to CPU 1 where possible (only --pin=false turns it off)")
	fs.IntVar(&c.procs, "relay-gomaxprocs", 0, "GOMAXPROCS for the relay (0: its own default, 1 when pinned to one CPU)")
	fs.StringVar(&c.flags, "relay-flags", "", "extra flags for parley-relay serve, space-separated (e.g. \"--synchronous NORMAL\")")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "stop everything after this long")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c.gRate = groupDefaultRate
	if set["rate"] {
		c.gRate = c.rate
	}
	if c.quick {
		for name, v := range map[string]string{"runs": "1", "messages": "5000", "conns": "1000", "duration": "2s"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	switch {
	case !slices.Contains([]string{"all", "latency", "group", "throughput", "idle"}, c.scenario):
		return c, fmt.Errorf("--scenario %q: want latency, group, throughput, idle or all", c.scenario)
	case c.rooms < 1 || c.rooms > 10_000:
		return c, fmt.Errorf("--rooms %d: want 1 to 10,000", c.rooms)
	case c.members < 2 || c.members > 1000:
		return c, fmt.Errorf("--members %d: want 2 to 1000", c.members)
	case c.rooms*c.members > 20_000:
		return c, fmt.Errorf("--rooms × --members = %d clients: want at most 20,000", c.rooms*c.members)
	case c.pairs < 1 || c.pairs > 2000:
		return c, fmt.Errorf("--pairs %d: want 1 to 2000", c.pairs)
	case c.messages < 2*c.pairs || c.messages > 2_000_000:
		return c, fmt.Errorf("--messages %d: want 2 × pairs (%d) to 2,000,000", c.messages, 2*c.pairs)
	case c.window < 1 || c.window > 1024:
		return c, fmt.Errorf("--window %d: want 1 to 1024", c.window)
	case c.conns < 1 || c.conns > 100_000:
		return c, fmt.Errorf("--conns %d: want 1 to 100,000", c.conns)
	case !(c.rate >= 1 && c.rate <= 100_000):
		return c, fmt.Errorf("--rate %v: want 1 to 100,000 messages per second", c.rate)
	case c.duration < 100*time.Millisecond || c.duration > 10*time.Minute:
		return c, fmt.Errorf("--duration %s: want 100ms to 10m", c.duration)
	case c.runs < 1 || c.runs > 20:
		return c, fmt.Errorf("--runs %d: want 1 to 20", c.runs)
	case c.procs < 0 || c.procs > 256:
		return c, fmt.Errorf("--relay-gomaxprocs %d: want 0 to 256", c.procs)
	case c.timeout <= 0:
		return c, fmt.Errorf("--timeout %s: want a positive duration", c.timeout)
	}
	return c, nil
}

func run(pin pinning) int {
	cfg, err := parseFlags()
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		return 2
	}
	nofile, err := raiseNofile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench: raise RLIMIT_NOFILE:", err)
		return 1
	}
	// Each idle connection costs the bench one descriptor; keep a margin for
	// the relay's HTTP scrapes and the runtime.
	if (cfg.scenario == "all" || cfg.scenario == "idle") && uint64(cfg.conns)+256 > nofile {
		fmt.Fprintf(os.Stderr, "parley-bench: --conns %d needs more descriptors than RLIMIT_NOFILE %d allows\n", cfg.conns, nofile)
		return 1
	}
	if (cfg.scenario == "all" || cfg.scenario == "group") && uint64(cfg.rooms*cfg.members)+256 > nofile {
		fmt.Fprintf(os.Stderr, "parley-bench: %d group clients need more descriptors than RLIMIT_NOFILE %d allows\n", cfg.rooms*cfg.members, nofile)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	burst, version, err := relayFeatures(ctx, cfg.relay)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		return 1
	}
	rc := relayConfig{bin: cfg.relay, pin: pin.Applied, burst: burst, procs: cfg.procs, extra: strings.Fields(cfg.flags)}
	pin.RelayGOMAXPROCS = relayProcsNote(cfg.procs, pin.Applied)
	model, cores := cpuInfo()
	res := &results{
		Date:          time.Now().UTC().Format(time.RFC3339),
		Command:       strings.Join(append([]string{"parley-bench"}, os.Args[1:]...), " "),
		GoVersion:     runtime.Version(),
		RelayBinary:   cfg.relay,
		RelayVersion:  version,
		CPUModel:      model,
		Cores:         cores,
		Pinning:       pin,
		GenGOMAXPROCS: runtime.GOMAXPROCS(0),
		NofileLimit:   nofile,
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "parley-bench: %s; pinning: %s\n", orDash(version), pin)

	if cfg.scenario == "all" || cfg.scenario == "latency" {
		lc := latencyConfig{Pairs: cfg.pairs, Rate: cfg.rate, Duration: cfg.duration, Window: cfg.window}
		s := &scenarioResult{
			Name: "latency", defs: latencyDefs,
			Title: fmt.Sprintf("latency — %d pairs (%d clients), %s msg/s offered for %s after a %s warm-up, %d runs",
				lc.Pairs, 2*lc.Pairs, fmtNum(lc.Rate, 0), lc.Duration, latencyWarmUp, cfg.runs),
			Params: map[string]any{"pairs": lc.Pairs, "clients": 2 * lc.Pairs, "rate": lc.Rate, "duration_s": lc.Duration.Seconds(),
				"warm_up_s": latencyWarmUp.Seconds(), "send_interval_ms": float64(lc.every()) / 1e6, "window": lc.Window, "runs": cfg.runs},
			Notes: []string{
				fmt.Sprintf("Open loop: each client sends one message every %s on its own ticker, whether or not earlier ones were acked; the clients' first sends are staggered evenly over one interval, so together they send one message every %s.",
					lc.every().Round(time.Microsecond), (lc.every() / time.Duration(2*lc.Pairs)).Round(time.Microsecond)),
				"Send → delivered: the sender writes its send time (one monotonic clock, one process) into the text; the partner's client takes the difference when its event handler sees the message. Percentiles cover the messages sent in the window; the warm-up's are discarded. Lost and duplicates count the warm-up too.",
				"Ack latency: from the send call to the relay's durable ack (after the SQLite commit, synchronous=FULL by default) reaching the sender.",
			},
		}
		for i := 1; i <= cfg.runs && ctx.Err() == nil; i++ {
			r := newRun(i)
			t := time.Now()
			if err := runLatency(ctx, rc, lc, r); err != nil {
				r.Err = err.Error()
			}
			r.Seconds = time.Since(t).Seconds()
			s.Runs = append(s.Runs, r)
			progress("latency", i, cfg.runs, r, "sent_per_s", "achieved_per_s", "deliver_p50_ms", "deliver_p99_ms", "ack_p99_ms", "lost", "duplicates", "relay_cpu_util", "gen_cpu_util", "other_cpu_util")
		}
		s.summarize()
		for _, b := range []struct {
			what, metric string
			limit        float64
		}{
			{"send → delivered p50", "deliver_p50_ms", latencyBudgetP50ms},
			{"send → delivered p99", "deliver_p99_ms", latencyBudgetP99ms},
		} {
			if row, ok := s.row(b.metric); ok {
				s.Budgets = append(s.Budgets, budgetCheck{
					What: b.what + " at moderate load", Metric: b.metric, Limit: b.limit, Unit: "ms",
					Median: *row.Median, Worst: *row.Max, Pass: *row.Median <= b.limit,
				})
			}
		}
		res.Scenarios = append(res.Scenarios, s)
	}

	if cfg.scenario == "all" || cfg.scenario == "group" {
		res.Scenarios = append(res.Scenarios, groupScenario(ctx, rc, cfg))
	}

	if cfg.scenario == "all" || cfg.scenario == "throughput" {
		tc := throughputConfig{Pairs: cfg.pairs, Messages: cfg.messages, Window: cfg.window}
		s := &scenarioResult{
			Name: "throughput", defs: throughputDefs,
			Title: fmt.Sprintf("throughput — %d pairs (%d clients), %s messages, %d in flight per client, %d runs",
				tc.Pairs, 2*tc.Pairs, fmtNum(float64(tc.Messages), 0), tc.Window, cfg.runs),
			Params: map[string]any{"pairs": tc.Pairs, "clients": 2 * tc.Pairs, "messages": tc.Messages, "window": tc.Window, "runs": cfg.runs},
			Notes: []string{
				fmt.Sprintf("Closed loop: every client keeps up to %d sends unacknowledged (%d in all), so under saturation ack latency ≈ in-flight ÷ throughput (Little's law); it is not the latency of a lightly loaded relay. SPEC §5's send → delivered budget (p50 ≤ 5 ms, p99 ≤ 25 ms) is for moderate load: see the latency scenario.", tc.Window, 2*tc.Pairs*tc.Window),
				"Acks come after the relay's SQLite commit (synchronous=FULL by default); throughput counts acks from the first send to the last ack.",
				"Generator CPU near 100 % means the load generator, not the relay, set the pace. Other CPU use is everything else on the machine (other processes, hypervisor steal): a run with much of it measured a busy machine.",
			},
		}
		if !burst {
			s.Notes = append(s.Notes, "The relay has no --rate-burst flag; --rate-limit 100000 gives it a burst of 2 × that.")
		}
		for i := 1; i <= cfg.runs && ctx.Err() == nil; i++ {
			r := newRun(i)
			t := time.Now()
			if err := runThroughput(ctx, rc, tc, r); err != nil {
				r.Err = err.Error()
			}
			r.Seconds = time.Since(t).Seconds()
			s.Runs = append(s.Runs, r)
			progress("throughput", i, cfg.runs, r, "acked_per_s", "ack_p99_ms", "deliver_p99_ms", "lost", "duplicates", "relay_cpu_util", "gen_cpu_util", "other_cpu_util")
		}
		s.summarize()
		res.Scenarios = append(res.Scenarios, s)
	}

	if cfg.scenario == "all" || cfg.scenario == "idle" {
		s := &scenarioResult{
			Name: "idle", defs: idleDefs,
			Title:  fmt.Sprintf("idle — %s connections, %d runs", fmtNum(float64(cfg.conns), 0), cfg.runs),
			Params: map[string]any{"conns": cfg.conns, "runs": cfg.runs, "relay_heartbeat": "60s"},
			Notes: []string{
				"Each connection is a raw WebSocket that sends Hello, reads Welcome and then stays silent; the relay runs with --heartbeat 60s so none times out during the measurement.",
				"RSS before is the median of 3 readings 500 ms apart; after is the same, taken 2 s after the last Welcome. Per connection = (after − before) ÷ connections.",
			},
		}
		for i := 1; i <= cfg.runs && ctx.Err() == nil; i++ {
			r := newRun(i)
			t := time.Now()
			if err := runIdle(ctx, rc, cfg.conns, r); err != nil {
				r.Err = err.Error()
			}
			r.Seconds = time.Since(t).Seconds()
			s.Runs = append(s.Runs, r)
			progress("idle", i, cfg.runs, r, "connect_per_s", "rss_per_conn_kib", "heap_per_conn_kib", "goroutines_per_conn", "other_cpu_util")
		}
		s.summarize()
		if row, ok := s.row("rss_per_conn_kib"); ok {
			s.Budgets = append(s.Budgets, budgetCheck{
				What: "relay memory (RSS) per idle connection", Metric: "rss_per_conn_kib",
				Limit: idleBudgetKiB, Moonshot: idleMoonshotKiB, Unit: "KiB",
				Median: *row.Median, Worst: *row.Max, Pass: *row.Median <= idleBudgetKiB,
			})
		}
		res.Scenarios = append(res.Scenarios, s)
	}

	if ctx.Err() != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("stopped early: %v", context.Cause(ctx)))
	}
	for _, s := range res.Scenarios {
		for _, r := range s.Runs {
			if r.Err != "" {
				res.Problems = append(res.Problems, fmt.Sprintf("%s run %d failed: %s", s.Name, r.Run, r.Err))
			}
			if v := r.Metrics["lost"]; v > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s run %d lost %v messages", s.Name, r.Run, v))
			}
			if v := r.Metrics["duplicates"]; v > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s run %d delivered %v duplicates", s.Name, r.Run, v))
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()

	if err := res.write(cfg.out); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench: write report:", err)
		return 1
	}
	res.markdown(os.Stdout)
	fmt.Fprintf(os.Stderr, "parley-bench: wrote %s/results.json and results.md in %.0f s\n", cfg.out, res.Seconds)
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}

// progress prints one line per run to stderr, so a long bench shows life.
func progress(name string, i, n int, r *runResult, keys ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s run %d/%d (%.1f s):", name, i, n, r.Seconds)
	if r.Err != "" {
		fmt.Fprintf(&b, " FAILED: %s", r.Err)
	}
	for _, k := range keys {
		if v, ok := r.Metrics[k]; ok {
			fmt.Fprintf(&b, " %s=%s", k, fmtNum(v, 2))
		}
	}
	fmt.Fprintln(os.Stderr, b.String())
}
