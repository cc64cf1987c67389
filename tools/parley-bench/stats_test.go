package main

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6} // 1..10, shuffled
	for _, tc := range []struct {
		p    float64
		want float64
	}{
		{50, 5}, {90, 9}, {95, 10}, {99, 10}, {100, 10}, {10, 1}, {1, 1}, {0, 1},
	} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if xs[0] != 5 {
		t.Errorf("percentile sorted its input in place")
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile(nil) = %v, want NaN", got)
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("percentile of one sample = %v, want 7", got)
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		xs   []float64
		want float64
	}{
		"odd":    {[]float64{3, 1, 2}, 2},
		"even":   {[]float64{4, 1, 3, 2}, 2.5},
		"one":    {[]float64{42}, 42},
		"equal":  {[]float64{1, 1, 1}, 1},
		"spread": {[]float64{100, 1, 2}, 2},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", name, tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median(nil) is not NaN")
	}
}

func TestSummarizeSkipsUnmeasured(t *testing.T) {
	t.Parallel()
	s := summarize([]float64{3, math.NaN(), 1, 2})
	if s != (summary{Median: 2, Min: 1, Max: 3, N: 3}) {
		t.Errorf("summarize = %+v", s)
	}
	if s := summarize([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("summarize(NaN) = %+v, want N 0 and NaN", s)
	}
}

func TestFmtNum(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		prec int
		want string
	}{
		{0, 0, "0"}, {999, 0, "999"}, {1000, 0, "1,000"}, {1234567.891, 2, "1,234,567.89"},
		{-12345, 1, "-12,345.0"}, {math.NaN(), 2, "n/a"},
	} {
		if got := fmtNum(tc.v, tc.prec); got != tc.want {
			t.Errorf("fmtNum(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}
