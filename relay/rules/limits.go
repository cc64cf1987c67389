package rules

import (
	"math"
	"time"
)

// Bucket is a token bucket: Rate tokens a second, at most Burst saved up,
// one taken per frame. A bucket with a rate of zero or less allows
// everything. It reads no clock: every call is given the time.
type Bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// NewBucket returns a full bucket refilling at rate tokens a second up to
// burst.
func NewBucket(rate float64, burst int) Bucket {
	return Bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// Allow takes one token at now and reports whether there was one. Times
// must not go backwards between calls.
func (b *Bucket) Allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
