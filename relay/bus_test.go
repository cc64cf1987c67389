package relay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testsvc"
)

// recorder is a Receiver that keeps what it is given.
type recorder struct {
	mu    sync.Mutex
	got   []Envelope
	lost  int
	wake  chan struct{}
	calls int
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) Deliver(e Envelope) {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Lost() {
	r.mu.Lock()
	r.lost++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// await waits until cond holds over what was received.
func (r *recorder) await(t testing.TB, what string, cond func(got []Envelope, lost int) bool) []Envelope {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		got, lost := append([]Envelope(nil), r.got...), r.lost
		r.mu.Unlock()
		if cond(got, lost) {
			return got
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("%s: not within 10 s; got %d envelopes, %d lost", what, len(got), lost)
		}
	}
}

// forUser keeps the envelopes addressed to user.
func forUser(got []Envelope, user string) []Envelope {
	var out []Envelope
	for _, e := range got {
		for _, u := range e.Users {
			if u == user {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// subscribe subscribes a new recorder to b until t ends.
func subscribe(t *testing.T, b Bus) (*recorder, Subscription) {
	t.Helper()
	r := newRecorder()
	sub, err := b.Subscribe(r)
	ok(t, err)
	t.Cleanup(sub.Close)
	return r, sub
}

// testBus is the conformance suite every Bus passes. filters is whether the
// bus delivers only watched users' envelopes (the memory bus hands every
// envelope to every node, and the hub ignores strangers).
func testBus(t *testing.T, open func(t *testing.T) Bus, filters bool) {
	ctx := context.Background()

	t.Run("watched user gets every envelope in publish order", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r, sub := subscribe(t, b)
		ok(t, sub.Watch(ctx, "alice"))
		const n = 2000
		for i := range n {
			ok(t, b.Publish(ctx, Envelope{Users: []string{"bob", "alice"}, Except: "s1", Frame: []byte(fmt.Sprint(i))}))
		}
		got := r.await(t, "all envelopes", func(got []Envelope, _ int) bool { return len(forUser(got, "alice")) >= n })
		for i, e := range forUser(got, "alice") {
			equal(t, string(e.Frame), fmt.Sprint(i), "frame in order")
			equal(t, e.Except, "s1", "except")
			equal(t, e.Kick, "", "kick")
		}
	})

	t.Run("kick reaches the node of the device", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r, sub := subscribe(t, b)
		ok(t, sub.Watch(ctx, "carol"))
		ok(t, b.Publish(ctx, Envelope{Users: []string{"carol"}, Except: "s9", Kick: "phone", KickAt: 1_795_649_460_548_578_748}))
		got := r.await(t, "kick", func(got []Envelope, _ int) bool { return len(forUser(got, "carol")) == 1 })
		e := forUser(got, "carol")[0]
		equal(t, e.Kick, "phone", "kick device")
		equal(t, e.Except, "s9", "except")
		equal(t, e.KickAt, int64(1_795_649_460_548_578_748), "kick time")
	})

	t.Run("every node watching a user gets its envelopes; refs are counted", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r1, s1 := subscribe(t, b)
		r2, s2 := subscribe(t, b)
		ok(t, s1.Watch(ctx, "dave"))
		ok(t, s1.Watch(ctx, "dave")) // a second session of dave on node 1
		ok(t, s2.Watch(ctx, "dave"))
		s1.Unwatch("dave") // one session left on node 1
		ok(t, b.Publish(ctx, Envelope{Users: []string{"dave"}, Frame: []byte("x")}))
		for _, r := range []*recorder{r1, r2} {
			r.await(t, "both nodes", func(got []Envelope, _ int) bool { return len(forUser(got, "dave")) == 1 })
		}
	})

	t.Run("any user id is carried", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r, sub := subscribe(t, b)
		odd := "a.b *>\x00用户"
		ok(t, sub.Watch(ctx, odd))
		ok(t, b.Publish(ctx, Envelope{Users: []string{odd}, Frame: []byte("y")}))
		r.await(t, "odd user", func(got []Envelope, _ int) bool { return len(forUser(got, odd)) == 1 })
	})

	if !filters {
		return
	}
	t.Run("a node gets only what its users need", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r, sub := subscribe(t, b)
		ok(t, sub.Watch(ctx, "erin"))
		ok(t, sub.Watch(ctx, "frank"))
		sub.Unwatch("frank")
		ok(t, b.Publish(ctx, Envelope{Users: []string{"frank", "gina"}, Frame: []byte("not for this node")}))
		ok(t, b.Publish(ctx, Envelope{Users: []string{"erin"}, Frame: []byte("last")}))
		got := r.await(t, "erin's envelope", func(got []Envelope, _ int) bool { return len(forUser(got, "erin")) == 1 })
		equal(t, len(got), 1, "envelopes received (frank unwatched, gina never watched)")
	})
}

func TestMemoryBus(t *testing.T) {
	t.Parallel()
	testBus(t, func(*testing.T) Bus { return NewMemoryBus() }, false)
}

func TestNATSBus(t *testing.T) {
	t.Parallel()
	url := testsvc.NATSURL(t)
	testBus(t, func(t *testing.T) Bus {
		b, err := NewNATSBus(url, NATSOptions{Prefix: "parleytest" + randomHex(4), Logger: testLogger()})
		ok(t, err)
		t.Cleanup(b.Close)
		return b
	}, true)
}

// After the NATS server restarts, every node hears Lost (its clients must
// sync), and envelopes flow again.
func TestNATSBusRestartReportsLost(t *testing.T) {
	t.Parallel()
	srv := testsvc.StartNATS(t)
	ctx := context.Background()
	open := func() (*NATSBus, *recorder, Subscription) {
		b, err := NewNATSBus(srv.URL(), NATSOptions{Logger: testLogger()})
		ok(t, err)
		t.Cleanup(b.Close)
		r := newRecorder()
		sub, err := b.Subscribe(r)
		ok(t, err)
		ok(t, sub.Watch(ctx, "alice"))
		return b, r, sub
	}
	b1, r1, _ := open()
	_, r2, _ := open()
	ok(t, b1.Publish(ctx, Envelope{Users: []string{"alice"}, Frame: []byte("before")}))
	r2.await(t, "before the restart", func(got []Envelope, _ int) bool { return len(got) == 1 })

	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	srv.Start()
	for _, r := range []*recorder{r1, r2} {
		r.await(t, "lost after reconnect", func(_ []Envelope, lost int) bool { return lost >= 1 })
	}
	ok(t, b1.Publish(ctx, Envelope{Users: []string{"alice"}, Frame: []byte("after")}))
	got := r2.await(t, "after the restart", func(got []Envelope, _ int) bool { return len(got) == 2 })
	equal(t, string(got[1].Frame), "after", "frame after restart")
}
