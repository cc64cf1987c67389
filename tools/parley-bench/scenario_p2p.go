package main

import (
	"context"
	"fmt"
)

const p2pDefaultRate = 1000

// p2pSpec is --users users chatting in random pairs: each has about
// --contacts p2p conversations and sends each message into one of them,
// picked at random.
func (bn *bench) p2pSpec(rate float64) pacedSpec {
	u, k := bn.cfg.users, bn.cfg.contacts
	c := contactsCast(u, k, 1)
	return pacedSpec{
		name: "p2p", rate: rate, cast: c,
		what:   fmt.Sprintf("p2p — %s users in %s random pairs", fmtNum(float64(u), 0), fmtNum(float64(len(c.convs)), 0)),
		params: map[string]any{"users": u, "contacts": k},
		notes: []string{fmt.Sprintf("Pairs are drawn at random (seeded): the union of %d random perfect matchings of the users, so each user has up to %d partners (a pair drawn twice is one conversation), one p2p conversation with each; every message goes to one of the sender's conversations, picked at random.",
			k, k)},
	}
}

func (bn *bench) p2p(ctx context.Context) *scenarioResult {
	s := bn.pacedScenario(ctx, bn.p2pSpec(bn.rateFor(p2pDefaultRate)), bn.cfg.runs, bn.cfg.duration)
	s.budget("p2p send → delivered p99", "deliver_p99_ms", latencyBudgetP99ms, 0, "ms")
	return s
}
