package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parley-im/parley/tools/parley-bench/chart"
)

// Chart files, in the output directory.
const (
	latencyChartFile = "latency-vs-rate.svg"
	memoryChartFile  = "memory-vs-connections.svg"
)

// writeCharts draws the charts the results have data for into dir and
// returns their file names. A chart without data is left as it was.
func (res *results) writeCharts(dir string) ([]string, error) {
	var out []string
	for name, draw := range map[string]func() (*chart.Chart, bool){
		latencyChartFile: res.latencyChart,
		memoryChartFile:  res.memoryChart,
		scaleChartFile:   res.scaleChart,
		wireChartFile:    res.wireChart,
	} {
		c, ok := draw()
		if !ok {
			continue
		}
		b, err := c.SVG()
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return out, err
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

// redrawCharts draws the charts of dir/results.json again into dir.
func redrawCharts(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err == nil {
		var res results
		if err = json.Unmarshal(b, &res); err == nil {
			var names []string
			if names, err = res.writeCharts(dir); err == nil {
				fmt.Fprintf(os.Stderr, "parley-bench: drew %s in %s\n", strings.Join(names, ", "), dir)
				return 0
			}
		}
	}
	fmt.Fprintln(os.Stderr, "parley-bench charts:", err)
	return 1
}

// latencyChart is p50 and p99 against the offered rate, one colour per
// swept scenario, with the p99 budget.
func (res *results) latencyChart() (*chart.Chart, bool) {
	if len(res.Sweeps) == 0 {
		return nil, false
	}
	colors := map[string]string{"latency": "#1f77b4", "group": "#d62728", "p2p": "#2ca02c"}
	c := &chart.Chart{
		Title:  "Send → delivered latency against offered load (relay on one core, loopback)",
		Height: 460,
		X:      chart.Axis{Label: "offered rate (messages/s)"},
		Y:      chart.Axis{Label: "send → delivered (ms, log scale)", Log: true},
	}
	var knees []string
	p99Max := 0.0
	for _, sw := range res.Sweeps {
		pts := byRate(sw.Points)
		var x, p50, p99 []float64
		var open []bool
		for _, p := range pts {
			a, ok1 := p.Metrics["deliver_p50_ms"]
			b, ok2 := p.Metrics["deliver_p99_ms"]
			if !ok1 || !ok2 {
				continue
			}
			x, p50, p99 = append(x, p.Offered), append(p50, a), append(p99, b)
			open = append(open, p.Verdict == verdictGen)
		}
		if len(x) == 0 {
			continue
		}
		if !slices.Contains(open, true) {
			open = nil
		}
		col := colors[sw.Scenario]
		c.Series = append(c.Series,
			chart.Series{Name: sw.Scenario + " p99", X: x, Y: p99, Color: col, Open: open},
			chart.Series{Name: sw.Scenario + " p50", X: x, Y: p50, Color: col, Dash: true, Open: open})
		knees = append(knees, fmt.Sprintf("%s %s", sw.Scenario, kneeText(sw)))
		p99Max = max(p99Max, sw.P99MaxMs)
	}
	if len(c.Series) == 0 {
		return nil, false
	}
	c.Lines = []chart.Line{{Y: p99Max, Label: fmt.Sprintf("p99 budget %s ms", fmtNum(p99Max, 0))}}
	c.Notes = []string{
		"Solid: p99, dashed: p50. Hollow points: generator-bound (the one-core load generator, not the relay, was saturated).",
		"Knee (highest rate with p99 under budget, no loss): " + strings.Join(knees, "; ") + ".",
	}
	return c, true
}

// kneeText is a sweep's knee for charts and tables.
func kneeText(sw *sweepResult) string {
	switch {
	case sw.Knee == 0:
		return "none"
	case sw.Bound == "generator" || sw.Bound == "ladder":
		return "≥ " + fmtNum(sw.Knee, 0) + " msg/s (" + map[string]string{"generator": "generator-bound", "ladder": "all passed"}[sw.Bound] + ")"
	}
	return fmtNum(sw.Knee, 0) + " msg/s"
}

// memoryChart is relay memory per idle connection and in all against the
// number of connections, with the per-connection budget.
func (res *results) memoryChart() (*chart.Chart, bool) {
	type pt struct{ n, per, heap, total float64 }
	var pts []pt
	limit := ""
	for _, s := range res.IdleSweep {
		m := medians(s)
		if s.Params["conns"] == "max" {
			if l, ok := m["relay_fd_limit"]; ok {
				limit = fmt.Sprintf(" The largest point is as many as the relay can hold: its descriptor limit (RLIMIT_NOFILE %s) stops it, not memory.", fmtNum(l, 0))
			}
		}
		n, ok1 := m["connected"]
		per, ok2 := m["rss_per_conn_kib"]
		total, ok3 := m["rss_after_mib"]
		if ok1 && ok2 && ok3 {
			pts = append(pts, pt{n, per, m["heap_per_conn_kib"], total})
		}
	}
	if len(pts) < 2 {
		return nil, false
	}
	slices.SortFunc(pts, func(a, b pt) int { return cmp.Compare(a.n, b.n) })
	var x, per, heap, total []float64
	for _, p := range pts {
		x, per, heap, total = append(x, p.n), append(per, p.per), append(heap, p.heap), append(total, p.total)
	}
	last := pts[len(pts)-1]
	return &chart.Chart{
		Title: "Relay memory against idle connections",
		X:     chart.Axis{Label: "idle connections"},
		Y:     chart.Axis{Label: "per connection (KiB)"},
		Y2:    &chart.Axis{Label: "relay RSS in all (MiB)"},
		Series: []chart.Series{
			{Name: "RSS per connection", X: x, Y: per, Color: "#1f77b4"},
			{Name: "Go heap per connection", X: x, Y: heap, Color: "#1f77b4", Dash: true},
			{Name: "RSS in all (right axis)", X: x, Y: total, Color: "#2ca02c", Right: true},
		},
		Lines: []chart.Line{{Y: idleBudgetKiB, Label: fmt.Sprintf("budget %d KiB per connection", idleBudgetKiB)}},
		Notes: []string{fmt.Sprintf("Each connection: a WebSocket that said Hello and stays silent. Per connection = (RSS after − RSS before) ÷ connections; %s connections take %s MiB.%s",
			fmtNum(last.n, 0), fmtNum(last.total, 0), limit)},
	}, true
}

// wireChartFile is the throughput chart of the wire scenarios.
const wireChartFile = "throughput-vs-rate.svg"

// wireChart is, for the fan-out and p2p2k rates of this report, the p99
// send → delivered (left, log) and the relay's CPU per delivery (right)
// against the offered rate, with the budgets.
func (res *results) wireChart() (*chart.Chart, bool) {
	type pts struct{ x, p99, cpu []float64 }
	by := map[string]*pts{}
	for _, s := range res.Scenarios {
		kind, _, ok := strings.Cut(s.Name, " ")
		if !ok || (kind != "fanout" && kind != "p2p2k") {
			continue
		}
		m := medians(s)
		x, ok1 := m["offered_per_s"]
		p, ok2 := m["deliver_p99_ms"]
		if !ok1 || !ok2 {
			continue
		}
		if by[kind] == nil {
			by[kind] = &pts{}
		}
		by[kind].x = append(by[kind].x, x)
		by[kind].p99 = append(by[kind].p99, p)
		by[kind].cpu = append(by[kind].cpu, m["relay_cpu_us_per_delivery"])
	}
	if len(by) == 0 {
		return nil, false
	}
	c := &chart.Chart{
		Title:  "Fan-out and p2p on one relay core: p99 and relay CPU per delivery against offered rate",
		Height: 460,
		X:      chart.Axis{Label: "offered rate (messages/s)"},
		Y:      chart.Axis{Label: "send → delivered p99 (ms, log scale)", Log: true},
		Y2:     &chart.Axis{Label: "relay CPU per delivery (µs)"},
		Lines: []chart.Line{{Y: fanTargetP99ms, Label: "fan-out p99 target 25 ms"}, {Y: p2pTargetP99ms, Label: "p2p p99 target 50 ms", Color: "#2ca02c"},
			{Y: fanTargetCPUus, Label: "20 µs per delivery", Color: "#9467bd", Right: true}},
		Notes: []string{"Solid: p99 (left axis); dashed: relay CPU µs per delivery (right axis). Medians of the runs; the host was shared, see the report's other-CPU and run-queue rows."},
	}
	colors := map[string]string{"fanout": "#d62728", "p2p2k": "#2ca02c"}
	for _, kind := range []string{"fanout", "p2p2k"} {
		p := by[kind]
		if p == nil {
			continue
		}
		c.Series = append(c.Series,
			chart.Series{Name: kind + " p99", X: p.x, Y: p.p99, Color: colors[kind]},
			chart.Series{Name: kind + " CPU/delivery", X: p.x, Y: p.cpu, Color: colors[kind], Dash: true, Right: true})
	}
	return c, true
}
