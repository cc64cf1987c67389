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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-im/parley/proto"
)

func main() {
	// A child process holding idle connections for the parent (see
	// idleworker.go); never typed by hand.
	if len(os.Args) > 1 && os.Args[1] == idleWorkerArg {
		os.Exit(idleWorker(os.Args[2:]))
	}
	// parley-bench charts DIR: draw the charts again from DIR/results.json,
	// without measuring anything.
	// A wire generator process (see wireworker.go); never typed by hand.
	if len(os.Args) == 2 && os.Args[1] == wireWorkerArg {
		os.Exit(wireWorker())
	}
	if len(os.Args) == 3 && os.Args[1] == "charts" {
		os.Exit(redrawCharts(os.Args[2]))
	}
	// Pin first, while the process has few threads; flags are parsed later,
	// so --pin=false is looked for by hand.
	pin := pinning{Relay: "disabled by --pin=false", Generator: "disabled by --pin=false"}
	if !slices.Contains(os.Args[1:], "--pin=false") && !slices.Contains(os.Args[1:], "-pin=false") {
		pin = pinSelf()
	}
	os.Exit(run(pin))
}

// scenarioNames are the scenarios in the order --scenario all runs them.
var scenarioNames = []string{"latency", "group", "p2p", "room", "sync", "throughput", "idle", "scale", "fanout", "p2p2k", "overload"}

// sweepable are the scenarios --sweep knows.
var sweepable = []string{"latency", "group", "p2p"}

type config struct {
	relay     string
	scenarios []string
	all       bool // --scenario all
	pairs     int
	messages  int
	window    int
	conns     []int // idle: connection counts; connsMax stands for "as many as the relay can hold"
	rate      float64
	rateSet   bool
	rooms     int
	members   int
	users     int
	contacts  int
	roomSize  int
	talkers   int
	syncMsgs  int
	syncConvs int
	duration  time.Duration
	runs      int
	quick     bool

	sweep      bool
	p99Max     time.Duration
	sweepRuns  int
	sweepDur   time.Duration
	sweepRates []float64
	profile    bool
	profileDur time.Duration

	scaleNodes int
	postgres   string
	nats       string

	genProcs int
	fanRates []float64
	p2pRates []float64
	p2pUsers int
	knee     float64

	out     string
	timeout time.Duration
	pin     bool
	procs   int
	flags   string
}

// connsMax in --conns is "max": as many connections as the relay can hold.
const connsMax = -1

