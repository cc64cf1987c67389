package main

import (
	"encoding/json"
	"fmt"
	"github.com/parley-im/parley/tools/parley-bench/chart"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// metricDef describes one number a scenario measures per run.
type metricDef struct {
	Key   string
	Label string
	Unit  string
	Prec  int // decimals shown in the table
}

// runResult is what one run of a scenario measured. A metric the run could
// not measure is absent (JSON has no NaN).
type runResult struct {
	Run     int                `json:"run"`
	Seconds float64            `json:"seconds"` // wall time of the run, setup included
	Metrics map[string]float64 `json:"metrics"`
	Batch   []bucket           `json:"commit_batch_size,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
	Err     string             `json:"error,omitempty"`
}

func newRun(i int) *runResult { return &runResult{Run: i, Metrics: make(map[string]float64)} }

// set records a metric; NaN and ±Inf mean "not measured".
func (r *runResult) set(key string, v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		r.Metrics[key] = v
	}
}

func (r *runResult) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// summaryRow is one metric over all runs.
type summaryRow struct {
	Key    string   `json:"key"`
	Label  string   `json:"label"`
	Unit   string   `json:"unit,omitempty"`
	Median *float64 `json:"median"`
	Min    *float64 `json:"min"`
	Max    *float64 `json:"max"`
	Runs   int      `json:"runs"` // runs that measured it
	prec   int
}

// budgetCheck compares a median with a performance budget.
type budgetCheck struct {
	What     string  `json:"what"`
	Metric   string  `json:"metric"`
	Limit    float64 `json:"limit"`
	Moonshot float64 `json:"moonshot,omitempty"`
	Unit     string  `json:"unit"`
	Median   float64 `json:"median"`
	Worst    float64 `json:"worst"`
	Pass     bool    `json:"pass"`
}

// scenarioResult is one scenario over all its runs.
type scenarioResult struct {
	Name    string         `json:"name"`
	Title   string         `json:"title"`
	Params  map[string]any `json:"params"`
	Runs    []*runResult   `json:"runs"`
	Summary []summaryRow   `json:"summary"`
	Batch   []bucket       `json:"commit_batch_size_all_runs,omitempty"`
	Budgets []budgetCheck  `json:"budgets,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	defs    []metricDef
}

// summarize fills Summary (and Batch) from the runs.
func (s *scenarioResult) summarize() {
	s.Summary = s.Summary[:0]
	for _, d := range append(slices.Clone(s.defs), cpuCheckDef, netCheckDef) {
		var xs []float64
		for _, r := range s.Runs {
			if v, ok := r.Metrics[d.Key]; ok {
				xs = append(xs, v)
			}
		}
		row := summaryRow{Key: d.Key, Label: d.Label, Unit: d.Unit, prec: d.Prec}
		if sm := summarize(xs); sm.N > 0 {
			row.Median, row.Min, row.Max, row.Runs = &sm.Median, &sm.Min, &sm.Max, sm.N
		}
		s.Summary = append(s.Summary, row)
	}
	s.Batch = nil
	for _, r := range s.Runs {
		if len(r.Batch) == 0 {
			continue
		}
		if s.Batch == nil {
			s.Batch = make([]bucket, len(r.Batch))
			copy(s.Batch, r.Batch)
			continue
		}
		for i := range s.Batch {
			if i < len(r.Batch) && r.Batch[i].Label == s.Batch[i].Label {
				s.Batch[i].Count += r.Batch[i].Count
			}
		}
	}
}

// budget compares the median of metric with a performance budget (lower is
// better) and records the check.
func (s *scenarioResult) budget(what, metric string, limit, moonshot float64, unit string) {
	row, ok := s.row(metric)
	if !ok {
		return
	}
	s.Budgets = append(s.Budgets, budgetCheck{What: what, Metric: metric, Limit: limit, Moonshot: moonshot, Unit: unit,
		Median: *row.Median, Worst: *row.Max, Pass: *row.Median <= limit})
}

// row returns the summary of key.
func (s *scenarioResult) row(key string) (summaryRow, bool) {
	for _, r := range s.Summary {
		if r.Key == key {
			return r, r.Runs > 0
		}
	}
	return summaryRow{}, false
}

// results is everything one invocation measured: results.json.
type results struct {
	Date          string            `json:"date"`
	Command       string            `json:"command"`
	GoVersion     string            `json:"go_version"`
	RelayBinary   string            `json:"relay_binary"`
	RelayVersion  string            `json:"relay_version"`
	CPUModel      string            `json:"cpu_model"`
	Cores         int               `json:"cores"`
	Pinning       pinning           `json:"pinning"`
	GenGOMAXPROCS int               `json:"generator_gomaxprocs"`
	NofileLimit   uint64            `json:"generator_nofile_limit"`
	CPUCheckMs    [2]float64        `json:"cpu_check_ms"` // at the start and at the end; see cpuCheck
	NetCheckUs    [2]float64        `json:"net_check_us"` // at the start and at the end; see netCheck
	Seconds       float64           `json:"seconds"`
	Scenarios     []*scenarioResult `json:"scenarios"`
	IdleSweep     []*scenarioResult `json:"idle_sweep,omitempty"` // every --conns point, the headline included
	Sweeps        []*sweepResult    `json:"sweeps,omitempty"`
	Profiles      []*profileResult  `json:"profiles,omitempty"`
	Charts        []string          `json:"charts,omitempty"`
	Problems      []string          `json:"problems,omitempty"`
}

// write saves results.json and results.md in dir.
func (res *results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	charts, err := res.writeCharts(dir)
	if err != nil {
		return err
	}
	res.Charts = charts
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	res.markdown(&md)
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644)
}

