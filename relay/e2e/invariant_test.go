package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// seed returns the run's seed: PARLEY_SEED when set, else the clock. It is
// printed so that any failure can be replayed.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("PARLEY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_SEED: %v", err)
		}
		s = n
	}
	t.Logf("seed %d (replay with PARLEY_SEED=%d)", s, s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with PARLEY_SEED=%d", s, s)
		}
	})
	return s
}

// device is one client of one user.
type device struct {
	user  string
	name  string
	c     *client.Client
	store client.Store
}

func newDevice(t *testing.T, url, user, name string, seed uint64, store client.Store) *device {
	t.Helper()
	if store == nil {
		store = client.NewMemoryStore()
	}
	c, err := client.New(client.Options{
		URL:       url,
		TokenFunc: func(context.Context) (string, error) { return token(user, time.Hour), nil },
		Store:     store, Seed: seed,
		Config: core.Config{
			DeviceID: name, TokenRefresh: true,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			Heartbeat: time.Second, HeartbeatTimeout: 3 * time.Second, RequestTimeout: 5 * time.Second,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &device{user: user, name: name, c: c, store: store}
}

type ackRecord struct {
	conv, clientID, sender string
	seq                    uint64
}

// sentRecord is what one send asked for; n is its place in its device's
// send order.
type sentRecord struct {
	conv, sender, device, text string
	n                          int
}

// TestInvariantsUnderChaos is the delivery guarantee as an
// invariant: 3 users × 2 devices send 3,000 messages into one group and three
// p2p conversations while connections are cut at random and the relay is
// killed with SIGKILL and restarted. At the end every device holds every
// acknowledged message exactly once, in the same contiguous order, and the
// relay still has each one after a final restart.
func TestInvariantsUnderChaos(t *testing.T) {
	chaosWithKills(t)
}

// TestInvariantsUnderChaosPartitioned is the same run on a native relay
// whose store is in three partitions (--store-partitions), the group and
// the one-to-one conversations spread over them: a batch of sends spans
// partitions, each committed on its own writer, and the kills land between
// those commits. (The Workers relay's end-to-end runs use its store objects,
// four by default, throughout.)
func TestInvariantsUnderChaosPartitioned(t *testing.T) {
	if edgeTarget() {
		t.Skip("native relay only: the Workers relay is partitioned in every run")
	}
	parts := map[int]bool{}
	users := []string{"alice", "bob", "carol"}
	parts[relay.ConvPartition("g:alice.chaos", 3)] = true
	for i, u := range users {
		for _, v := range users[i+1:] {
			parts[relay.ConvPartition(proto.P2PID(u, v), 3)] = true
		}
	}
	if len(parts) < 2 {
		t.Fatalf("the chaos run's conversations all hash to one of 3 partitions")
	}
	chaosWithKills(t, "--store-partitions", "3")
}

// chaosWithKills is TestInvariantsUnderChaos on a relay started with extra
// flags.
func chaosWithKills(t *testing.T, extra ...string) {
	if testing.Short() {
		t.Skip("chaos suite skipped in -short mode")
	}
	s := seed(t)
	relay := startRelay(t, append([]string{"--heartbeat", "1s", "--rate-limit", "5000", "--rate-burst", "10000", "--group-ids", "client"}, extra...)...)
	proxy := testsvc.NewProxy(t, relay.addr)
	restart := func(crng *rand.Rand) {
		relay.kill9()
		time.Sleep(time.Duration(100+crng.IntN(400)) * time.Millisecond)
		relay.start()
	}
	run := runChaos(t, s, proxy, 2, []disruption{
		{15, "relay SIGKILL", restart}, {40, "relay SIGKILL", restart},
		{65, "relay SIGKILL", restart}, {85, "relay SIGKILL", restart},
	})

	// The relay keeps every acknowledged message across one more SIGKILL.
	relay.kill9()
	relay.start()
	run.checkFreshDevice(t, relay.wsURL(), "alice-fresh")
}

// disruption is a fault injected once, when the acks pass at percent of the
// sends, so that every one lands mid-run.
type disruption struct {
	at   int64
	name string
	do   func(rng *rand.Rand)
}

// chaosRun is what a chaos run leaves to check.
type chaosRun struct {
	seed    uint64
	devices []*device
	convsOf map[string][]string
	sent    map[string]sentRecord // client id → what was sent
	acked   []ackRecord
}

// runChaos has 3 users × perUser devices, connected through proxy, send 500
// messages each into one group and three p2p conversations, while proxy cuts
// a random connection every 50–300 ms and the disruptions fire. It then
// waits for every device to settle and checks the invariants.
func runChaos(t *testing.T, s uint64, proxy *testsvc.Proxy, perUser int, disruptions []disruption) *chaosRun {
	t.Helper()
	users := []string{"alice", "bob", "carol"}
	group := "g:alice.chaos"
	convsOf := map[string][]string{}
	for i, u := range users {
		convsOf[u] = []string{group}
		for j, v := range users {
			if i != j {
				convsOf[u] = append(convsOf[u], proto.P2PID(u, v))
			}
		}
	}
	var devices []*device
	for i, u := range users {
		for d := 1; d <= perUser; d++ {
			devices = append(devices, newDevice(t, "ws://"+proxy.Addr()+"/v1/ws", u, fmt.Sprintf("%s-d%d", u, d), s+uint64(i*10+d), nil))
		}
	}
	// A bound on liveness: the run takes about 15 s on a native relay; the
	// Workers relay in local workerd is many times slower, and restarts slowly.
	deadline := 3 * time.Minute
	if edgeTarget() {
		deadline = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for _, d := range devices {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatalf("%s connect: %v", d.name, err)
		}
	}
	if _, err := devices[0].c.CreateGroup(ctx, group, "chaos", []string{"bob", "carol"}); err != nil {
		t.Fatalf("create group: %v", err)
	}

	const perDevice = 500
	total := len(devices) * perDevice
	var (
		mu     sync.Mutex
		acked  []ackRecord
		sent   = map[string]sentRecord{} // client id → what was sent
		nAcked atomic.Int64
		wg     sync.WaitGroup
		errs   = make(chan error, total+len(devices))
	)
	for i, d := range devices {
		wg.Add(2)
		drng := rand.New(rand.NewPCG(s+uint64(i), 7))
		results := make(chan (<-chan client.SendResult), perDevice)
		go func(d *device) { // sender
			defer wg.Done()
			defer close(results)
			for n := 0; n < perDevice; n++ {
				conv := convsOf[d.user][drng.IntN(len(convsOf[d.user]))]
				text := fmt.Sprintf("%s #%d", d.name, n)
				m, ch, err := d.c.SendAsync(conv, proto.MsgText, text, nil)
				if err != nil {
					errs <- fmt.Errorf("%s send %d: %w", d.name, n, err)
					return
				}
				mu.Lock()
				sent[m.ClientID] = sentRecord{conv: conv, sender: d.user, device: d.name, text: text, n: n}
				mu.Unlock()
				results <- ch
				// ~30 ms between sends: the run lasts ~15 s, long enough for
				// dozens of cuts and every disruption while traffic flows.
				time.Sleep(time.Duration(drng.IntN(60)) * time.Millisecond)
			}
		}(d)
		go func(d *device) { // ack collector
			defer wg.Done()
			for ch := range results {
				select {
				case r := <-ch:
					if r.Err != nil {
						errs <- fmt.Errorf("%s: send failed: %w", d.name, r.Err)
						continue
					}
					mu.Lock()
					acked = append(acked, ackRecord{r.Message.ConvID, r.Message.ClientID, r.Message.Sender, r.Message.Seq})
					mu.Unlock()
					nAcked.Add(1)
				case <-ctx.Done():
					errs <- fmt.Errorf("%s: ack wait: %w", d.name, ctx.Err())
					return
				}
			}
		}(d)
	}

	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	fired := 0
	crng := rand.New(rand.NewPCG(s, 99))
	for !isClosed(allDone) && ctx.Err() == nil {
		time.Sleep(time.Duration(50+crng.IntN(250)) * time.Millisecond)
		proxy.CutRandom(crng)
		if fired < len(disruptions) && nAcked.Load() >= int64(total)*disruptions[fired].at/100 {
			t.Logf("at %d acks: %s", nAcked.Load(), disruptions[fired].name)
			disruptions[fired].do(crng)
			fired++
		}
	}
	<-allDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("chaos: %d connection cuts, %d of %d disruptions, %d acks", proxy.CutCount(), fired, len(disruptions), len(acked))
	if fired < len(disruptions)-1 {
		t.Fatalf("only %d of %d disruptions happened", fired, len(disruptions))
	}
	if len(acked) != total {
		t.Fatalf("%d acks for %d sends", len(acked), total)
	}
	for _, d := range devices {
		if err := d.c.WaitSynced(ctx); err != nil {
			t.Fatalf("%s did not settle: %v", d.name, err)
		}
	}
	checkConvergence(t, devices, convsOf, sent, acked)
	return &chaosRun{seed: s, devices: devices, convsOf: convsOf, sent: sent, acked: acked}
}

// checkFreshDevice connects a new device of alice named name at url and
// checks that it syncs every acknowledged message, in the same order as
// everyone else.
func (r *chaosRun) checkFreshDevice(t *testing.T, url, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fresh := newDevice(t, url, "alice", name, r.seed+1000, nil)
	if err := fresh.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fresh.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	checkConvergence(t, append(r.devices, fresh), r.convsOf, r.sent, r.acked)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// checkConvergence asserts the invariants: per conversation, every member
// device holds messages 1..N with no gap and no duplicate client id, in the
// same order as every other member device; every message is one that was
// sent, with its text, sender and device; each device's messages keep the
// order that device sent them in; and every ack names the message at its seq.
func checkConvergence(t *testing.T, devices []*device, convsOf map[string][]string, sent map[string]sentRecord, acked []ackRecord) {
	t.Helper()
	wantCount := map[string]int{}
	for _, s := range sent {
		wantCount[s.conv]++
	}
	reference := map[string][]string{} // conv → client id by seq-1
	for _, d := range devices {
		for _, conv := range convsOf[d.user] {
			msgs, err := d.store.Messages(conv, 0, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			order := make([]string, 0, len(msgs))
			lastOf := map[string]sentRecord{} // sending device → its latest message so far
			created := 0                      // a group's first message: its creation
			for i, m := range msgs {
				if m.Seq != uint64(i+1) {
					t.Fatalf("%s %s: message %d has seq %d: not contiguous", d.name, conv, i, m.Seq)
				}
				if seen[m.ClientID] {
					t.Fatalf("%s %s: client id %s twice: duplicate", d.name, conv, m.ClientID)
				}
				seen[m.ClientID] = true
				order = append(order, m.ClientID)
				if i == 0 && m.Type == proto.MsgSystem && proto.KindOf(conv) == proto.KindGroup {
					created = 1
					continue
				}
				s, ok := sent[m.ClientID]
				if !ok {
					t.Fatalf("%s %s: seq %d (%q from %s) was never sent", d.name, conv, m.Seq, m.Text, m.Sender)
				}
				if s.conv != conv || m.Sender != s.sender || m.Device != s.device || m.Text != s.text || m.Type != proto.MsgText {
					t.Fatalf("%s %s: seq %d is {%s %s/%s %q}, sent as {%s %s/%s %q}", d.name, conv, m.Seq,
						conv, m.Sender, m.Device, m.Text, s.conv, s.sender, s.device, s.text)
				}
				if prev, ok := lastOf[s.device]; ok && prev.n > s.n {
					t.Fatalf("%s %s: %q is stored before %q (seq %d): %s sent them the other way round",
						d.name, conv, prev.text, s.text, m.Seq, s.device)
				}
				lastOf[s.device] = s
			}
			if len(order) != wantCount[conv]+created {
				t.Fatalf("%s %s: holds %d messages, %d were sent", d.name, conv, len(order), wantCount[conv])
			}
			if ref, ok := reference[conv]; ok {
				for i := range ref {
					if ref[i] != order[i] {
						t.Fatalf("%s %s: order differs from another member at seq %d", d.name, conv, i+1)
					}
				}
			} else {
				reference[conv] = order
			}
		}
	}
	for _, a := range acked {
		ref := reference[a.conv]
		if a.seq == 0 || a.seq > uint64(len(ref)) || ref[a.seq-1] != a.clientID {
			t.Fatalf("ack %+v does not match the stored message at that seq", a)
		}
	}
}
