package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/tools/parley-bench/proftop"
)

// profileResult is one profiled run: where the relay spent its CPU and
// what it allocated, read from its /debug/pprof while the load ran.
type profileResult struct {
	Scenario string       `json:"scenario"`
	Title    string       `json:"title"`
	Run      *runResult   `json:"run"`
	Files    []string     `json:"files"` // under the output directory
	Tops     []profileTop `json:"tops"`
	Notes    []string     `json:"notes,omitempty"`
}

// profileTop is the top functions of one profile value.
type profileTop struct {
	What  string   `json:"what"` // "CPU", "allocated bytes"
	Unit  string   `json:"unit"`
	Total float64  `json:"total"`
	Flat  []topRow `json:"by_flat"`
	Cum   []topRow `json:"by_cum"`
}

type topRow struct {
	Func    string  `json:"func"`
	Flat    float64 `json:"flat"`
	FlatPct float64 `json:"flat_pct"`
	Cum     float64 `json:"cum"`
	CumPct  float64 `json:"cum_pct"`
}

// profileRows is how many functions each top table lists.
const profileRows = 15

// groupProfile runs the group scenario once more at its rate, for the
// profile's duration plus a little, capturing the relay's CPU and
// allocation profiles over the measured window.
func (bn *bench) groupProfile(ctx context.Context) *profileResult {
	c := bn.cfg
	spec := bn.groupSpec(bn.rateFor(groupDefaultRate))
	dir := filepath.Join(c.out, "profiles")
	files := map[string]string{"cpu": "group-cpu.pb.gz", "allocs": "group-allocs.pb.gz"}
	var mu sync.Mutex
	got := make(map[string][]byte)
	spec.probe = func(ctx context.Context, rp *relayProc) error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, kind := range []string{"cpu", "allocs"} {
			wg.Go(func() {
				path := "/debug/pprof/allocs"
				if kind == "cpu" {
					path = "/debug/pprof/profile"
				}
				b, err := rp.fetch(ctx, path+"?seconds="+strconv.Itoa(int(c.profileDur.Seconds())), c.profileDur+30*time.Second)
				mu.Lock()
				got[kind] = b
				mu.Unlock()
				errs[i] = err
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	window := c.profileDur + 2*time.Second
	pr := &profileResult{
		Scenario: "group",
		Title: fmt.Sprintf("profile: %s at %s msg/s (%s deliveries/s), %s of CPU and allocations", spec.what,
			fmtNum(spec.rate, 0), fmtNum(spec.rate*spec.cast.fan(), 0), c.profileDur),
		Notes: []string{"One more run of the scenario, with the relay's --pprof on; the profiles start with the measured window. Its numbers are not part of the scenario's medians: profiling costs the relay a little CPU."},
	}
	s := &scenarioResult{Name: "group profile", defs: pacedDefs}
	bn.repeat(ctx, s, 1, pacedKeys, func(r *runResult) error { return runPaced(ctx, bn.rc, spec, window, c.window, r) })
	if len(s.Runs) > 0 {
		pr.Run = s.Runs[0]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pr.Notes = append(pr.Notes, "profiles not written: "+err.Error())
		return pr
	}
	for _, kind := range []string{"cpu", "allocs"} {
		b := got[kind]
		if len(b) == 0 {
			pr.Notes = append(pr.Notes, kind+" profile not captured")
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, files[kind]), b, 0o644); err != nil {
			pr.Notes = append(pr.Notes, fmt.Sprintf("%s profile not written: %v", kind, err))
			continue
		}
		pr.Files = append(pr.Files, filepath.ToSlash(filepath.Join("profiles", files[kind])))
		p, err := proftop.Parse(b)
		if err != nil {
			pr.Notes = append(pr.Notes, fmt.Sprintf("%s profile: %v", kind, err))
			continue
		}
		if kind == "cpu" {
			pr.Tops = append(pr.Tops, top(p, "cpu", "CPU", "s", 1e-9))
		} else {
			pr.Tops = append(pr.Tops, top(p, "alloc_space", "allocated bytes", "MiB", 1.0/(1<<20)))
		}
	}
	return pr
}

// fanoutProfile runs the wire fan-out once more at rate with the relay's
// --pprof on, capturing its CPU and allocation profiles over the window into
// <out>/profiles/<name>-{cpu,allocs}.pb.gz.
func (bn *bench) fanoutProfile(ctx context.Context, rate float64, name string) *profileResult {
	return bn.wireProfile(ctx, bn.fanoutSpec(rate), rate, name)
}

// wireProfile runs one more run of a wire scenario at rate with the relay's
// --pprof on, capturing its CPU and allocation profiles over the window into
// <out>/profiles/<name>-{cpu,allocs}.pb.gz.
func (bn *bench) wireProfile(ctx context.Context, spec wireSpec, rate float64, name string) *profileResult {
	c := bn.cfg
	spec.dur = c.profileDur + 2*time.Second
	got := make(map[string][]byte)
	var mu sync.Mutex
	spec.probe = func(ctx context.Context, rp *relayProc) error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, kind := range []string{"cpu", "allocs"} {
			wg.Go(func() {
				path := "/debug/pprof/allocs"
				if kind == "cpu" {
					path = "/debug/pprof/profile"
				}
				b, err := rp.fetch(ctx, path+"?seconds="+strconv.Itoa(int(c.profileDur.Seconds())), c.profileDur+30*time.Second)
				mu.Lock()
				got[kind] = b
				mu.Unlock()
				errs[i] = err
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	pr := &profileResult{
		Scenario: name,
		Title: fmt.Sprintf("profile: %s at %s msg/s (%s deliveries/s), %s of CPU and allocations", spec.what,
			fmtNum(rate, 0), fmtNum(rate*spec.cast.fan(), 0), c.profileDur),
		Notes: []string{"One more run of the scenario with the relay's --pprof on; the profiles start with the measured window. Its numbers are not part of the scenario's medians."},
	}
	rc := bn.rc
	if !slices.Contains(rc.extra, "--pprof") {
		rc.extra = append(slices.Clone(rc.extra), "--pprof")
	}
	s := &scenarioResult{Name: name + " profile", defs: wireDefs}
	bn.repeat(ctx, s, 1, wireKeys, func(r *runResult) error { return runWire(ctx, rc, spec, c.genProcs, r) })
	if len(s.Runs) > 0 {
		pr.Run = s.Runs[0]
	}
	pr.save(filepath.Join(c.out, "profiles"), map[string]string{"cpu": name + "-cpu.pb.gz", "allocs": name + "-allocs.pb.gz"}, got)
	return pr
}

// save writes the captured profiles into dir and ranks their functions.
func (pr *profileResult) save(dir string, files map[string]string, got map[string][]byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pr.Notes = append(pr.Notes, "profiles not written: "+err.Error())
		return
	}
	for _, kind := range []string{"cpu", "allocs"} {
		b := got[kind]
		if len(b) == 0 {
			pr.Notes = append(pr.Notes, kind+" profile not captured")
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, files[kind]), b, 0o644); err != nil {
			pr.Notes = append(pr.Notes, fmt.Sprintf("%s profile not written: %v", kind, err))
			continue
		}
		pr.Files = append(pr.Files, filepath.ToSlash(filepath.Join("profiles", files[kind])))
		p, err := proftop.Parse(b)
		if err != nil {
			pr.Notes = append(pr.Notes, fmt.Sprintf("%s profile: %v", kind, err))
			continue
		}
		if kind == "cpu" {
			pr.Tops = append(pr.Tops, top(p, "cpu", "CPU", "s", 1e-9))
		} else {
			pr.Tops = append(pr.Tops, top(p, "alloc_space", "allocated bytes", "MiB", 1.0/(1<<20)))
		}
	}
}

// top ranks the functions of profile value typ, scaled to unit.
func top(p *proftop.Profile, typ, what, unit string, scale float64) profileTop {
	vi := p.Index(typ)
	t := profileTop{What: what, Unit: unit}
	if vi < 0 {
		return t
	}
	t.Total = float64(p.Total(vi)) * scale
	conv := func(rs []proftop.Row) []topRow {
		out := make([]topRow, len(rs))
		for i, r := range rs {
			out[i] = topRow{Func: r.Func, Flat: float64(r.Flat) * scale, FlatPct: r.FlatPct, Cum: float64(r.Cum) * scale, CumPct: r.CumPct}
		}
		return out
	}
	t.Flat = conv(p.Top(vi, profileRows, false))
	t.Cum = conv(p.Top(vi, profileRows, true))
	return t
}

// fetch GETs path from the relay's admin listener (or its only one).
func (p *relayProc) fetch(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base := p.httpURL()
	if p.admin != "" {
		base = "http://" + p.admin
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", path, resp.Status, firstLine(b))
	}
	return b, err
}
