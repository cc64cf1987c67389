package main

import (
	"os"
	"slices"
	"testing"
	"time"
)

// parseArgs runs parseFlags on args; it swaps os.Args, so no t.Parallel.
func parseArgs(t *testing.T, args ...string) config {
	t.Helper()
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = append([]string{"parley-bench"}, args...)
	c, err := parseFlags()
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", args, err)
	}
	return c
}

func TestQuickFlag(t *testing.T) {
	c := parseArgs(t)
	if c.runs != 3 || c.messages != 20000 || c.duration != 5*time.Second || c.rateSet {
		t.Errorf("defaults = runs %d, messages %d, duration %s, rate set %v", c.runs, c.messages, c.duration, c.rateSet)
	}
	if !c.all || !c.sweep || !c.profile || !slices.Equal(c.conns, []int{1000, 2500, 5000, 10000, connsMax}) {
		t.Errorf("all: sweep %v, profile %v, conns %v", c.sweep, c.profile, c.conns)
	}
	if !slices.Equal(c.scenarios, scenarioNames) {
		t.Errorf("all runs %v", c.scenarios)
	}
	c = parseArgs(t, "--quick")
	if c.runs != 1 || c.messages != 5000 || c.duration != 2*time.Second || c.profile || !slices.Equal(c.conns, []int{1000, connsMax}) {
		t.Errorf("--quick = runs %d, messages %d, duration %s, profile %v, conns %v", c.runs, c.messages, c.duration, c.profile, c.conns)
	}
	// Flags given explicitly win over --quick, wherever they stand.
	c = parseArgs(t, "--runs", "2", "--quick", "--duration=3s", "--scenario", "idle")
	if c.runs != 2 || c.messages != 5000 || c.duration != 3*time.Second || !slices.Equal(c.conns, []int{1000}) || c.sweep {
		t.Errorf("--runs 2 --quick --duration=3s = runs %d, messages %d, duration %s, conns %v, sweep %v", c.runs, c.messages, c.duration, c.conns, c.sweep)
	}
}