func parseFlags() (config, error) {
	var c config
	var scenario, conns, sweepRates, fanRates, p2pRates string
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	fs.StringVar(&c.relay, "relay", "bin/parley-relay", "the parley-relay binary to benchmark")
	fs.StringVar(&scenario, "scenario", "all", "comma-separated: "+strings.Join(scenarioNames, ", ")+"; or all")
	fs.IntVar(&c.pairs, "pairs", 50, "latency and throughput: pairs of users, two clients each")
	fs.IntVar(&c.messages, "messages", 20000, "throughput: messages sent in total per run")
	fs.IntVar(&c.window, "window", 16, "throughput: sends in flight per client (also the client's SendWindow everywhere)")
	fs.StringVar(&conns, "conns", "10000", "idle: connections to open, or a comma-separated sweep such as 1000,2500,5000,10000,max (max: as many as the relay can hold); --scenario all sweeps 1000,2500,5000,10000,max")
	fs.Float64Var(&c.rate, "rate", 0, "latency, group, p2p and room: offered messages per second over all talking clients (defaults: latency 1000, group 5000, p2p 1000, room 10)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "latency, group, p2p and room: measured window, after a 1 s warm-up")
	fs.IntVar(&c.rooms, "rooms", 100, "group: group conversations")
	fs.IntVar(&c.members, "members", 10, "group: members per group, one native client each")
	fs.IntVar(&c.users, "users", 1000, "p2p: users, one native client each")
	fs.IntVar(&c.contacts, "contacts", 4, "p2p: conversations per user, with partners paired at random")
	fs.IntVar(&c.roomSize, "room-members", proto.MaxGroupMembers, "room: members of the one room (the protocol allows at most proto.MaxGroupMembers)")
	fs.IntVar(&c.talkers, "room-talkers", 4, "room: members who send")
	fs.IntVar(&c.syncMsgs, "sync-messages", 10000, "sync: messages the offline device catches up")
	fs.IntVar(&c.syncConvs, "sync-convs", 20, "sync: conversations those messages are spread over")
	fs.IntVar(&c.runs, "runs", 3, "runs per scenario")
	fs.BoolVar(&c.quick, "quick", false, "smoke test: --runs 1 --messages 5000 --duration 2s --sync-messages 2000 --fan-rates 2000,5000 --p2p-rates 10000, idle 1,000 connections (1000,max in all), shorter sweeps and no profile, unless those are given")
	fs.BoolVar(&c.sweep, "sweep", false, "latency, group and p2p: step the offered rate up until p99 passes --p99-max, messages are lost or the generator saturates, and report the knee (on by default with --scenario all)")
	fs.DurationVar(&c.p99Max, "p99-max", 25*time.Millisecond, "sweep: the send → delivered p99 a rate must stay under")
	fs.IntVar(&c.sweepRuns, "sweep-runs", 1, "sweep: runs per rate; also runs per point of an idle --conns sweep other than the headline one")
	fs.DurationVar(&c.sweepDur, "sweep-duration", 3*time.Second, "sweep: measured window per rate, after a 1 s warm-up")
	fs.StringVar(&sweepRates, "sweep-rates", "", "sweep: comma-separated offered rates to try in order (default: 1000 × 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)")
	fs.BoolVar(&c.profile, "profile", false, "group, fanout and p2p2k: one more run at a set rate, profiling the relay (CPU and allocations) into <out>/profiles (on by default with --scenario all)")
	fs.DurationVar(&c.profileDur, "profile-duration", 20*time.Second, "profile: how long the CPU and allocation profiles cover")
	fs.IntVar(&c.scaleNodes, "scale-nodes", 3, "scale: relays in the largest cluster")
	fs.StringVar(&c.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "scale: PostgreSQL server (each run gets a fresh schema, dropped after)")
	fs.StringVar(&c.nats, "nats", "nats://127.0.0.1:4222", "scale: NATS server")
	fs.IntVar(&c.genProcs, "procs", 2, "fanout, p2p2k, overload: generator processes of wire clients, all pinned with the bench to the generator's core")
	fs.StringVar(&fanRates, "fan-rates", "2000,5000,10000,20000", "fanout: offered rates (msg/s) to measure, comma-separated")
	fs.StringVar(&p2pRates, "p2p-rates", "2000,10000", "p2p2k: offered rates (msg/s) to measure, comma-separated")
	fs.IntVar(&c.p2pUsers, "p2p-users", 2000, "p2p2k: users, in random pairs")
	fs.Float64Var(&c.knee, "knee", 5000, "overload: the fan-out knee (msg/s) to offer 4 × when this report measured no fan-out rate that passed")
	fs.StringVar(&c.out, "out", "docs/benchmarks", "directory for results.json, results.md, the charts and profiles/")
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
	c.rateSet = set["rate"]

	if c.quick {
		for name, v := range map[string]string{"runs": "1", "messages": "5000", "conns": "1000", "duration": "2s",
			"sync-messages": "2000", "sweep-duration": "2s", "sweep-rates": "1000,4000,8000,16000",
			"fan-rates": "2000,5000", "p2p-rates": "10000"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	for _, s := range strings.Split(scenario, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			c.all = true
		case slices.Contains(scenarioNames, s):
			if !slices.Contains(c.scenarios, s) {
				c.scenarios = append(c.scenarios, s)
			}
		default:
			return c, fmt.Errorf("--scenario %q: want %s or all", s, strings.Join(scenarioNames, ", "))
		}
	}
	if c.all {
		c.scenarios = slices.Clone(scenarioNames)
		if !set["sweep"] {
			c.sweep = true
		}
		if !set["profile"] && !c.quick {
			c.profile = true
		}
		if !set["conns"] {
			conns = "1000,2500,5000,10000,max"
			if c.quick {
				conns = "1000,max"
			}
		}
	}
	var err error
	if c.conns, err = parseConns(conns); err != nil {
		return c, err
	}
	if c.fanRates, err = parseRateList("fan-rates", fanRates); err != nil {
		return c, err
	}
	if c.p2pRates, err = parseRateList("p2p-rates", p2pRates); err != nil {
		return c, err
	}
	if sweepRates != "" {
		if c.sweepRates, err = parseRates(sweepRates); err != nil {
			return c, err
		}
	}
	if c.profile && !c.all && !slices.Contains(c.scenarios, "group") && !slices.Contains(c.scenarios, "fanout") && !slices.Contains(c.scenarios, "p2p2k") {
		return c, errors.New("--profile needs the scenario group, fanout or p2p2k")
	}
	if c.sweep && !c.all && !slices.ContainsFunc(c.scenarios, func(s string) bool { return slices.Contains(sweepable, s) }) {
		return c, fmt.Errorf("--sweep needs one of the scenarios %s", strings.Join(sweepable, ", "))
	}
	switch {
	case c.rooms < 1 || c.rooms > 10_000:
		return c, fmt.Errorf("--rooms %d: want 1 to 10,000", c.rooms)
	case c.members < 2 || c.members > proto.MaxGroupMembers:
		return c, fmt.Errorf("--members %d: want 2 to %d", c.members, proto.MaxGroupMembers)
	case c.rooms*c.members > maxClients:
		return c, fmt.Errorf("--rooms × --members = %d clients: want at most %d", c.rooms*c.members, maxClients)
	case c.users < 2 || c.users > maxClients:
		return c, fmt.Errorf("--users %d: want 2 to %d", c.users, maxClients)
	case c.contacts < 1 || c.contacts > 100:
		return c, fmt.Errorf("--contacts %d: want 1 to 100", c.contacts)
	case c.roomSize < 2 || c.roomSize > proto.MaxGroupMembers:
		return c, fmt.Errorf("--room-members %d: want 2 to %d (proto.MaxGroupMembers: the relay refuses larger groups)", c.roomSize, proto.MaxGroupMembers)
	case c.talkers < 1 || c.talkers > c.roomSize:
		return c, fmt.Errorf("--room-talkers %d: want 1 to --room-members", c.talkers)
	case c.syncMsgs < c.syncConvs || c.syncMsgs > 1_000_000:
		return c, fmt.Errorf("--sync-messages %d: want --sync-convs to 1,000,000", c.syncMsgs)
	case c.syncConvs < 1 || c.syncConvs > 1000:
		return c, fmt.Errorf("--sync-convs %d: want 1 to 1000", c.syncConvs)
	case c.pairs < 1 || c.pairs > 2000:
		return c, fmt.Errorf("--pairs %d: want 1 to 2000", c.pairs)
	case c.messages < 2*c.pairs || c.messages > 2_000_000:
		return c, fmt.Errorf("--messages %d: want 2 × pairs (%d) to 2,000,000", c.messages, 2*c.pairs)
	case c.window < 1 || c.window > 1024:
		return c, fmt.Errorf("--window %d: want 1 to 1024", c.window)
	case c.rateSet && !(c.rate >= 1 && c.rate <= 100_000):
		return c, fmt.Errorf("--rate %v: want 1 to 100,000 messages per second", c.rate)
	case c.duration < 100*time.Millisecond || c.duration > 10*time.Minute:
		return c, fmt.Errorf("--duration %s: want 100ms to 10m", c.duration)
	case c.sweepDur < 100*time.Millisecond || c.sweepDur > 10*time.Minute:
		return c, fmt.Errorf("--sweep-duration %s: want 100ms to 10m", c.sweepDur)
	case c.p99Max <= 0:
		return c, fmt.Errorf("--p99-max %s: want a positive duration", c.p99Max)
	case c.profileDur < time.Second || c.profileDur > 5*time.Minute:
		return c, fmt.Errorf("--profile-duration %s: want 1s to 5m", c.profileDur)
	case c.runs < 1 || c.runs > 20:
		return c, fmt.Errorf("--runs %d: want 1 to 20", c.runs)
	case c.sweepRuns < 1 || c.sweepRuns > 20:
		return c, fmt.Errorf("--sweep-runs %d: want 1 to 20", c.sweepRuns)
	case c.procs < 0 || c.procs > 256:
		return c, fmt.Errorf("--relay-gomaxprocs %d: want 0 to 256", c.procs)
	case c.genProcs < 1 || c.genProcs > 16:
		return c, fmt.Errorf("--procs %d: want 1 to 16", c.genProcs)
	case c.p2pUsers < 2 || c.p2pUsers > maxClients:
		return c, fmt.Errorf("--p2p-users %d: want 2 to %d", c.p2pUsers, maxClients)
	case !(c.knee >= 1 && c.knee <= 50_000):
		return c, fmt.Errorf("--knee %v: want 1 to 50,000", c.knee)
	case c.timeout <= 0:
		return c, fmt.Errorf("--timeout %s: want a positive duration", c.timeout)
	}
	return c, nil
}

// maxClients bounds the native clients of one scenario: each holds a
// descriptor in the one generator process.
const maxClients = 15_000

// parseConns parses --conns: counts or "max", comma-separated.
func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "max" {
			out = append(out, connsMax)
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, fmt.Errorf("--conns %q: want counts from 1 to 1,000,000 or max, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseRates parses --sweep-rates.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 1 && v <= 100_000) {
			return nil, fmt.Errorf("--sweep-rates %q: want rates from 1 to 100,000, comma-separated", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// bench is one invocation: its configuration, how to start the relay, and
// what it measured so far.
type bench struct {
	cfg config
	rc  relayConfig
	res *results
}

func (bn *bench) runs(name string) bool { return slices.Contains(bn.cfg.scenarios, name) }

// rateFor is the offered rate of a paced scenario: --rate, or its default.
func (bn *bench) rateFor(def float64) float64 {
	if bn.cfg.rateSet {
		return bn.cfg.rate
	}
	return def
}

// repeat runs f runs times into s, one fresh runResult each, printing a
// progress line per run, and summarizes s.
func (bn *bench) repeat(ctx context.Context, s *scenarioResult, runs int, keys []string, f func(*runResult) error) {
	for i := 1; i <= runs && ctx.Err() == nil; i++ {
		r := newRun(i)
		r.set(cpuCheckDef.Key, cpuCheck())
		r.set(netCheckDef.Key, netCheck())
		t := time.Now()
		if err := f(r); err != nil {
			r.Err = err.Error()
		}
		r.Seconds = time.Since(t).Seconds()
		s.Runs = append(s.Runs, r)
		progress(s.Name, i, runs, r, keys...)
	}
	s.summarize()
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
	// Every native client costs the bench a descriptor; keep a margin for
	// the relay's HTTP scrapes and the runtime. Idle connections live in
	// worker processes with descriptors of their own.
	most := max(cfg.rooms*cfg.members, cfg.users, cfg.roomSize, 2*cfg.pairs)
	if uint64(most)+256 > nofile {
		fmt.Fprintf(os.Stderr, "parley-bench: %d clients need more descriptors than RLIMIT_NOFILE %d allows\n", most, nofile)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	burst, admin, version, err := relayFeatures(ctx, cfg.relay)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		return 1
	}
	extra := strings.Fields(cfg.flags)
	if cfg.profile && !slices.Contains(extra, "--pprof") {
		extra = append(extra, "--pprof")
	}
	rc := relayConfig{bin: cfg.relay, pin: pin.Applied, burst: burst, admin: admin, procs: cfg.procs, extra: extra}
	pin.RelayGOMAXPROCS = relayProcsNote(cfg.procs, pin.Applied)
	model, cores := cpuInfo()
	bn := &bench{cfg: cfg, rc: rc, res: &results{
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
	}}
	res := bn.res
	res.CPUCheckMs = [2]float64{cpuCheck()}
	res.NetCheckUs = [2]float64{netCheck()}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "parley-bench: %s; pinning: %s\n", orDash(version), pin)

	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			break
		}
		switch name {
		case "latency":
			res.Scenarios = append(res.Scenarios, bn.latency(ctx))
		case "group":
			res.Scenarios = append(res.Scenarios, bn.group(ctx))
		case "p2p":
			res.Scenarios = append(res.Scenarios, bn.p2p(ctx))
		case "room":
			res.Scenarios = append(res.Scenarios, bn.room(ctx))
		case "sync":
			res.Scenarios = append(res.Scenarios, bn.sync(ctx))
		case "throughput":
			res.Scenarios = append(res.Scenarios, bn.throughput(ctx))
		case "idle":
			res.Scenarios = append(res.Scenarios, bn.idle(ctx)...)
		case "scale":
			res.Scenarios = append(res.Scenarios, bn.scale(ctx)...)
		case "fanout":
			res.Scenarios = append(res.Scenarios, bn.fanout(ctx)...)
		case "p2p2k":
			res.Scenarios = append(res.Scenarios, bn.p2p2k(ctx)...)
		case "overload":
			res.Scenarios = append(res.Scenarios, bn.overload(ctx, res.Scenarios))
		}
	}
	if cfg.sweep {
		for _, name := range sweepable {
			if bn.runs(name) && ctx.Err() == nil {
				res.Sweeps = append(res.Sweeps, bn.kneeSweep(ctx, name))
			}
		}
	}
	if cfg.profile && bn.runs("group") && ctx.Err() == nil {
		res.Profiles = append(res.Profiles, bn.groupProfile(ctx))
	}
	if cfg.profile && bn.runs("fanout") && ctx.Err() == nil {
		res.Profiles = append(res.Profiles, bn.fanoutProfile(ctx, fanProfileRate, "fanout"))
	}
	if cfg.profile && bn.runs("p2p2k") && ctx.Err() == nil {
		res.Profiles = append(res.Profiles, bn.wireProfile(ctx, bn.p2p2kSpec(p2pProfileRate), p2pProfileRate, "p2p2k"))
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
	res.CPUCheckMs[1] = cpuCheck()
	res.NetCheckUs[1] = netCheck()

	if err := res.write(cfg.out); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench: write report:", err)
		return 1
	}
	res.markdown(os.Stdout)
	fmt.Fprintf(os.Stderr, "parley-bench: wrote %s (results.json, results.md and charts) in %.0f s\n", cfg.out, res.Seconds)
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
