package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// page is the relay's /metrics format, plus the corners of the exposition
// format a Prometheus client library would produce.
const page = `# HELP parley_connections Open WebSocket connections.
# TYPE parley_connections gauge
parley_connections 3
parley_closes_total{code="4102"} 2
parley_closes_total{code="4103",reason="say \"hi\"\n"} 5
# HELP parley_commit_batch_size Sends committed per store transaction.
# TYPE parley_commit_batch_size histogram
parley_commit_batch_size_bucket{le="1"} 4
parley_commit_batch_size_bucket{le="2"} 6
parley_commit_batch_size_bucket{le="4"} 6
parley_commit_batch_size_bucket{le="+Inf"} 7
parley_commit_batch_size_sum 20
parley_commit_batch_size_count 7

go_memstats_heap_inuse_bytes 1.2345e+06
go_goroutines 9 1700000000000
`

func TestParseProm(t *testing.T) {
	t.Parallel()
	m, err := parseProm(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"parley_connections", nil, 3},
		{"parley_closes_total", []string{"code", "4102"}, 2},
		{"parley_closes_total", []string{"code", "4103"}, 5},
		{"parley_closes_total", []string{"reason", "say \"hi\"\n"}, 5},
		{"go_memstats_heap_inuse_bytes", nil, 1234500},
		{"go_goroutines", nil, 9}, // the timestamp is ignored
	} {
		got, ok := m.get(tc.name, tc.kv...)
		if !ok || got != tc.want {
			t.Errorf("get(%s, %v) = %v, %v; want %v", tc.name, tc.kv, got, ok, tc.want)
		}
	}
	if _, ok := m.get("parley_closes_total", "code", "4000"); ok {
		t.Errorf("get found a label value that is not there")
	}
	if _, ok := m.get("absent"); ok {
		t.Errorf("get found an absent metric")
	}
}

func TestParsePromRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"metric",            // no value
		"metric one",        // not a number
		"metric 1 2 3",      // too many fields
		`metric{code="1" 2`, // unterminated labels
		`metric{code=1} 2`,  // unquoted label value
		`metric{code="1} 2`, // unterminated label value
		"9metric 1",         // name starts with a digit
	} {
		if _, err := parseProm(strings.NewReader(line + "\n")); err == nil {
			t.Errorf("parseProm(%q) succeeded", line)
		}
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	m, err := parseProm(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.histogram("parley_ack_latency_seconds"); ok {
		t.Errorf("found a histogram that is not there")
	}
	h, ok := m.histogram("parley_commit_batch_size")
	if !ok {
		t.Fatal("no parley_commit_batch_size histogram")
	}
	if h.Count != 7 || h.Sum != 20 || len(h.Bounds) != 4 {
		t.Fatalf("histogram = %+v", h)
	}
	earlier := histogram{Bounds: h.Bounds, Cum: []float64{1, 1, 1, 1}, Sum: 1, Count: 1}
	d, err := h.sub(earlier)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	var counts []float64
	for _, b := range d.buckets() {
		labels = append(labels, b.Label)
		counts = append(counts, b.Count)
	}
	if want := []string{"≤ 1", "2", "3–4", "> 4"}; !slices.Equal(labels, want) {
		t.Errorf("bucket labels = %q, want %q", labels, want)
	}
	if want := []float64{3, 2, 0, 1}; !slices.Equal(counts, want) {
		t.Errorf("bucket counts = %v, want %v", counts, want)
	}
	if d.Count != 6 || d.Sum != 19 {
		t.Errorf("delta count, sum = %v, %v; want 6, 19", d.Count, d.Sum)
	}
	// Cumulative [3 5 5 6] over bounds [1 2 4 +Inf].
	for _, tc := range []struct{ q, want float64 }{{0.5, 1}, {0.8, 2}, {0.99, math.Inf(1)}} {
		if got := d.quantile(tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (histogram{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("quantile of an empty histogram = %v, want NaN", got)
	}
	if _, err := h.sub(histogram{Bounds: []float64{1}, Cum: []float64{0}}); err == nil {
		t.Errorf("sub accepted different bounds")
	}
}

func TestParseBenchText(t *testing.T) {
	t.Parallel()
	k, at, ok := parseBenchText(benchText(42, 1234567890123))
	if !ok || k != 42 || at != 1234567890123 {
		t.Errorf("round trip = %d, %d, %v", k, at, ok)
	}
	for _, s := range []string{"", "warm-up", "m x 1", "m 1", "m -1 5", "n 1 2"} {
		if _, _, ok := parseBenchText(s); ok {
			t.Errorf("parseBenchText(%q) succeeded", s)
		}
	}
}
