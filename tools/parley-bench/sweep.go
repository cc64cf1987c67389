package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// A knee sweep steps a paced scenario's offered rate up until the relay
// stops keeping its promise — p99 above --p99-max, or a message lost — or
// until the generator, not the relay, is what saturates. The knee is the
// highest rate that kept it.

// Verdicts of one sweep point.
const (
	verdictOK     = "ok"
	verdictP99    = "p99 over"
	verdictLoss   = "loss"
	verdictGen    = "generator-bound"
	verdictFailed = "failed"
)

// defaultLadder is the rates a sweep tries, in order, unless --sweep-rates.
var defaultLadder = []float64{1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000, 20000, 24000, 32000}

// sweepPoint is one offered rate of a sweep: the medians over its runs.
type sweepPoint struct {
	Offered float64            `json:"offered_per_s"`
	Metrics map[string]float64 `json:"metrics"` // medians of the runs' metrics
	Verdict string             `json:"verdict"`
	Why     string             `json:"why,omitempty"`
	Runs    []*runResult       `json:"runs"`
}

// sweepResult is one scenario's knee sweep.
type sweepResult struct {
	Scenario string       `json:"scenario"`
	Title    string       `json:"title"`
	P99MaxMs float64      `json:"p99_max_ms"`
	Points   []sweepPoint `json:"points"` // in the order they ran
	// Knee is the highest offered rate that passed, with every lower rate
	// passing too; 0 when none did.
	Knee float64 `json:"knee_per_s"`
	// Bound says what ended the sweep: "relay" (p99 or loss: Knee is the
	// relay's), "generator" (the relay's knee is above Knee), "ladder"
	// (every rate passed) or "failed".
	Bound string   `json:"bound"`
	Stop  string   `json:"stop"`
	Notes []string `json:"notes,omitempty"`
}

// classify judges one sweep point from its medians. Loss comes first (it
// is never acceptable, whoever was busy), then a saturated generator
// (whose latencies say nothing about the relay), then the p99 budget.
func classify(m map[string]float64, offered, p99Max float64) (verdict, why string) {
	p99, ok := m["deliver_p99_ms"]
	switch {
	case !ok:
		return verdictFailed, "the run measured nothing"
	case m["lost"] > 0 || m["duplicates"] > 0:
		return verdictLoss, fmt.Sprintf("%s lost, %s duplicates", fmtNum(m["lost"], 0), fmtNum(m["duplicates"], 0))
	case m["gen_cpu_util"] >= genBound*100:
		return verdictGen, fmt.Sprintf("generator CPU %s %%", fmtNum(m["gen_cpu_util"], 0))
	case m["sent_per_s"] < 0.95*offered:
		return verdictGen, fmt.Sprintf("the generator sent %s of %s msg/s", fmtNum(m["sent_per_s"], 0), fmtNum(offered, 0))
	case p99 > p99Max:
		return verdictP99, fmt.Sprintf("p99 %s ms", fmtNum(p99, 1))
	}
	return verdictOK, ""
}

// byRate returns the points sorted by offered rate.
func byRate(pts []sweepPoint) []sweepPoint {
	s := slices.Clone(pts)
	slices.SortStableFunc(s, func(a, b sweepPoint) int { return cmp.Compare(a.Offered, b.Offered) })
	return s
}

// bracket returns the highest passing point below the lowest failing one
// (good) and that failing point (bad); either may be nil.
func bracket(pts []sweepPoint) (good, bad *sweepPoint) {
	s := byRate(pts)
	for i := range s {
		if s[i].Verdict != verdictOK {
			return good, &s[i]
		}
		good = &s[i]
	}
	return good, nil
}

// nextRate decides the next rate to try, or that the sweep is done. It
// climbs the ladder until a point fails; when the relay failed it (p99 or
// loss), it halves the gap to the last passing rate until the two are
// within 20 %. When even the first rate fails, it halves the rate, down to
// minSweepRate, to find one that passes.
func nextRate(ladder []float64, pts []sweepPoint) (float64, bool) {
	good, bad := bracket(pts)
	if bad == nil {
		top := math.Inf(-1)
		if good != nil {
			top = good.Offered
		}
		for _, r := range ladder {
			if r > top {
				return r, true
			}
		}
		return 0, false
	}
	relay := bad.Verdict == verdictP99 || bad.Verdict == verdictLoss
	if good == nil {
		if down := roundRate(bad.Offered / 2); relay && down >= minSweepRate {
			return down, true
		}
		return 0, false
	}
	if !relay || bad.Offered/good.Offered <= 1.2 {
		return 0, false
	}
	mid := roundRate((good.Offered + bad.Offered) / 2)
	if mid <= good.Offered || mid >= bad.Offered || slices.ContainsFunc(pts, func(p sweepPoint) bool { return p.Offered == mid }) {
		return 0, false
	}
	return mid, true
}

// minSweepRate is the lowest rate a sweep steps down to.
const minSweepRate = 100

// roundRate rounds a rate to two significant digits.
func roundRate(r float64) float64 {
	if r <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-1)
	return math.Round(r/p) * p
}

