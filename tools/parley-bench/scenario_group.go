package main

import (
	"context"
	"fmt"
)

// The group fan-out target: Centrifugo's 50,000 deliveries/s at p99 12 ms
// (in-memory), matched in throughput with every message durable, at a p99
// within the latency budget of 25 ms, on one relay core.
const (
	groupTargetDeliveries = 50_000
	groupTargetP99ms      = 25
	groupDefaultRate      = 5000
)

// groupSpec is --rooms group conversations of --members users, every member
// sending: fan-out of members − 1 per message.
func (bn *bench) groupSpec(rate float64) pacedSpec {
	r, m := bn.cfg.rooms, bn.cfg.members
	return pacedSpec{
		name: "group", rate: rate, cast: roomsCast(r, m, 0),
		what:   fmt.Sprintf("group fan-out — %d rooms × %d members (%s clients)", r, m, fmtNum(float64(r*m), 0)),
		params: map[string]any{"rooms": r, "members": m},
		notes:  []string{fmt.Sprintf("Rooms are group conversations g:bench-r<N>, each created by its first member; every member is a distinct user with one native client, and every member sends. Every message must reach the other %d members of its room exactly once.", m-1)},
	}
}

func (bn *bench) group(ctx context.Context) *scenarioResult {
	spec := bn.groupSpec(bn.rateFor(groupDefaultRate))
	s := bn.pacedScenario(ctx, spec, bn.cfg.runs, bn.cfg.duration)
	s.budget("group send → delivered p99", "deliver_p99_ms", groupTargetP99ms, 0, "ms")
	s.Notes = append(s.Notes, groupTargetLine(s, spec.rate*float64(bn.cfg.members-1)))
	return s
}

// groupTargetLine compares a group scenario's medians with the fan-out
// target.
func groupTargetLine(s *scenarioResult, offered float64) string {
	d, ok1 := s.row("delivered_per_s")
	p, ok2 := s.row("deliver_p99_ms")
	if !ok1 || !ok2 {
		return fmt.Sprintf("Target: %s deliveries/s at p99 ≤ %d ms on one relay core — not measured (offered %s deliveries/s).",
			fmtNum(groupTargetDeliveries, 0), groupTargetP99ms, fmtNum(offered, 0))
	}
	verdict := "**NOT MET**"
	if *d.Median >= groupTargetDeliveries && *p.Median <= groupTargetP99ms {
		verdict = "**MET**"
	}
	return fmt.Sprintf("Target %s: %s deliveries/s at p99 ≤ %d ms on one relay core (Centrifugo, in-memory: 50,000 at p99 12 ms); "+
		"measured %s deliveries/s at p99 %s ms (medians; offered %s deliveries/s).",
		verdict, fmtNum(groupTargetDeliveries, 0), groupTargetP99ms, fmtNum(*d.Median, 0), fmtNum(*p.Median, 2), fmtNum(offered, 0))
}
