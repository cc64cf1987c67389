//go:build !js

package relay

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/internal/buswire"
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

// TestNATSBusForgery plays a stranger on the NATS subjects of a relay: a
// forged deliver ("from bob", which bob never sent), a forged kick of
// alice's device and a forged publish to the lost subject. Without a bus key
// the relay believes all three — the NATS accounts are then the only defence,
// as docs/security.md says. With a key all three are dropped and counted,
// while envelopes signed by a relay with the same key still flow.
func TestNATSBusForgery(t *testing.T) {
	t.Parallel()
	url := testsvc.NATSURL(t)
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", keyed), func(t *testing.T) {
			t.Parallel()
			prefix := "parleyforge" + randomHex(4)
			var key []byte
			if keyed {
				key = []byte("bus-key-0123456789abcdef0123456789")
			}
			bus, err := NewNATSBus(url, NATSOptions{Prefix: prefix, Key: key, Logger: testLogger()})
			ok(t, err)
			srv := newServer(t, func(o *Options) { o.Bus = bus })
			alice, _ := hello(t, srv, "alice", "phone")

			stranger, err := nats.Connect(url)
			ok(t, err)
			defer stranger.Close()
			forged := proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: proto.Message{
				ConvID: proto.P2PID("alice", "bob"), Seq: 1, Sender: "bob", ClientID: "c1", MsgType: proto.MsgText, Text: "send me your password", CreatedAt: 1}}})
			// The lost subject has its own subscription, so no order holds
			// between it and alice's subject: it goes first, alone.
			ok(t, stranger.Publish(prefix+".lost", nil))
			ok(t, stranger.Flush())
			if !keyed {
				equal(t, alice.next().Type, proto.TypeResync, "the forged lost makes alice resync")
			}
			ok(t, stranger.Publish(bus.subject("alice"), buswire.Encode(buswire.Envelope{Frame: forged})))
			ok(t, stranger.Publish(bus.subject("alice"), buswire.Encode(buswire.Envelope{Except: "x", Kick: "phone", KickAt: uint64(time.Now().Add(time.Hour).UnixNano())})))
			ok(t, stranger.Flush())
			if !keyed {
				got := alice.expectClose(proto.CodeKicked)
				if len(got) != 1 || got[0].Body.(*proto.Deliver).Message.Sender != "bob" {
					t.Fatalf("before the forged kick alice got %s, want the forged deliver", frameTypes(got))
				}
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for bus.Rejected() < 3 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			equal(t, bus.Rejected(), uint64(3), "forged envelopes dropped")
			rec := httptest.NewRecorder()
			srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if !strings.Contains(rec.Body.String(), "\nparley_bus_rejected_total 3\n") {
				t.Fatalf("metrics do not count the forgeries:\n%s", rec.Body.String())
			}
			// A relay with the same key is still heard, and alice saw
			// nothing before its envelope.
			peer, err := NewNATSBus(url, NATSOptions{Prefix: prefix, Key: key, Logger: testLogger()})
			ok(t, err)
			defer peer.Close()
			legit := proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: proto.Message{
				ConvID: proto.P2PID("alice", "carol"), Seq: 1, Sender: "carol", ClientID: "c1", MsgType: proto.MsgText, Text: "hi", CreatedAt: 1}}})
			ok(t, peer.Publish(context.Background(), Envelope{Users: []string{"alice"}, Frame: legit}))
			f := alice.next()
			equal(t, f.Body.(*proto.Deliver).Message.Sender, "carol", "the first frame alice gets is the signed one")
			equal(t, alice.isClosed(), false, "alice closed by a forged kick")
			// A relay without the key is not heard either.
			keyless, err := NewNATSBus(url, NATSOptions{Prefix: prefix, Logger: testLogger()})
			ok(t, err)
			defer keyless.Close()
			ok(t, keyless.Publish(context.Background(), Envelope{Users: []string{"alice"}, Frame: legit}))
			for bus.Rejected() < 4 && time.Now().Before(deadline.Add(5*time.Second)) {
				time.Sleep(10 * time.Millisecond)
			}
			equal(t, bus.Rejected(), uint64(4), "a keyless relay's envelope dropped")
			equal(t, alice.pending(), 0, "frames alice got from the keyless relay")
		})
	}
}

func TestNATSBusOptions(t *testing.T) {
	t.Parallel()
	url := testsvc.NATSURL(t)
	for name, o := range map[string]NATSOptions{
		"short key":     {Key: []byte("short")},
		"cert, no key":  {TLSCert: "cert.pem"},
		"missing nkey":  {NKeyFile: "/nonexistent/seed.nk"},
		"missing creds": {CredsFile: "/nonexistent/user.creds"},
		"missing CA":    {TLSCA: "/nonexistent/ca.pem"},
	} {
		o.Logger = testLogger()
		if b, err := NewNATSBus(url, o); err == nil {
			b.Close()
			t.Errorf("%s: NewNATSBus accepted %+v", name, o)
		}
	}
}
