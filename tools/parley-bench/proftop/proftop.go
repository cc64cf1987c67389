// Package proftop ranks the functions of a pprof profile by flat and
// cumulative value, as `go tool pprof -top` does, so a benchmark report can
// say where the time went without the pprof tool. Reading the profile is
// github.com/google/pprof/profile's; this package only ranks.
//
// Flat is the value of samples whose innermost frame is the function; cum
// is the value of samples with the function anywhere on the stack, counted
// once per sample. Functions are told apart by name.
package proftop

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// ValueType names one value of every sample, such as cpu/nanoseconds.
type ValueType struct {
	Type, Unit string
}

// Profile is a parsed profile.
type Profile struct {
	SampleTypes   []ValueType
	DurationNanos int64
	p             *profile.Profile
}

// Row is one function's share of a value.
type Row struct {
	Func            string
	Flat, Cum       int64
	FlatPct, CumPct float64 // of the total
}

// Parse decodes a profile, gzipped or not.
func Parse(b []byte) (*Profile, error) {
	p, err := profile.ParseData(b)
	if err != nil {
		return nil, fmt.Errorf("proftop: %w", err)
	}
	out := &Profile{DurationNanos: p.DurationNanos, p: p}
	for _, t := range p.SampleType {
		out.SampleTypes = append(out.SampleTypes, ValueType{t.Type, t.Unit})
	}
	return out, nil
}

// Index returns the index of the sample type named typ, or -1.
func (p *Profile) Index(typ string) int {
	return slices.IndexFunc(p.SampleTypes, func(v ValueType) bool { return v.Type == typ })
}

// Total is the sum of value vi over all samples.
func (p *Profile) Total(vi int) int64 {
	var t int64
	for _, s := range p.p.Sample {
		if vi < len(s.Value) {
			t += s.Value[vi]
		}
	}
	return t
}

// Top returns the n functions with the largest flat value vi, or the
// largest cumulative one when byCum; ties go by name.
func (p *Profile) Top(vi, n int, byCum bool) []Row {
	rows := make(map[string]*Row)
	row := func(name string) *Row {
		r := rows[name]
		if r == nil {
			r = &Row{Func: name}
			rows[name] = r
		}
		return r
	}
	var onStack []string
	for _, s := range p.p.Sample {
		if vi >= len(s.Value) || s.Value[vi] == 0 {
			continue
		}
		v := s.Value[vi]
		onStack = onStack[:0]
		first := true
		for _, loc := range s.Location {
			for _, line := range loc.Line { // innermost (inlined) first
				name := "?"
				if line.Function != nil && line.Function.Name != "" {
					name = line.Function.Name
				}
				if first {
					row(name).Flat += v
					first = false
				}
				if !slices.Contains(onStack, name) {
					onStack = append(onStack, name)
					row(name).Cum += v
				}
			}
		}
	}
	total := p.Total(vi)
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if total != 0 {
			r.FlatPct = float64(r.Flat) / float64(total) * 100
			r.CumPct = float64(r.Cum) / float64(total) * 100
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		ka, kb := a.Flat, b.Flat
		if byCum {
			ka, kb = a.Cum, b.Cum
		}
		if ka != kb {
			if ka > kb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Func, b.Func)
	})
	return out[:min(n, len(out))]
}
