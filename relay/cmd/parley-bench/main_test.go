package main

import (
	"os"
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
	if c.runs != 3 || c.messages != 20000 || c.conns != 5000 || c.duration != 5*time.Second || c.rate != 1000 {
		t.Errorf("defaults = runs %d, messages %d, conns %d, duration %s, rate %v", c.runs, c.messages, c.conns, c.duration, c.rate)
	}
	c = parseArgs(t, "--quick")
	if c.runs != 1 || c.messages != 5000 || c.conns != 1000 || c.duration != 2*time.Second {
		t.Errorf("--quick = runs %d, messages %d, conns %d, duration %s", c.runs, c.messages, c.conns, c.duration)
	}
	// Flags given explicitly win over --quick, wherever they stand.
	c = parseArgs(t, "--runs", "2", "--quick", "--duration=3s")
	if c.runs != 2 || c.messages != 5000 || c.duration != 3*time.Second {
		t.Errorf("--runs 2 --quick --duration=3s = runs %d, messages %d, duration %s", c.runs, c.messages, c.duration)
	}
}

func TestLatencyInterval(t *testing.T) {
	t.Parallel()
	// 100 clients sharing 1000 msg/s: 10 msg/s each.
	if got := (latencyConfig{Pairs: 50, Rate: 1000}).every(); got != 100*time.Millisecond {
		t.Errorf("every = %s, want 100ms", got)
	}
}

func TestGroupFlags(t *testing.T) {
	c := parseArgs(t, "--scenario", "group")
	if c.rooms != 100 || c.members != 10 || c.gRate != 5000 || c.rate != 1000 {
		t.Errorf("group defaults = rooms %d, members %d, group rate %v, rate %v", c.rooms, c.members, c.gRate, c.rate)
	}
	c = parseArgs(t, "--scenario", "group", "--rate", "8000", "--rooms", "10", "--members", "5")
	if c.rooms != 10 || c.members != 5 || c.gRate != 8000 {
		t.Errorf("group flags = rooms %d, members %d, group rate %v", c.rooms, c.members, c.gRate)
	}
	// 1000 clients sharing 5000 msg/s: 5 msg/s each.
	if got := (groupConfig{Rooms: 100, Members: 10, Rate: 5000}).every(); got != 200*time.Millisecond {
		t.Errorf("every = %s, want 200ms", got)
	}
}

func TestNewGroup(t *testing.T) {
	t.Parallel()
	ms := newGroup(groupConfig{Rooms: 3, Members: 4}, 7)
	if len(ms) != 12 {
		t.Fatalf("%d members, want 12", len(ms))
	}
	for i, m := range ms {
		if m.conv != groupID(i/4) || len(m.peers) != 3 || len(m.seen) != 3 || len(m.seen[0]) != 7 {
			t.Errorf("member %d: conv %s, %d peers, %d seen", i, m.conv, len(m.peers), len(m.seen))
		}
		if _, self := m.peers[m.user]; self {
			t.Errorf("member %d is its own peer", i)
		}
	}
}