// notesMarkdown writes a scenario's notes and its runs' notes and errors.
func notesMarkdown(w io.Writer, notes []string, runs []*runResult) {
	notes = slices.Clone(notes)
	for _, r := range runs {
		if r.Err != "" {
			notes = append(notes, fmt.Sprintf("run %d failed: %s", r.Run, r.Err))
		}
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("run %d: %s", r.Run, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// idleSweepMarkdown writes the memory-against-connections table.
func (res *results) idleSweepMarkdown(w io.Writer) {
	if len(res.IdleSweep) < 2 {
		return
	}
	fmt.Fprintf(w, "\n## Idle connections: memory against connections\n\n")
	fmt.Fprintf(w, "| connections asked | welcomed | connect rate (conn/s) | relay RSS after (MiB) | RSS per conn (KiB) | Go heap per conn (KiB) | goroutines per conn | relay descriptors (limit) | runs |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var notes []string
	for _, s := range res.IdleSweep {
		m := medians(s)
		asked := fmt.Sprint(s.Params["conns"])
		if n, ok := s.Params["conns"].(int); ok {
			asked = fmtNum(float64(n), 0)
		}
		get := func(k string, prec int) string {
			if v, ok := m[k]; ok {
				return fmtNum(v, prec)
			}
			return "n/a"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s (%s) | %d |\n", asked, get("connected", 0), get("connect_per_s", 0),
			get("rss_after_mib", 1), get("rss_per_conn_kib", 2), get("heap_per_conn_kib", 2), get("goroutines_per_conn", 2),
			get("relay_fds", 0), get("relay_fd_limit", 0), len(s.Runs))
		for _, r := range s.Runs {
			if r.Err != "" {
				notes = append(notes, fmt.Sprintf("%s: run %d failed: %s", asked, r.Run, r.Err))
			}
			for _, n := range r.Notes {
				if !strings.HasPrefix(n, "relay log") {
					notes = append(notes, fmt.Sprintf("%s, run %d: %s", asked, r.Run, n))
				}
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "\n- %s", n)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	if slices.Contains(res.Charts, memoryChartFile) {
		fmt.Fprintf(w, "\n![Relay memory against idle connections](%s)\n", memoryChartFile)
	}
}

// markdown writes one knee sweep.
func (sw *sweepResult) markdown(w io.Writer) {
	fmt.Fprintf(w, "\n## %s\n\n", sw.Title)
	fmt.Fprintf(w, "| offered (msg/s) | sent (msg/s) | delivered (/s) | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | lost | dup | relay CPU (%%) | relay CPU s per 1k | generator CPU (%%) | other CPU (%%) | verdict |\n")
	fmt.Fprintf(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, p := range byRate(sw.Points) {
		m := p.Metrics
		get := func(k string, prec int) string {
			if v, ok := m[k]; ok {
				return fmtNum(v, prec)
			}
			return "n/a"
		}
		verdict := p.Verdict
		if p.Why != "" {
			verdict += ": " + p.Why
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", fmtNum(p.Offered, 0),
			get("sent_per_s", 0), get("delivered_per_s", 0), get("deliver_p50_ms", 2), get("deliver_p95_ms", 2), get("deliver_p99_ms", 2),
			get("deliver_max_ms", 1), get("lost", 0), get("duplicates", 0), get("relay_cpu_util", 0), get("relay_cpu_s_per_1k", 4),
			get("gen_cpu_util", 0), get("other_cpu_util", 0), verdict)
	}
	fmt.Fprintf(w, "\n**Knee: %s** — %s.\n", kneeText(sw), sw.Stop)
	notesMarkdown(w, sw.Notes, nil)
}

// markdown writes one profiled run and its top functions.
func (p *profileResult) markdown(w io.Writer) {
	fmt.Fprintf(w, "\n## %s\n\n", p.Title)
	if r := p.Run; r != nil {
		m := r.Metrics
		fmt.Fprintf(w, "The profiled run: %s deliveries/s, send → delivered p50 %s ms, p99 %s ms; relay CPU %s %% of its core, %s CPU s per 1,000 deliveries; generator CPU %s %%, other CPU %s %%.\n",
			fmtNum(m["delivered_per_s"], 0), fmtNum(m["deliver_p50_ms"], 2), fmtNum(m["deliver_p99_ms"], 2), fmtNum(m["relay_cpu_util"], 0),
			fmtNum(m["relay_cpu_s_per_1k"], 4), fmtNum(m["gen_cpu_util"], 0), fmtNum(m["other_cpu_util"], 0))
	}
	if len(p.Files) > 0 {
		var links []string
		for _, f := range p.Files {
			links = append(links, fmt.Sprintf("[`%s`](%s)", f, f))
		}
		fmt.Fprintf(w, "\nProfiles: %s (read them with `go tool pprof -top bin/parley-relay FILE`).\n", strings.Join(links, ", "))
	}
	for _, t := range p.Tops {
		for _, by := range []struct {
			name string
			rows []topRow
		}{{"flat", t.Flat}, {"cum", t.Cum}} {
			fmt.Fprintf(w, "\n%s, top %d by %s (total %s %s):\n\n", t.What, len(by.rows), by.name, fmtNum(t.Total, 2), t.Unit)
			fmt.Fprintf(w, "| flat (%s) | flat %% | cum (%s) | cum %% | function |\n|--:|--:|--:|--:|---|\n", t.Unit, t.Unit)
			for _, r := range by.rows {
				fmt.Fprintf(w, "| %s | %s | %s | %s | `%s` |\n", fmtNum(r.Flat, 2), fmtNum(r.FlatPct, 1), fmtNum(r.Cum, 2), fmtNum(r.CumPct, 1), r.Func)
			}
		}
	}
	var runs []*runResult
	if p.Run != nil {
		runs = []*runResult{p.Run}
	}
	notesMarkdown(w, p.Notes, runs)
}

// markdown renders the human-readable report.
func (res *results) markdown(w io.Writer) {
	fmt.Fprintf(w, "# Parley relay benchmark\n\n")
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| date | %s |\n", res.Date)
	fmt.Fprintf(w, "| command | `%s` |\n", res.Command)
	fmt.Fprintf(w, "| relay | %s |\n", orDash(res.RelayVersion))
	fmt.Fprintf(w, "| Go (generator) | %s, GOMAXPROCS %d |\n", res.GoVersion, res.GenGOMAXPROCS)
	fmt.Fprintf(w, "| CPU | %s, %d logical CPUs |\n", res.CPUModel, res.Cores)
	fmt.Fprintf(w, "| pinning | %s |\n", res.Pinning)
	fmt.Fprintf(w, "| wall time | %.0f s |\n", res.Seconds)
	fmt.Fprintf(w, "| host checks | 8 MiB SHA-256 on the generator's core: %s ms at the start, %s ms at the end; 64-byte loopback TCP round trip: %s µs at the start, %s µs at the end (higher: a slower, busier host) |\n\n",
		fmtNum(res.CPUCheckMs[0], 1), fmtNum(res.CPUCheckMs[1], 1), fmtNum(res.NetCheckUs[0], 1), fmtNum(res.NetCheckUs[1], 1))
	fmt.Fprintf(w, "Each number is the median of the runs, with the range (min – max) beside it. "+
		"Everything runs on 127.0.0.1 on a shared machine: read differences under ~10 %% as noise.\n")
	for _, s := range res.Scenarios {
		fmt.Fprintf(w, "\n## %s\n\n", s.Title)
		fmt.Fprintf(w, "| metric | median | min – max | unit |\n|---|--:|--:|---|\n")
		for _, r := range s.Summary {
			if r.Runs == 0 {
				fmt.Fprintf(w, "| %s | n/a | | %s |\n", r.Label, r.Unit)
				continue
			}
			rng := fmtNum(*r.Min, r.prec) + " – " + fmtNum(*r.Max, r.prec)
			if *r.Min == *r.Max {
				rng = "(all equal)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.Label, fmtNum(*r.Median, r.prec), rng, r.Unit)
		}
		for _, b := range s.Budgets {
			verdict := "**FAIL**"
			if b.Pass {
				verdict = "**PASS**"
			}
			moonshot := ""
			if b.Moonshot > 0 {
				moonshot = " (moonshot ≤ " + fmtNum(b.Moonshot, 0) + ")"
			}
			fmt.Fprintf(w, "\n%s — %s: median %s %s against the budget of ≤ %s %s%s; worst run %s %s.\n",
				verdict, b.What, fmtNum(b.Median, 2), b.Unit, fmtNum(b.Limit, 0), b.Unit, moonshot, fmtNum(b.Worst, 2), b.Unit)
		}
		if len(s.Batch) > 0 {
			fmt.Fprintf(w, "\nCommit batch size (`parley_commit_batch_size`, sends per store transaction, all runs together):\n\n")
			fmt.Fprintf(w, "| sends per commit |")
			for _, b := range s.Batch {
				fmt.Fprintf(w, " %s |", b.Label)
			}
			fmt.Fprintf(w, "\n|---|%s\n| commits |", strings.Repeat("--:|", len(s.Batch)))
			for _, b := range s.Batch {
				fmt.Fprintf(w, " %s |", fmtNum(b.Count, 0))
			}
			fmt.Fprintln(w)
		}
		notesMarkdown(w, s.Notes, s.Runs)
	}
	res.idleSweepMarkdown(w)
	for _, sw := range res.Sweeps {
		sw.markdown(w)
	}
	if len(res.Sweeps) > 0 && slices.Contains(res.Charts, latencyChartFile) {
		fmt.Fprintf(w, "\n![Send → delivered p50 and p99 against offered rate](%s)\n", latencyChartFile)
	}
	for _, p := range res.Profiles {
		p.markdown(w)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "\n## Problems\n\n")
		for _, p := range res.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// fmtNum formats v with prec decimals and thin thousands separators.
func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return chart.Grouped(strconv.FormatFloat(v, 'f', prec, 64))
}
