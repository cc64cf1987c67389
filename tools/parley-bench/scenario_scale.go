package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/parley-im/parley/tools/parley-bench/chart"
)

// scaleSetup is one deployment the scale scenario measures.
type scaleSetup struct {
	slug     string
	label    string
	nodes    int
	postgres bool
	nats     bool
}

func (bn *bench) scaleSetups() []scaleSetup {
	n := bn.cfg.scaleNodes
	return []scaleSetup{
		{"sqlite-1", "SQLite, 1 relay", 1, false, false},
		{"postgres-1", "PostgreSQL, 1 relay", 1, true, false},
		{"postgres-nats-1", "PostgreSQL + NATS, 1 relay", 1, true, true},
		{fmt.Sprintf("postgres-nats-%d", n), fmt.Sprintf("PostgreSQL + NATS, %d relays", n), n, true, true},
	}
}

// scale runs the throughput scenario against each deployment: messages
// persisted (acknowledged after commit) and delivered per second, one relay
// against several, SQLite against PostgreSQL.
func (bn *bench) scale(ctx context.Context) []*scenarioResult {
	c := bn.cfg
	tc := throughputConfig{Pairs: c.pairs, Messages: c.messages, Window: c.window}
	var out []*scenarioResult
	for _, su := range bn.scaleSetups() {
		rc := bn.rc
		rc.nodes = su.nodes
		if su.postgres {
			rc.postgres = c.postgres
		}
		if su.nats {
			rc.nats = c.nats
		}
		s := &scenarioResult{
			Name: "scale-" + su.slug, defs: throughputDefs,
			Title: fmt.Sprintf("scale — %s: %d pairs, %s messages, %d in flight per client, %d runs",
				su.label, tc.Pairs, fmtNum(float64(tc.Messages), 0), tc.Window, c.runs),
			Params: map[string]any{"setup": su.label, "nodes": su.nodes, "postgres": su.postgres, "nats": su.nats,
				"pairs": tc.Pairs, "messages": tc.Messages, "window": tc.Window, "runs": c.runs},
			Notes: []string{
				"Closed loop, as the throughput scenario: acknowledged = committed to the store; every message is also delivered to the partner's client and counted there.",
				"Clients are spread round-robin over the relays, so the two clients of a pair sit on different relays: with several relays, every delivery crosses NATS.",
				"Every relay is pinned to CPU 0 and the generator to CPU 1, so several relays share one core: on this 2-core machine the comparison shows what the cluster costs, not what more machines would add. PostgreSQL and NATS are not pinned; their CPU shows as other CPU use. Commit batch sizes and relay-side ack latency are those of the first relay.",
			},
		}
		bn.repeat(ctx, s, c.runs, []string{"acked_per_s", "ack_p99_ms", "deliver_p99_ms", "lost", "duplicates", "relay_cpu_util", "other_cpu_util"},
			func(r *runResult) error { return runThroughput(ctx, rc, tc, r) })
		out = append(out, s)
	}
	return out
}

// scaleChartFile is the scale scenario's chart, in the output directory.
const scaleChartFile = "scale-out.svg"

// scaleChart draws messages persisted and delivered per second for each
// deployment of the scale scenario.
func (res *results) scaleChart() (*chart.Chart, bool) {
	type pt struct {
		label string
		rate  float64
		p99   float64
	}
	var pts []pt
	for _, s := range res.Scenarios {
		if !strings.HasPrefix(s.Name, "scale-") {
			continue
		}
		m := medians(s)
		if v, ok := m["acked_per_s"]; ok {
			label, _ := s.Params["setup"].(string)
			pts = append(pts, pt{label, v, m["deliver_p99_ms"]})
		}
	}
	if len(pts) < 2 {
		return nil, false
	}
	var x, y, p99 []float64
	var notes []string
	for i, p := range pts {
		x, y, p99 = append(x, float64(i+1)), append(y, p.rate), append(p99, p.p99)
		notes = append(notes, fmt.Sprintf("%d: %s — %s msg/s, delivered p99 %s ms", i+1, p.label, fmtNum(p.rate, 0), fmtNum(p.p99, 1)))
	}
	return &chart.Chart{
		Title: "Messages persisted and delivered per second, by deployment (relays share one core)",
		X:     chart.Axis{Label: "deployment (see below)", Min: 0.5, Max: float64(len(pts)) + 0.5},
		Y:     chart.Axis{Label: "acknowledged and delivered (msg/s)"},
		Y2:    &chart.Axis{Label: "send → delivered p99 under saturation (ms)"},
		Series: []chart.Series{
			{Name: "msg/s (median)", X: x, Y: y, Color: "#1f77b4", Points: true},
			{Name: "p99 (right axis)", X: x, Y: p99, Color: "#d62728", Right: true, Points: true},
		},
		Notes: notes,
	}, true
}
