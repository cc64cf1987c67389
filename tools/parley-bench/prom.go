package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text exposition format (version
// 0.0.4): a metric name, its labels and a value.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// metricSet is a parsed /metrics page.
type metricSet []sample

// parseProm parses the Prometheus text format. Comments and blank lines are
// skipped; a timestamp after the value is ignored. It is strict about
// everything else, so a relay that changes its output is noticed.
func parseProm(r io.Reader) (metricSet, error) {
	var out metricSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parsePromLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parsePromLine(line string) (sample, error) {
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return sample{}, fmt.Errorf("no metric name in %q", line)
	}
	s := sample{Name: line[:i]}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		labels, n, err := parseLabels(rest)
		if err != nil {
			return sample{}, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.Labels, rest = labels, rest[n:]
	}
	f := strings.Fields(rest)
	if len(f) != 1 && len(f) != 2 {
		return sample{}, fmt.Errorf("%s: want a value and an optional timestamp, got %q", s.Name, rest)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return sample{}, fmt.Errorf("%s: value %q: %w", s.Name, f[0], err)
	}
	s.Value = v
	return s, nil
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// parseLabels parses `{k="v",…}` at the start of s and returns the labels and
// the bytes consumed.
func parseLabels(s string) (map[string]string, int, error) {
	labels := make(map[string]string)
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unterminated labels")
		}
		if s[i] == '}' {
			return labels, i + 1, nil
		}
		k := i
		for i < len(s) && isNameByte(s[i], i == k) {
			i++
		}
		if i == k || i+1 >= len(s) || s[i] != '=' || s[i+1] != '"' {
			return nil, 0, fmt.Errorf("bad label at %q", s[k:])
		}
		key := s[k:i]
		i += 2
		var v strings.Builder
		for {
			if i >= len(s) {
				return nil, 0, fmt.Errorf("unterminated value of label %s", key)
			}
			c := s[i]
			i++
			if c == '"' {
				break
			}
			if c == '\\' && i < len(s) {
				switch s[i] {
				case 'n':
					c = '\n'
				default: // \\ and \"
					c = s[i]
				}
				i++
			}
			v.WriteByte(c)
		}
		labels[key] = v.String()
	}
}

// get returns the value of the first sample named name whose labels include
// the given key/value pairs.
func (m metricSet) get(name string, kv ...string) (float64, bool) {
next:
	for _, s := range m {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.Labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		return s.Value, true
	}
	return 0, false
}

// histogram is a Prometheus histogram: cumulative counts per upper bound,
// the last bound +Inf.
type histogram struct {
	Bounds []float64
	Cum    []float64
	Sum    float64
	Count  float64
}

// histogram returns the histogram name (its _bucket, _sum and _count
// series), or false when the page has no buckets for it.
func (m metricSet) histogram(name string) (histogram, bool) {
	type bk struct{ le, cum float64 }
	var bs []bk
	var h histogram
	for _, s := range m {
		switch s.Name {
		case name + "_bucket":
			le, err := strconv.ParseFloat(s.Labels["le"], 64)
			if err != nil {
				continue
			}
			bs = append(bs, bk{le, s.Value})
		case name + "_sum":
			h.Sum = s.Value
		case name + "_count":
			h.Count = s.Value
		}
	}
	if len(bs) == 0 {
		return histogram{}, false
	}
	slices.SortFunc(bs, func(a, b bk) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	for _, b := range bs {
		h.Bounds = append(h.Bounds, b.le)
		h.Cum = append(h.Cum, b.cum)
	}
	return h, true
}

// sub returns h minus an earlier scrape of the same histogram: what was
// observed in between. Bounds must match.
func (h histogram) sub(before histogram) (histogram, error) {
	if !slices.Equal(h.Bounds, before.Bounds) {
		if len(before.Bounds) == 0 {
			return h, nil
		}
		return histogram{}, fmt.Errorf("histogram bounds changed between scrapes")
	}
	d := histogram{Bounds: h.Bounds, Cum: make([]float64, len(h.Cum)), Sum: h.Sum - before.Sum, Count: h.Count - before.Count}
	for i := range h.Cum {
		d.Cum[i] = h.Cum[i] - before.Cum[i]
	}
	return d, nil
}

// quantile returns the upper bound of the bucket holding the q-th quantile
// (0 < q ≤ 1): an upper estimate as coarse as the buckets. It is NaN for an
// empty histogram and +Inf when the quantile is past the last finite bound.
func (h histogram) quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Cum) == 0 {
		return math.NaN()
	}
	rank := math.Ceil(q * h.Count)
	for i, c := range h.Cum {
		if c >= rank {
			return h.Bounds[i]
		}
	}
	return math.Inf(1)
}

// bucket is one non-cumulative histogram bucket, for reports.
type bucket struct {
	Label string  `json:"range"`
	Le    float64 `json:"le"` // upper bound; +Inf is written as 0 with Label "> N"
	Count float64 `json:"count"`
}

// buckets returns the non-cumulative counts with readable ranges. Integer
// bounds (batch sizes) read "3–4"; the last reads "> 512".
func (h histogram) buckets() []bucket {
	out := make([]bucket, 0, len(h.Bounds))
	prev, prevCum := math.Inf(-1), 0.0
	for i, le := range h.Bounds {
		b := bucket{Le: le, Count: h.Cum[i] - prevCum}
		switch {
		case math.IsInf(le, 1):
			b.Le = 0
			b.Label = "> " + fmtFloat(prev)
		case math.IsInf(prev, -1):
			b.Label = "≤ " + fmtFloat(le)
		case le == math.Trunc(le) && prev == math.Trunc(prev):
			if lo := prev + 1; lo == le {
				b.Label = fmtFloat(le)
			} else {
				b.Label = fmtFloat(lo) + "–" + fmtFloat(le)
			}
		default:
			b.Label = fmtFloat(prev) + "–" + fmtFloat(le)
		}
		out = append(out, b)
		prev, prevCum = le, h.Cum[i]
	}
	return out
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
