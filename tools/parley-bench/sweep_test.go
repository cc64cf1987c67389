package main

import (
	"strings"
	"testing"
)

func pt(offered float64, verdict string) sweepPoint {
	return sweepPoint{Offered: offered, Verdict: verdict}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	ok := map[string]float64{"deliver_p99_ms": 8, "lost": 0, "duplicates": 0, "gen_cpu_util": 60, "sent_per_s": 1000}
	with := func(k string, v float64) map[string]float64 {
		m := make(map[string]float64)
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for name, tc := range map[string]struct {
		m    map[string]float64
		want string
	}{
		"under budget":         {ok, verdictOK},
		"p99 over":             {with("deliver_p99_ms", 26), verdictP99},
		"p99 at the budget":    {with("deliver_p99_ms", 25), verdictOK},
		"loss":                 {with("lost", 1), verdictLoss},
		"duplicates":           {with("duplicates", 2), verdictLoss},
		"generator busy":       {with("gen_cpu_util", 93), verdictGen},
		"generator behind":     {with("sent_per_s", 900), verdictGen},
		"loss beats generator": {with("lost", 1), verdictLoss},
		"nothing measured":     {map[string]float64{}, verdictFailed},
		"generator beats p99":  {map[string]float64{"deliver_p99_ms": 90, "gen_cpu_util": 95, "sent_per_s": 1000}, verdictGen},
	} {
		if got, _ := classify(tc.m, 1000, 25); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestNextRate(t *testing.T) {
	t.Parallel()
	ladder := []float64{1000, 2000, 4000, 8000}
	for name, tc := range map[string]struct {
		pts  []sweepPoint
		want float64 // 0: done
	}{
		"start":                 {nil, 1000},
		"climb":                 {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK)}, 4000},
		"ladder done":           {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK), pt(4000, verdictOK), pt(8000, verdictOK)}, 0},
		"relay knee: bisect":    {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK), pt(4000, verdictP99)}, 3000},
		"bisect again":          {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK), pt(4000, verdictP99), pt(3000, verdictOK)}, 3500},
		"bisect the lower half": {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK), pt(4000, verdictLoss), pt(3000, verdictP99)}, 2500},
		"close enough":          {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK), pt(4000, verdictP99), pt(3000, verdictOK), pt(3500, verdictOK)}, 0},
		"generator-bound: stop": {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictGen)}, 0},
		"failed: stop":          {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictFailed)}, 0},
	} {
		got, more := nextRate(ladder, tc.pts)
		if more != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: next %v (more %v), want %v", name, got, more, tc.want)
		}
	}
}

func TestRoundRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{3000: 3000, 3500: 3500, 3750: 3800, 1234: 1200, 99.6: 100, 12500: 13000} {
		if got := roundRate(in); got != want {
			t.Errorf("roundRate(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestConclude(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		pts   []sweepPoint
		knee  float64
		bound string
		says  string
	}{
		"relay":     {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictP99), pt(1500, verdictOK)}, 1500, "relay", "knee 1,500 msg/s"},
		"generator": {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictGen)}, 1000, "generator", "the relay's knee is above 1,000 msg/s"},
		"ladder":    {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictOK)}, 2000, "ladder", "up to 2,000 msg/s passed"},
		"none":      {[]sweepPoint{pt(1000, verdictLoss)}, 0, "relay", "knee none"},
		// A pass above a failure does not move the knee.
		"noise": {[]sweepPoint{pt(1000, verdictOK), pt(2000, verdictP99), pt(4000, verdictOK)}, 1000, "relay", "knee 1,000"},
	} {
		sw := &sweepResult{Points: tc.pts, P99MaxMs: 25}
		sw.conclude()
		if sw.Knee != tc.knee || sw.Bound != tc.bound || !strings.Contains(sw.Stop, tc.says) {
			t.Errorf("%s: knee %v, bound %q, stop %q", name, sw.Knee, sw.Bound, sw.Stop)
		}
	}
}
