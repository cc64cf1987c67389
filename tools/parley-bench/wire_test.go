package main

import (
	"math"
	"testing"
)

func TestWireText(t *testing.T) {
	t.Parallel()
	for _, first := range []bool{false, true} {
		k, at, f, ok := parseWireText([]byte(wireText(42, 1764072000123456789, first)))
		if !ok || k != 42 || at != 1764072000123456789 || f != first {
			t.Fatalf("first=%v: got %d %d %v %v", first, k, at, f, ok)
		}
	}
	for _, bad := range []string{"", "warm-up", "m 1", "m x 2", "m 1 2 g", "m -1 2", "n 1 2"} {
		if _, _, _, ok := parseWireText([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestHistQuantile: a quantile lands within one bucket (1 %) above the
// true value, and merged histograms give the quantiles of the union.
func TestHistQuantile(t *testing.T) {
	t.Parallel()
	a, b := hist{}, hist{}
	for i := 1; i <= 1000; i++ {
		a.add(float64(i) * 1000) // 1..1000 ms in µs
		b.add(float64(i+1000) * 1000)
	}
	a.merge(b)
	if n := a.count(); n != 2000 {
		t.Fatalf("count %d", n)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 1000}, {0.99, 1980}, {1, 2000}} {
		got := a.quantile(c.q)
		if got < c.want || got > c.want*histBase*1.0001 {
			t.Errorf("q%v = %v ms, want %v ms within 1 %%", c.q, got, c.want)
		}
	}
	if !math.IsNaN(hist{}.quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
}

func TestFanKnee(t *testing.T) {
	t.Parallel()
	mk := func(rate, p99, lost, del float64) *scenarioResult {
		s := &scenarioResult{Name: "fanout " + fmtNum(rate, 0), defs: wireDefs}
		r := newRun(1)
		r.set("offered_per_s", rate)
		r.set("deliver_p99_ms", p99)
		r.set("lost", lost)
		r.set("delivered_per_s", del)
		s.Runs = []*runResult{r}
		s.summarize()
		return s
	}
	rate, del := fanKnee([]*scenarioResult{mk(2000, 10, 0, 18000), mk(5000, 20, 0, 45000), mk(10000, 300, 0, 60000), mk(20000, 5, 3, 1)})
	if rate != 5000 || del != 45000 {
		t.Fatalf("knee %v at %v deliveries/s, want 5000 at 45000", rate, del)
	}
	if rate, _ := fanKnee([]*scenarioResult{mk(2000, 30, 0, 1)}); rate != 0 {
		t.Fatalf("knee %v, want none", rate)
	}
}
