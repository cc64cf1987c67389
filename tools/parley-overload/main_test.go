package main

import (
	"math"
	"testing"
)

// TestQuantile: the p99 between two scrapes comes from the difference of
// their cumulative buckets, interpolated inside the bucket that holds it.
func TestQuantile(t *testing.T) {
	t.Parallel()
	a := sample{ackCount: 10, ackBucket: map[float64]float64{0.1: 10, 1: 10, math.Inf(1): 10}}
	b := sample{ackCount: 110, ackBucket: map[float64]float64{0.1: 60, 1: 110, math.Inf(1): 110}}
	// 100 new observations: 50 up to 0.1 s, 50 in (0.1, 1]. The median is
	// the top of the first bucket; p99 is 98 % of the way through the second.
	if got := quantile(a, b, 0.5); math.Abs(got-0.1) > 1e-9 {
		t.Errorf("p50 = %v, want 0.1", got)
	}
	if got, want := quantile(a, b, 0.99), 0.1+0.9*49.0/50; math.Abs(got-want) > 1e-9 {
		t.Errorf("p99 = %v, want %v", got, want)
	}
	if got := quantile(b, b, 0.99); !math.IsNaN(got) {
		t.Errorf("no new observations: %v, want NaN", got)
	}
}
