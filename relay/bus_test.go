package relay

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
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

// testBus is the conformance suite every Bus passes. filters is whether the
// bus delivers only watched users' envelopes (the memory bus hands every
// envelope to every node, and the hub ignores strangers).
func testBus(t *testing.T, open func(t *testing.T) Bus, filters bool) {
	ctx := context.Background()

	t.Run("watched user gets every envelope in publish order", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r := newRecorder()
		sub, err := b.Subscribe(r)
		ok(t, err)
		defer sub.Close()
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
		r := newRecorder()
		sub, err := b.Subscribe(r)
		ok(t, err)
		defer sub.Close()
		ok(t, sub.Watch(ctx, "carol"))
		ok(t, b.Publish(ctx, Envelope{Users: []string{"carol"}, Except: "s9", Kick: "phone"}))
		got := r.await(t, "kick", func(got []Envelope, _ int) bool { return len(forUser(got, "carol")) == 1 })
		e := forUser(got, "carol")[0]
		equal(t, e.Kick, "phone", "kick device")
		equal(t, e.Except, "s9", "except")
	})

	t.Run("every node watching a user gets its envelopes; refs are counted", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		r1, r2 := newRecorder(), newRecorder()
		s1, err := b.Subscribe(r1)
		ok(t, err)
		defer s1.Close()
		s2, err := b.Subscribe(r2)
		ok(t, err)
		defer s2.Close()
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
		r := newRecorder()
		sub, err := b.Subscribe(r)
		ok(t, err)
		defer sub.Close()
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
		r := newRecorder()
		sub, err := b.Subscribe(r)
		ok(t, err)
		defer sub.Close()
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
	url := natsURL(t)
	testBus(t, func(t *testing.T) Bus {
		b, err := NewNATSBus(url, NATSOptions{Prefix: "parleytest" + randomHex(4), Logger: testLogger()})
		ok(t, err)
		t.Cleanup(b.Close)
		return b
	}, true)
}

// natsURL is the NATS server the tests share: $PARLEY_TEST_NATS, by default
// the one on 127.0.0.1:4222. Without it the test is skipped loudly, or fails
// when PARLEY_REQUIRE_SERVICES=1 (as in ./build.sh test, which starts it).
func natsURL(t testing.TB) string {
	url := os.Getenv("PARLEY_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	b, err := NewNATSBus(url, NATSOptions{Logger: testLogger()})
	if err != nil {
		if os.Getenv("PARLEY_REQUIRE_SERVICES") == "1" {
			t.Fatalf("NATS is required (PARLEY_REQUIRE_SERVICES=1) but %s does not answer: %v", url, err)
		}
		t.Skipf("SKIPPED LOUDLY: no NATS at %s (%v); set PARLEY_TEST_NATS or start nats-server", url, err)
	}
	b.Close()
	return url
}

// natsServer is a nats-server process of the test's own, which it may stop
// and start again on the same port.
type natsServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

const natsServerBin = "/usr/sbin/nats-server"

func startNATSServer(t testing.TB) *natsServer {
	t.Helper()
	if _, err := os.Stat(natsServerBin); err != nil {
		if os.Getenv("PARLEY_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is required: %v", natsServerBin, err)
		}
		t.Skipf("SKIPPED LOUDLY: %s not installed", natsServerBin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ok(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &natsServer{t: t, port: port}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsServer) start() {
	n.t.Helper()
	n.cmd = exec.Command(natsServerBin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port))
	ok(n.t, n.cmd.Start())
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.port))
		if err == nil {
			c.Close()
			return
		}
		if i > 200 {
			n.t.Fatalf("nats-server on port %d did not start", n.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *natsServer) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// After the NATS server restarts, every node hears Lost (its clients must
// sync), and envelopes flow again.
func TestNATSBusRestartReportsLost(t *testing.T) {
	t.Parallel()
	srv := startNATSServer(t)
	ctx := context.Background()
	open := func() (*NATSBus, *recorder, Subscription) {
		b, err := NewNATSBus(srv.url(), NATSOptions{Logger: testLogger()})
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

	srv.stop()
	time.Sleep(300 * time.Millisecond)
	srv.start()
	for _, r := range []*recorder{r1, r2} {
		r.await(t, "lost after reconnect", func(_ []Envelope, lost int) bool { return lost >= 1 })
	}
	ok(t, b1.Publish(ctx, Envelope{Users: []string{"alice"}, Frame: []byte("after")}))
	got := r2.await(t, "after the restart", func(got []Envelope, _ int) bool { return len(got) == 2 })
	equal(t, string(got[1].Frame), "after", "frame after restart")
}