// conclude sets the knee, the bound and the stop line from the points.
func (s *sweepResult) conclude() {
	good, bad := bracket(s.Points)
	if good != nil {
		s.Knee = good.Offered
	}
	knee := "none"
	if good != nil {
		knee = fmtNum(good.Offered, 0) + " msg/s"
	}
	switch {
	case bad == nil && good == nil:
		s.Bound, s.Stop = verdictFailed, "no rate was measured"
	case bad == nil:
		s.Bound = "ladder"
		s.Stop = fmt.Sprintf("every rate up to %s passed: the knee is above it", knee)
	case bad.Verdict == verdictGen:
		s.Bound = "generator"
		s.Stop = fmt.Sprintf("generator-bound at %s msg/s (%s): the relay's knee is above %s; a faster or second generator is needed to find it", fmtNum(bad.Offered, 0), bad.Why, knee)
	case bad.Verdict == verdictFailed:
		s.Bound = verdictFailed
		s.Stop = fmt.Sprintf("the run at %s msg/s failed (%s); knee so far %s", fmtNum(bad.Offered, 0), bad.Why, knee)
	default:
		s.Bound = "relay"
		s.Stop = fmt.Sprintf("at %s msg/s the relay broke its promise (%s, budget p99 ≤ %s ms): knee %s", fmtNum(bad.Offered, 0), bad.Why, fmtNum(s.P99MaxMs, 0), knee)
	}
}

// medians returns the medians a summarized scenario measured.
func medians(s *scenarioResult) map[string]float64 {
	m := make(map[string]float64)
	for _, r := range s.Summary {
		if r.Runs > 0 {
			m[r.Key] = *r.Median
		}
	}
	return m
}

// sweepSpec is the paced scenario name at rate.
func (bn *bench) sweepSpec(name string, rate float64) pacedSpec {
	switch name {
	case "latency":
		return bn.latencySpec(rate)
	case "group":
		return bn.groupSpec(rate)
	case "p2p":
		return bn.p2pSpec(rate)
	}
	panic("parley-bench: no sweep for " + name)
}

// kneeSweep runs the sweep of one paced scenario.
func (bn *bench) kneeSweep(ctx context.Context, name string) *sweepResult {
	c := bn.cfg
	ladder := defaultLadder
	if len(c.sweepRates) > 0 {
		ladder = c.sweepRates
	}
	spec := bn.sweepSpec(name, ladder[0])
	sw := &sweepResult{
		Scenario: name, P99MaxMs: float64(c.p99Max) / 1e6,
		Title: fmt.Sprintf("knee sweep: %s for %s after a %s warm-up, %d run(s) per rate", spec.what, c.sweepDur, latencyWarmUp, c.sweepRuns),
		Notes: []string{
			fmt.Sprintf("A rate measured while other processes used more than %.0f %% of a core is measured again, up to %d times; the quietest attempt counts.", noisyOther, sweepAttempts-1),
			fmt.Sprintf("Offered rates step up the ladder until a rate fails: p99 above %s ms or any loss (the relay's knee; the gap to the last passing rate is then halved while it is above 20 %%), or generator CPU ≥ %.0f %% or sends below 95 %% of the offered rate (generator-bound: the relay's knee is higher than the sweep could offer). The knee is the highest rate that passed.",
				fmtNum(float64(c.p99Max)/1e6, 0), genBound*100),
		},
	}
	for ctx.Err() == nil {
		rate, more := nextRate(ladder, sw.Points)
		if !more {
			break
		}
		p := bn.sweepPoint(ctx, name, rate, sw.P99MaxMs)
		sw.Points = append(sw.Points, p)
		fmt.Fprintf(os.Stderr, "%s sweep: %s msg/s → %s %s\n", name, fmtNum(rate, 0), p.Verdict, p.Why)
	}
	sw.conclude()
	fmt.Fprintf(os.Stderr, "%s sweep: %s\n", name, sw.Stop)
	return sw
}

// A sweep point measured while other processes used more than noisyOther %
// of a core is measured again, up to sweepAttempts times in all: one noisy
// point would otherwise end the sweep with a knee that belongs to the
// machine's other tenants.
const (
	noisyOther    = 25.0
	sweepAttempts = 3
)

// sweepPoint measures one rate of a sweep: --sweep-runs runs, repeated
// while the machine was noisy, keeping the quietest attempt.
func (bn *bench) sweepPoint(ctx context.Context, name string, rate, p99Max float64) sweepPoint {
	c := bn.cfg
	spec := bn.sweepSpec(name, rate)
	var best sweepPoint
	bestOther := math.Inf(1)
	var all []*runResult
	for a := 1; a <= sweepAttempts && ctx.Err() == nil; a++ {
		s := &scenarioResult{Name: fmt.Sprintf("%s sweep %s msg/s", name, fmtNum(rate, 0)), defs: pacedDefs}
		bn.repeat(ctx, s, c.sweepRuns, pacedKeys, func(r *runResult) error {
			return runPaced(ctx, bn.rc, spec, c.sweepDur, c.window, r)
		})
		all = append(all, s.Runs...)
		p := sweepPoint{Offered: rate, Metrics: medians(s)}
		p.Verdict, p.Why = classify(p.Metrics, rate, p99Max)
		for _, r := range s.Runs {
			if r.Err != "" {
				p.Verdict, p.Why = verdictFailed, r.Err
			}
		}
		other, ok := p.Metrics["other_cpu_util"]
		if !ok {
			other = math.Inf(1)
		}
		if a == 1 || other < bestOther {
			best, bestOther = p, other
		}
		if other <= noisyOther || p.Verdict == verdictFailed {
			break
		}
		fmt.Fprintf(os.Stderr, "%s sweep: %s msg/s measured a busy machine (other CPU %s %%): again\n", name, fmtNum(rate, 0), fmtNum(other, 0))
	}
	best.Runs = all
	if bestOther > noisyOther && !math.IsInf(bestOther, 1) {
		best.Why = strings.TrimPrefix(best.Why+"; ", "; ") + fmt.Sprintf("noisy: other CPU %s %%", fmtNum(bestOther, 0))
	}
	return best
}
