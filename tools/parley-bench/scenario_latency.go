package main

import (
	"context"
	"fmt"
)

// The latency budget: send → delivered on another client, loopback, at moderate load.
const (
	latencyBudgetP50ms = 5
	latencyBudgetP99ms = 25
	latencyDefaultRate = 1000
)

// latencySpec is --pairs fixed p2p pairs offering rate: the latency a user
// feels at moderate load.
func (bn *bench) latencySpec(rate float64) pacedSpec {
	p := bn.cfg.pairs
	return pacedSpec{
		name: "latency", rate: rate, cast: pairsCast(p),
		what:   fmt.Sprintf("latency — %d pairs (%d clients)", p, 2*p),
		params: map[string]any{"pairs": p},
		notes:  []string{"Each client chats with one partner in one p2p conversation; both send."},
	}
}

func (bn *bench) latency(ctx context.Context) *scenarioResult {
	s := bn.pacedScenario(ctx, bn.latencySpec(bn.rateFor(latencyDefaultRate)), bn.cfg.runs, bn.cfg.duration)
	s.budget("send → delivered p50 at moderate load", "deliver_p50_ms", latencyBudgetP50ms, 0, "ms")
	s.budget("send → delivered p99 at moderate load", "deliver_p99_ms", latencyBudgetP99ms, 0, "ms")
	return s
}
