package chart

import (
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestLinearTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 100, []float64{0, 20, 40, 60, 80, 100}},
		{0, 32000, []float64{0, 10000, 20000, 30000, 40000}},
		{0, 16, []float64{0, 5, 10, 15, 20}},
		{0, 0.9, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 12.5, []float64{0, 2.5, 5, 7.5, 10, 12.5}},
		{5, 5, []float64{5, 5.2, 5.4, 5.6, 5.8, 6}},
	} {
		if got := LinearTicks(tc.lo, tc.hi, 6); !slices.Equal(got, tc.want) {
			t.Errorf("LinearTicks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	t.Parallel()
	if got, want := LogTicks(0.1, 1000), []float64{0.1, 1, 10, 100, 1000}; !slices.Equal(got, want) {
		t.Errorf("LogTicks(0.1, 1000) = %v, want %v", got, want)
	}
	if got, want := LogTicks(1, 100), []float64{1, 2, 5, 10, 20, 50, 100}; !slices.Equal(got, want) {
		t.Errorf("LogTicks(1, 100) = %v, want %v", got, want)
	}
}

func TestFormatTick(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 25: "25", 1000: "1,000", 32000: "32,000", 2.5: "2.5", 1e6: "1,000,000"} {
		if got := FormatTick(v); got != want {
			t.Errorf("FormatTick(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestScale(t *testing.T) {
	t.Parallel()
	s, err := newScale(Axis{}, []float64{3, 95}, 100, 600)
	if err != nil {
		t.Fatal(err)
	}
	if s.pos(0) != 100 || s.pos(100) != 600 || s.pos(50) != 350 {
		t.Errorf("linear 0..100 → 100..600: pos(0) %v, pos(50) %v, pos(100) %v", s.pos(0), s.pos(50), s.pos(100))
	}
	l, err := newScale(Axis{Log: true}, []float64{0.4, 114, -1}, 400, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 0.1 .. 1000 over 400 px: one decade per 100 px, y up.
	if l.pos(0.1) != 400 || l.pos(1) != 300 || l.pos(1000) != 0 {
		t.Errorf("log: pos(0.1) %v, pos(1) %v, pos(1000) %v", l.pos(0.1), l.pos(1), l.pos(1000))
	}
	if _, err := newScale(Axis{Log: true}, []float64{0, -2}, 0, 1); err == nil {
		t.Errorf("a log axis without positive values was accepted")
	}
}

// wellFormed decodes the whole document as XML.
func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
	}
}

func TestSVG(t *testing.T) {
	t.Parallel()
	c := &Chart{
		Title: "Latency vs offered rate <group & p2p>",
		X:     Axis{Label: "offered rate (msg/s)"},
		Y:     Axis{Label: "send → delivered (ms)", Log: true},
		Y2:    &Axis{Label: "relay CPU (% of a core)"},
		Series: []Series{
			{Name: "group p99", X: []float64{1000, 2000, 4000}, Y: []float64{3, 8, 114}, Open: []bool{false, false, true}},
			{Name: "group p50", X: []float64{1000, 2000, 4000}, Y: []float64{0.6, 1, 11}, Dash: true},
			{Name: "relay CPU", X: []float64{1000, 2000, 4000}, Y: []float64{20, 40, 80}, Right: true},
		},
		Lines: []Line{{Y: 25, Label: "budget p99 25 ms"}},
		Notes: []string{"hollow: generator-bound"},
	}
	b, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b)
	s := string(b)
	for _, want := range []string{"&lt;group &amp; p2p&gt;", "offered rate (msg/s)", "send → delivered (ms)", "relay CPU (% of a core)",
		"group p99", "group p50", "budget p99 25 ms", "hollow: generator-bound", `fill="white" stroke=`, "4,000", "stroke-dasharray"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := strings.Count(s, "<polyline"); n != 3 {
		t.Errorf("%d polylines, want 3", n)
	}
	b2, _ := c.SVG()
	if string(b2) != s {
		t.Errorf("the same chart rendered twice differs")
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	got := wrap("one two three four five", 9)
	if want := []string{"one two", "three", "four five"}; !slices.Equal(got, want) {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	if got := wrap("", 10); len(got) != 0 {
		t.Errorf("wrap of nothing = %q", got)
	}
}

func TestSVGRejects(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*Chart{
		"no series":     {},
		"ragged":        {Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}},
		"no right axis": {Series: []Series{{X: []float64{1}, Y: []float64{1}, Right: true}}},
	} {
		if _, err := c.SVG(); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}
