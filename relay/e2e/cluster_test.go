package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// cluster is three relay processes sharing one PostgreSQL schema and one NATS
// server, behind a load balancer without stickiness. Postgres is reached
// through a fault proxy, so the test can cut the relays off from it; NATS is
// a server of the test's own, so it can be killed and restarted.
type cluster struct {
	relays []*relayProc
	lb     *testsvc.Proxy
	pg     *testsvc.Proxy
	nats   *testsvc.NATS
}

func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	dsn := testsvc.FreshSchema(t, testsvc.PostgresURL(t))
	c := &cluster{nats: testsvc.StartNATS(t)}
	c.pg = testsvc.NewProxy(t, testsvc.HostPort(t, dsn))
	store := testsvc.WithHost(t, dsn, c.pg.Addr())
	var addrs []string
	for range n {
		r := startRelay(t, append([]string{"--store", store, "--bus", c.nats.URL(),
			"--heartbeat", "1s", "--rate-limit", "5000", "--rate-burst", "10000", "--group-ids", "client"}, extra...)...)
		c.relays = append(c.relays, r)
		addrs = append(addrs, r.addr)
	}
	c.lb = testsvc.NewProxy(t, addrs...)
	return c
}

// TestInvariantsAcrossRelays is the chaos invariant (no loss, no duplicate, one
// order per conversation, whatever fails) on three
// relays: 3 users × 3 devices spread over the relays by the balancer send
// 4,500 messages while connections are cut at random, each relay in turn is
// killed with SIGKILL (its clients reconnect to another), NATS is killed and
// restarted twice, and every Postgres connection is dropped with the database
// unreachable for a moment. Zero loss, zero duplicates, one contiguous order
// on every device; then every relay serves a fresh device all of it, and a
// push still crosses relays.
func TestInvariantsAcrossRelays(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite skipped in -short mode")
	}
	s := seed(t)
	c := startCluster(t, 3)
	kill := func(i int) func(*rand.Rand) {
		return func(rng *rand.Rand) {
			c.relays[i].kill9()
			time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
			c.relays[i].start()
		}
	}
	restartNATS := func(rng *rand.Rand) {
		c.nats.Stop()
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		c.nats.Start()
	}
	dropPostgres := func(rng *rand.Rand) {
		n := c.pg.Outage(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		t.Logf("cut %d Postgres connections", n)
	}
	run := runChaos(t, s, c.lb, 3, []disruption{
		{10, "relay 1 SIGKILL", kill(0)},
		{22, "NATS killed and restarted", restartNATS},
		{35, "relay 2 SIGKILL", kill(1)},
		{48, "Postgres dropped", dropPostgres},
		{60, "relay 3 SIGKILL", kill(2)},
		{72, "NATS killed and restarted", restartNATS},
		{85, "Postgres dropped", dropPostgres},
	})
	// The last NATS restart came after every relay's restart: each one
	// heard that pushes were lost and told its sessions to resync.
	for i, r := range c.relays {
		if n := metric(t, r, "parley_bus_lost_total"); n < 1 {
			t.Errorf("relay %d: parley_bus_lost_total %d after a NATS restart", i+1, n)
		}
	}
	for i, r := range c.relays {
		run.checkFreshDevice(t, r.wsURL(), fmt.Sprintf("alice-fresh-%d", i+1))
	}
	checkPushAcrossRelays(t, c.relays[0], c.relays[2])
}

// checkPushAcrossRelays sends on one relay and waits for the push on another,
// with nothing but the bus to carry it there.
func checkPushAcrossRelays(t *testing.T, from, to *relayProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender := newDevice(t, from.wsURL(), "bob", "bob-live", 1, nil)
	receiver := newDevice(t, to.wsURL(), "alice", "alice-live", 2, nil)
	got := make(chan core.Message, 16)
	receiver.c.On(func(e core.Event) {
		if e.Kind == core.EventMessage && e.Message != nil && e.Message.Text == "across relays" {
			select {
			case got <- *e.Message:
			default:
			}
		}
	})
	for _, d := range []*device{sender, receiver} {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	m, err := sender.c.SendText(ctx, proto.P2PID("alice", "bob"), "across relays")
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r := <-got:
			if r.ClientID == m.ClientID {
				t.Logf("push across relays in %v", time.Since(start))
				return
			}
		case <-ctx.Done():
			t.Fatal("the push did not cross relays")
		}
	}
}

// TestNATSOutageRepaired: while NATS is down, alice on relay 1 keeps sending
// (the store acknowledges); bob on relay 2 keeps his connection. When NATS is
// back, bob holds every message, in order, without reconnecting: his relay
// heard that pushes were lost and told him to resync. Then pushes flow again.
func TestNATSOutageRepaired(t *testing.T) {
	c := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := newDevice(t, c.relays[0].wsURL(), "alice", "alice-1", 1, nil)
	bob := newDevice(t, c.relays[1].wsURL(), "bob", "bob-1", 2, nil)
	for _, d := range []*device{alice, bob} {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var states []core.State
	bob.c.On(func(e core.Event) {
		if e.Kind == core.EventState && e.State != core.StateConnected {
			mu.Lock()
			states = append(states, e.State)
			mu.Unlock()
		}
	})
	conv := proto.P2PID("alice", "bob")
	if _, err := alice.c.SendText(ctx, conv, "before"); err != nil {
		t.Fatal(err)
	}
	c.nats.Stop()
	for i := range 20 {
		if _, err := alice.c.SendText(ctx, conv, fmt.Sprintf("during %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	c.nats.Start()
	waitMessages(t, bob, conv, 21)
	if _, err := alice.c.SendText(ctx, conv, "after"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, bob, conv, 22)
	mu.Lock()
	defer mu.Unlock()
	if len(states) > 0 {
		t.Errorf("bob's connection went %v: the repair must not need a reconnect", states)
	}
}

// waitMessages waits until d's cache holds n messages of conv, 1..n in order.
func waitMessages(t *testing.T, d *device, conv string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs, err := d.store.Messages(conv, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) >= n {
			for i, m := range msgs {
				if m.Seq != uint64(i+1) {
					t.Fatalf("%s: message %d has seq %d", d.name, i, m.Seq)
				}
			}
			if len(msgs) > n {
				t.Fatalf("%s holds %d messages, want %d", d.name, len(msgs), n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d of %d messages", d.name, len(msgs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