func TestScenarioFlags(t *testing.T) {
	c := parseArgs(t, "--scenario", "group,idle", "--conns", "1000,max")
	if !slices.Equal(c.scenarios, []string{"group", "idle"}) || c.all || c.sweep || c.profile {
		t.Errorf("scenarios %v, all %v, sweep %v, profile %v", c.scenarios, c.all, c.sweep, c.profile)
	}
	if !slices.Equal(c.conns, []int{1000, connsMax}) {
		t.Errorf("conns %v", c.conns)
	}
	c = parseArgs(t, "--scenario", "p2p", "--sweep", "--p99-max", "10ms", "--sweep-rates", "500,1500")
	if !c.sweep || c.p99Max != 10*time.Millisecond || !slices.Equal(c.sweepRates, []float64{500, 1500}) {
		t.Errorf("sweep %v, p99 max %s, rates %v", c.sweep, c.p99Max, c.sweepRates)
	}
	saved := os.Args
	defer func() { os.Args = saved }()
	for _, args := range [][]string{
		{"--scenario", "idle", "--sweep"},
		{"--scenario", "nope"},
		{"--conns", "0"},
		{"--conns", "10,lots"},
		{"--room-members", "2000"},
		{"--sweep-rates", "0"},
	} {
		os.Args = append([]string{"parley-bench"}, args...)
		if _, err := parseFlags(); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestRates(t *testing.T) {
	c := parseArgs(t, "--scenario", "group")
	bn := &bench{cfg: c}
	if got := bn.rateFor(groupDefaultRate); got != 5000 {
		t.Errorf("group rate = %v, want its default 5000", got)
	}
	c = parseArgs(t, "--scenario", "group", "--rate", "8000")
	bn = &bench{cfg: c}
	if got := bn.rateFor(groupDefaultRate); got != 8000 {
		t.Errorf("group rate with --rate 8000 = %v", got)
	}
}

func TestPacedInterval(t *testing.T) {
	t.Parallel()
	// 100 clients sharing 1000 msg/s: 10 msg/s each.
	if got := (pacedSpec{cast: pairsCast(50), rate: 1000}).every(); got != 100*time.Millisecond {
		t.Errorf("pairs every = %s, want 100ms", got)
	}
	// 1000 members sharing 5000 msg/s: 5 msg/s each.
	if got := (pacedSpec{cast: roomsCast(100, 10, 0), rate: 5000}).every(); got != 200*time.Millisecond {
		t.Errorf("group every = %s, want 200ms", got)
	}
	// A room where 4 of 1000 talk: only the talkers share the rate.
	if got := (pacedSpec{cast: roomsCast(1, 1000, 4), rate: 20}).every(); got != 200*time.Millisecond {
		t.Errorf("room every = %s, want 200ms", got)
	}
}

func TestGroupBots(t *testing.T) {
	t.Parallel()
	c := roomsCast(3, 4, 0)
	bs := c.bots(func(int) int { return 7 })
	if len(bs) != 12 || c.fan() != 3 {
		t.Fatalf("%d bots, fan %v; want 12, 3", len(bs), c.fan())
	}
	for i, b := range bs {
		if !slices.Equal(b.convs, []string{groupID(i / 4)}) || !slices.Equal(b.fans, []int{3}) || len(b.from) != 3 || len(b.seen) != 3 || len(b.seen[0]) != 7 || b.warmWant != 3 {
			t.Errorf("bot %d: convs %v, fans %v, %d from, %d seen, warm %d", i, b.convs, b.fans, len(b.from), len(b.seen), b.warmWant)
		}
		if _, self := b.from[b.user]; self {
			t.Errorf("bot %d hears from itself", i)
		}
	}
}

func TestRoomBots(t *testing.T) {
	t.Parallel()
	c := roomsCast(1, 10, 2)
	bs := c.bots(func(int) int { return 5 })
	if c.senders() != 2 || c.fan() != 9 || len(talkers(bs)) != 2 {
		t.Fatalf("senders %d, fan %v, talkers %d", c.senders(), c.fan(), len(talkers(bs)))
	}
	// Talkers hear each other; listeners hear both talkers and send nothing.
	if b := bs[0]; b.n != 5 || len(b.from) != 1 || b.warmWant != 1 {
		t.Errorf("talker: n %d, from %v, warm %d", b.n, b.from, b.warmWant)
	}
	if b := bs[9]; b.n != 0 || len(b.convs) != 0 || len(b.from) != 2 || b.warmWant != 2 || !b.in[groupID(0)] {
		t.Errorf("listener: n %d, convs %v, from %v, warm %d", b.n, b.convs, b.from, b.warmWant)
	}
}

func TestContactsCast(t *testing.T) {
	t.Parallel()
	c := contactsCast(100, 4, 1)
	if c2 := contactsCast(100, 4, 1); !slices.EqualFunc(c.convs, c2.convs, func(a, b castConv) bool { return a.id == b.id }) {
		t.Errorf("the same seed drew different pairs")
	}
	seen := make(map[string]bool)
	degree := make([]int, 100)
	for _, cv := range c.convs {
		if seen[cv.id] || len(cv.members) != 2 || cv.members[0] == cv.members[1] || cv.group {
			t.Fatalf("bad conversation %+v", cv)
		}
		seen[cv.id] = true
		degree[cv.members[0]]++
		degree[cv.members[1]]++
	}
	if slices.Min(degree) < 2 || slices.Max(degree) > 4 || len(c.convs) < 190 {
		t.Errorf("degrees %d..%d over %d conversations; want 2..4 and about 200", slices.Min(degree), slices.Max(degree), len(c.convs))
	}
	if c.fan() != 1 {
		t.Errorf("p2p fan = %v, want 1", c.fan())
	}
}

// A talker's sends into several conversations are owed one delivery each,
// and the tally counts what arrived by the window.
func TestOwedAndTally(t *testing.T) {
	t.Parallel()
	c := cast{users: []string{"a", "b", "c"}, convs: []castConv{
		{id: "g:x", members: []int{0, 1, 2}, group: true},
		{id: "p", members: []int{0, 1}},
	}}
	bs := c.bots(func(int) int { return 4 })
	a := bs[0]
	if !slices.Equal(a.convs, []string{"g:x", "p"}) || !slices.Equal(a.fans, []int{2, 1}) || a.warmWant != 3 {
		t.Fatalf("a: convs %v, fans %v, warm %d", a.convs, a.fans, a.warmWant)
	}
	a.convOf = []uint16{0, 1, 1, 0}
	a.sentAt = []int64{10, 20, 30, 0} // message 3 never sent
	a.ackAt = []int64{15, 25, 99, 0}
	a.ackLat = []float64{5, 5, 69, a.ackLat[3]}
	if got := owed(bs); got != 2+1+1 {
		t.Errorf("owed = %d, want 4", got)
	}
	b := bs[1]
	b.dLat, b.dSent, b.dRecv = []float64{1, 2, 3}, []int64{10, 20, 30}, []int64{11, 22, 33}
	b.dups = 1
	tl := tallyWindow(bs, 15, 35)
	if tl.sent != 2 || tl.acked != 2 || tl.arrived != 2 || tl.unique != 3 || tl.dups != 1 || !slices.Equal(tl.dLat, []float64{2, 3}) || !slices.Equal(tl.ackLat, []float64{5, 69}) {
		t.Errorf("tally = %+v", tl)
	}
}

func TestIdleWorkers(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{1: 1, 10000: 1, 15000: 1, 15001: 2, 19990: 2, 45000: 3} {
		if got := workerCount(n); got != want {
			t.Errorf("workerCount(%d) = %d, want %d", n, got, want)
		}
	}
	if a, b := sourceAddr(0), sourceAddr(maxPerSource-1); !a.Equal(b) || a.String() != "127.1.0.1" {
		t.Errorf("first source addresses %s, %s", a, b)
	}
	if got := sourceAddr(250 * maxPerSource).String(); got != "127.1.1.1" {
		t.Errorf("source of connection 250,000 = %s", got)
	}
	seen := make(map[string]bool)
	for i := 0; i < 100_000; i += maxPerSource {
		s := sourceAddr(i).String()
		if seen[s] {
			t.Fatalf("source %s used twice", s)
		}
		seen[s] = true
	}
}
