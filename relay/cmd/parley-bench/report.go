package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
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

// budgetCheck compares a median with a SPEC §5 budget.
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
	for _, d := range s.defs {
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
	Seconds       float64           `json:"seconds"`
	Scenarios     []*scenarioResult `json:"scenarios"`
	Problems      []string          `json:"problems,omitempty"`
}

// write saves results.json and results.md in dir.
func (res *results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
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
	fmt.Fprintf(w, "| wall time | %.0f s |\n\n", res.Seconds)
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
			fmt.Fprintf(w, "\n%s — %s: median %s %s against the SPEC §5 budget of ≤ %s %s%s; worst run %s %s.\n",
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
		var notes []string
		notes = append(notes, s.Notes...)
		for _, r := range s.Runs {
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
	s := strconv.FormatFloat(v, 'f', prec, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
