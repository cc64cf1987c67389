package main

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pinning records where the relay and the generator run.
type pinning struct {
	Applied   bool   `json:"applied"` // both sides pinned
	Relay     string `json:"relay"`
	Generator string `json:"generator"`
	// RelayGOMAXPROCS says how many Ps the relay runs with: with one CPU
	// allowed, Go picks 1 unless told otherwise.
	RelayGOMAXPROCS string `json:"relay_gomaxprocs"`
}

func (p pinning) String() string {
	s := "not applied (relay: " + p.Relay + "; generator: " + p.Generator + ")"
	if p.Applied {
		s = "relay on CPU 0, generator on CPU 1"
	}
	return s + "; relay GOMAXPROCS " + p.RelayGOMAXPROCS
}

// relayProcsNote describes the relay's GOMAXPROCS for the report.
func relayProcsNote(procs int, pinned bool) string {
	switch {
	case procs > 0:
		return strconv.Itoa(procs) + " (--relay-gomaxprocs)"
	case os.Getenv("GOMAXPROCS") != "":
		return os.Getenv("GOMAXPROCS") + " (inherited $GOMAXPROCS)"
	case pinned:
		return "1 (Go's default for one allowed CPU)"
	}
	return "Go's default (" + strconv.Itoa(runtime.NumCPU()) + " CPUs)"
}

// pinSelf pins the generator to CPU 1 and reports whether the relay can be
// started under taskset on CPU 0. Nothing is pinned on a machine with fewer
// than two CPUs or without taskset.
//
// sched_setaffinity(2) with pid 0 pins only the calling thread, so every
// thread of the process is pinned by its tid; threads the runtime creates
// later inherit the mask of the thread that creates them.
func pinSelf() pinning {
	var p pinning
	if _, err := exec.LookPath("taskset"); err != nil {
		p.Relay = "taskset not found"
	}
	var cur unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cur); err != nil || cur.Count() < 2 || !cur.IsSet(0) || !cur.IsSet(1) {
		msg := fmt.Sprintf("CPUs 0 and 1 not both available (%d CPUs allowed)", cur.Count())
		p.Generator = msg
		if p.Relay == "" {
			p.Relay = msg
		}
		return p
	}
	if p.Relay != "" {
		p.Generator = "not pinned, because the relay cannot be"
		return p
	}
	var one unix.CPUSet
	one.Set(1)
	tids, err := filepath.Glob("/proc/self/task/*")
	if err != nil || len(tids) == 0 {
		p.Relay, p.Generator = "not pinned", "cannot list own threads"
		return p
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &one); err != nil {
			p.Relay, p.Generator = "not pinned", "sched_setaffinity: "+err.Error()
			return p
		}
	}
	// One CPU: more Ps would only time-slice it.
	runtime.GOMAXPROCS(1)
	return pinning{Applied: true, Relay: "CPU 0 (taskset -c 0)", Generator: "CPU 1 (sched_setaffinity on every thread, GOMAXPROCS=1)"}
}

// raiseNofile raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
func raiseNofile() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

// cpuInfo returns the CPU model and the number of logical CPUs from
// /proc/cpuinfo.
func cpuInfo() (model string, cores int) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown", runtime.NumCPU()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			cores++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		}
	}
	if model == "" {
		model = "unknown"
	}
	if cores == 0 {
		cores = runtime.NumCPU()
	}
	return model, cores
}

// machineBusy returns the CPU seconds all CPUs spent busy since boot, from
// the first line of /proc/stat (proc(5)): everything but idle and iowait.
// guest time is already counted in user and nice, so it is left out.
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var busy uint64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return float64(busy) / clockTicks, nil
}

// cpuCheck times a fixed CPU-bound task — SHA-256 of 8 MiB, the best of
// three — on the calling (generator's) CPU, in milliseconds. On a shared
// virtual machine the host's other tenants can slow the CPU down without
// any of it showing in /proc/stat: the same task then takes longer.
func cpuCheck() float64 {
	buf := make([]byte, 8<<20)
	best := math.Inf(1)
	for range 3 {
		t := time.Now()
		sha256.Sum256(buf)
		best = min(best, float64(time.Since(t))/1e6)
	}
	return best
}

// netCheck times 64-byte round trips over a loopback TCP connection inside
// the bench, in microseconds per round trip (the best of three rounds of
// 2,000). It exercises what the benchmarks lean on — system calls, the
// loopback stack, waking a goroutine — which a busy host slows down more
// than plain computation.
func netCheck() float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return math.NaN()
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return math.NaN()
	}
	defer c.Close()
	const n = 2000
	buf := make([]byte, 64)
	best := math.Inf(1)
	for range 3 {
		t := time.Now()
		for range n {
			if _, err := c.Write(buf); err != nil {
				return math.NaN()
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return math.NaN()
			}
		}
		best = min(best, float64(time.Since(t))/1e3/n)
	}
	return best
}

// The host checks every run records before it starts.
var (
	cpuCheckDef = metricDef{"cpu_check_ms", "host check before the run: 8 MiB SHA-256 on the generator's core (higher: a slower host)", "ms", 1}
	netCheckDef = metricDef{"net_check_us", "host check before the run: one 64-byte loopback TCP round trip (higher: slower system calls)", "µs", 1}
)

// cpuMeter measures, over one interval, the CPU time of the relay, of the
// generator (the bench and any worker processes it names) and of everything
// else on the machine (other processes, the hypervisor's steal): the last
// says how noisy the interval was.
type cpuMeter struct {
	relays                  []int
	gen                     []int
	t0                      time.Time
	relay0, self0, machine0 float64
}

// startCPU starts metering; workers are generator processes besides the
// bench itself, alive until stop.
func startCPU(relayPid int, workers ...int) (*cpuMeter, error) {
	return startCPUOf([]int{relayPid}, workers)
}

// startCPUOf meters the relays of a cluster together.
func startCPUOf(relays, workers []int) (*cpuMeter, error) {
	m := &cpuMeter{relays: relays, gen: append([]int{os.Getpid()}, workers...), t0: time.Now()}
	var e1, e2, e3 error
	m.relay0, e1 = sumCPU(relays)
	m.self0, e2 = m.genSeconds()
	m.machine0, e3 = machineBusy()
	return m, errors.Join(e1, e2, e3)
}

func (m *cpuMeter) genSeconds() (float64, error) { return sumCPU(m.gen) }

// sumCPU is the CPU seconds used so far by the processes pids, together.
func sumCPU(pids []int) (float64, error) {
	var sum float64
	for _, pid := range pids {
		s, err := cpuSeconds(pid)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// cpuUse is what a cpuMeter measured: CPU seconds and wall seconds.
type cpuUse struct {
	Relay, Self, Other, Wall float64
}

func (m *cpuMeter) stop() (cpuUse, error) {
	r, e1 := sumCPU(m.relays)
	s, e2 := m.genSeconds()
	all, e3 := machineBusy()
	u := cpuUse{Relay: r - m.relay0, Self: s - m.self0, Wall: time.Since(m.t0).Seconds()}
	u.Other = max(0, all-m.machine0-u.Relay-u.Self)
	return u, errors.Join(e1, e2, e3)
}
