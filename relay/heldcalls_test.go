//go:build !js

package relay

import (
	"sync"
	"testing"
	"time"
)

// heldCalls records the size of each call of the store method a test
// wraps, and holds the first call until release: the requests made
// meanwhile queue behind it, as they do behind a slow commit in a burst,
// and the test then counts how they were batched.
type heldCalls struct {
	release chan struct{}
	mu      sync.Mutex
	calls   []int
}

func newHeldCalls() *heldCalls { return &heldCalls{release: make(chan struct{})} }

// enter records a call carrying n items; the first one waits for release.
func (h *heldCalls) enter(n int) {
	h.mu.Lock()
	first := len(h.calls) == 0
	h.calls = append(h.calls, n)
	h.mu.Unlock()
	if first {
		<-h.release
	}
}

// releaseWhen releases the first call once all n items are in a call or
// waiting for one (waiting counts the latter; it is read under h.mu, so an
// item entering a call is not counted twice).
func (h *heldCalls) releaseWhen(t testing.TB, what string, n int, waiting func() int) {
	t.Helper()
	started := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return waiting() + len(h.calls)
	}
	for deadline := time.Now().Add(30 * time.Second); started() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s in a call or waiting", started(), n, what)
		}
	}
	close(h.release)
}

// check fails t unless the calls carried n items in all, each at most max,
// in want calls (at most want unless exact).
func (h *heldCalls) check(t testing.TB, what string, n, max, want int, exact bool) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	sum := 0
	for _, c := range h.calls {
		if c > max {
			t.Fatalf("a call of %d %s, above %d: %v", c, what, max, h.calls)
		}
		sum += c
	}
	if got := len(h.calls); sum != n || got > want || exact && got != want {
		t.Fatalf("%d calls for %d %s (the first: %v), want %d calls and each once", got, sum, what, h.calls[:min(got, 8)], want)
	}
}
