//go:build !js

package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// memLink is one connection between a Client and a relay Session, in
// memory: the client's Socket on one side, the session's Transport on the
// other. Frames keep their order both ways. A cut drops it at once, as a
// lost network does: what was queued for the client is gone, and both sides
// learn it without a close code.
type memLink struct {
	sess *relay.Session
	in   chan []byte   // client → relay, read by pump
	done chan struct{} // closed when the link ends, from either side
	once sync.Once

	mu     sync.Mutex
	out    [][]byte      // relay → client, not yet read
	signal chan struct{} // capacity 1: out grew or the link ended
	ended  bool
	code   proto.Code // the relay's close code; 0 for a cut or the client's close
	reason string
}

var (
	_ relay.Transport = (*memLink)(nil)
	_ Socket          = clientSide{}
)

// memOutLimit is how many frames may wait for the client before the relay
// is told the connection does not keep up, as a full socket buffer would.
const memOutLimit = 4096

// Write is the relay's side: queue a frame for the client.
func (l *memLink) Write(b []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return true
	}
	if len(l.out) >= memOutLimit {
		return false
	}
	l.out = append(l.out, slices.Clone(b))
	l.notify()
	return true
}

// Close is the relay's side: queued frames stay readable, then the client
// reads the code.
func (l *memLink) Close(code proto.Code, reason string) {
	l.mu.Lock()
	if !l.ended {
		l.ended, l.code, l.reason = true, code, reason
		if code == proto.CodeSlowConsumer {
			l.out = nil
		}
		l.notify()
	}
	l.mu.Unlock()
	l.end()
}

// Read is the client's side.
func (l *memLink) Read(ctx context.Context) ([]byte, error) {
	for {
		l.mu.Lock()
		if len(l.out) > 0 {
			b := l.out[0]
			l.out = l.out[1:]
			l.mu.Unlock()
			return b, nil
		}
		ended, code, reason := l.ended, l.code, l.reason
		l.mu.Unlock()
		if ended {
			if code == 0 {
				return nil, errors.New("connection lost")
			}
			return nil, &CloseError{Code: code, Reason: reason}
		}
		select {
		case <-l.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Write on the client's side hands the frame to the relay's reader.
func (l *memLink) clientWrite(ctx context.Context, b []byte) error {
	select {
	case l.in <- slices.Clone(b):
		return nil
	case <-l.done:
		return errors.New("connection lost")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clientSide adapts the link to the client's Socket, whose Write and Close
// differ in signature from the relay's Transport.
type clientSide struct{ *memLink }

func (c clientSide) Write(ctx context.Context, b []byte) error { return c.clientWrite(ctx, b) }
func (c clientSide) Close(code proto.Code, reason string) error {
	c.cut()
	return nil
}

// cut ends the link with no close code: the client's next Read fails and
// the session is told it is gone.
func (l *memLink) cut() {
	l.mu.Lock()
	if !l.ended {
		l.ended, l.out = true, nil
		l.notify()
	}
	l.mu.Unlock()
	l.end()
}

func (l *memLink) end() { l.once.Do(func() { close(l.done) }) }

func (l *memLink) notify() {
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// pump is the relay's read loop: frames in order into Receive, and Gone
// once after the last Receive returned.
func (l *memLink) pump() {
	defer l.sess.Gone()
	for {
		select {
		case b := <-l.in:
			if !l.sess.Receive(b, true) {
				l.cut()
				return
			}
		case <-l.done:
			return
		}
	}
}

// memRelay is a relay Server over a SQLite store in a directory, reached
// through memLinks; restart shuts it down and opens a new one on the same
// data, as a relay restart does.
type memRelay struct {
	t   *testing.T
	dir string

	mu    sync.Mutex
	srv   *relay.Server // nil while restarting
	links []*memLink
}

func newMemRelay(t *testing.T) *memRelay {
	r := &memRelay{t: t, dir: t.TempDir()}
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *memRelay) start() {
	srv, err := relay.New(relay.Options{Data: r.dir, Secret: secret, Heartbeat: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

func (r *memRelay) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		r.t.Errorf("relay shutdown: %v", err)
	}
}

func (r *memRelay) restart() { r.stop(); r.start() }

// dial is the clients' Options.Dial.
func (r *memRelay) dial(ctx context.Context, url string) (Socket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return nil, errors.New("connection refused")
	}
	l := &memLink{in: make(chan []byte, 64), done: make(chan struct{}), signal: make(chan struct{}, 1)}
	sess := r.srv.Open(l, relay.ConnInfo{Remote: "memory"})
	if sess == nil {
		return nil, errors.New("connection refused")
	}
	l.sess = sess
	go l.pump()
	r.links = append(r.links, l)
	return clientSide{l}, nil
}

// cutOne cuts a random live link.
func (r *memRelay) cutOne(rng *rand.Rand) {
	r.mu.Lock()
	live := r.links[:0]
	for _, l := range r.links {
		select {
		case <-l.done:
		default:
			live = append(live, l)
		}
	}
	r.links = live
	var l *memLink
	if len(live) > 0 {
		l = live[rng.IntN(len(live))]
	}
	r.mu.Unlock()
	if l != nil {
		l.cut()
	}
}

// invariantSeed is $PARLEY_SEED when set, else a fresh seed.
func invariantSeed(t *testing.T) uint64 {
	if s := os.Getenv("PARLEY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_SEED: %v", err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestInvariantsInMemory runs the delivery guarantees through the real
// client and the real relay session and store, connected in memory instead
// of by WebSockets, so that many seeded runs of cuts and restarts take
// seconds: three users on two devices each send into a group and a
// one-to-one conversation while connections are cut at random and the
// relay restarts from its store. Every device must end with every message
// of its conversations once, with contiguous seqs, in the one order all
// members share, each sender's messages in the order they were sent.
func TestInvariantsInMemory(t *testing.T) {
	t.Parallel()
	seed := invariantSeed(t)
	t.Logf("seed %d (PARLEY_SEED=%d replays the same schedules)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for round := range invariantRounds {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) { invariantRound(t, rng.Uint64()) })
		if t.Failed() {
			return
		}
	}
}

// invariantRounds is how many independent schedules one run tries.
const invariantRounds = 8

func invariantRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r := newMemRelay(t)
	// A bound on liveness only: a round takes well under a second on an idle
	// machine, and the race detector on a loaded two-core machine slows it
	// many times over.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	type device struct {
		user, id string
		c        *Client
		convs    []string // what it sends into, in turn
		trace    *frameTrace
	}
	var devices []*device
	for _, user := range []string{"alice", "bob", "carol"} {
		for d := 1; d <= 2; d++ {
			dev := &device{user: user, id: fmt.Sprintf("%s-%d", user, d), trace: &frameTrace{}}
			dial := func(ctx context.Context, url string) (Socket, error) {
				s, err := r.dial(ctx, url)
				if err != nil {
					dev.trace.add("dial: " + err.Error())
					return nil, err
				}
				dev.trace.add("dial")
				return tracedSocket{s, dev.trace}, nil
			}
			c, err := New(Options{URL: "ws://memory", Token: tokenFor(t, user), Dial: dial, Seed: rng.Uint64(),
				Config: core.Config{DeviceID: dev.id, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			dev.c = c
			devices = append(devices, dev)
		}
	}
	for _, d := range devices {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	group, err := devices[0].c.CreateGroup(ctx, "", "everyone", []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	p2p := devices[0].c.P2P("bob")
	members := map[string][]string{group.ID: {"alice", "bob", "carol"}, p2p: {"alice", "bob"}}

	// The chaos: cuts every few milliseconds, a relay restart now and then.
	chaosDone := make(chan struct{})
	stopChaos := make(chan struct{})
	cuts, restarts := 0, 0
	crng := rand.New(rand.NewPCG(rng.Uint64(), 1)) // seeded here: rng is not shared across goroutines
	go func() {
		defer close(chaosDone)
		for {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Duration(1+crng.IntN(8)) * time.Millisecond):
			}
			if crng.IntN(15) == 0 {
				r.restart()
				restarts++
			} else {
				r.cutOne(crng)
				cuts++
			}
		}
	}()

	// Every device sends perDevice messages, alternating between the
	// conversations it belongs to, without waiting for acks.
	const perDevice = 60
	var wg, started sync.WaitGroup
	results := make(chan error, len(devices)*perDevice)
	for _, d := range devices {
		d.convs = []string{group.ID}
		if d.user != "carol" {
			d.convs = append(d.convs, p2p)
		}
		convs := d.convs
		srng := rand.New(rand.NewPCG(rng.Uint64(), 2))
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			defer started.Done()
			for i := range perDevice {
				conv := convs[i%len(convs)]
				_, res, err := d.c.SendAsync(conv, "text", fmt.Sprintf("%s/%d", d.id, i), nil)
				if err != nil {
					results <- fmt.Errorf("%s send %d: %w", d.id, i, err)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := <-res; r.Err != nil {
						results <- fmt.Errorf("%s send %d: %w", d.id, i, r.Err)
					}
				}()
				time.Sleep(time.Duration(srng.IntN(3)) * time.Millisecond)
			}
		}()
	}
	// The chaos goes on while the sends are made and for a second beyond
	// (or until every send is acknowledged, if that comes first), then
	// stops: every send must then be acknowledged. Cuts every few
	// milliseconds forever could starve a slow machine of any progress,
	// which would prove nothing about the guarantees.
	startedAll := make(chan struct{})
	go func() { started.Wait(); close(startedAll) }()
	wgDone := make(chan struct{})
	go func() { wg.Wait(); close(wgDone) }()
	select {
	case <-startedAll:
	case <-ctx.Done():
	}
	select {
	case <-wgDone:
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	close(stopChaos)
	<-chaosDone
	select {
	case <-wgDone:
	case <-ctx.Done():
		for _, d := range devices {
			t.Logf("%s's last frames:\n%s", d.id, d.trace)
		}
		t.Fatal("sends never all acknowledged after the chaos stopped")
	}
	close(results)
	for err := range results {
		t.Error(err)
	}
	t.Logf("%d cuts, %d relay restarts", cuts, restarts)
	if t.Failed() {
		return
	}

	// What each conversation must hold: every message of its members'
	// devices, each once, after a group's created message.
	want := map[string]int{}
	for conv := range members {
		if proto.KindOf(conv) == proto.KindGroup {
			want[conv] = 1
		}
	}
	for _, d := range devices {
		for i := range perDevice {
			want[d.convs[i%len(d.convs)]]++
		}
	}
	var reference map[string][]string // conv → texts in seq order, from the first device
	for _, d := range devices {
		for conv, users := range members {
			if !slices.Contains(users, d.user) {
				continue
			}
			if !eventually(ctx, func() bool { cv, _ := d.c.Conversation(conv); return cv.SyncedSeq == uint64(want[conv]) }) {
				cv, _ := d.c.Conversation(conv)
				t.Logf("the last frames of %s:\n%s", d.id, d.trace.String())
				t.Fatalf("%s (%s) never synced %s to seq %d: %+v", d.id, d.c.State(), conv, want[conv], cv)
			}
			msgs, err := d.c.opts.Store.Messages(conv, 0, 10*want[conv])
			if err != nil {
				t.Fatal(err)
			}
			texts := checkStream(t, d.id, conv, msgs, want[conv])
			if reference == nil {
				reference = map[string][]string{}
			}
			if ref, ok := reference[conv]; !ok {
				reference[conv] = texts
			} else if !slices.Equal(ref, texts) {
				t.Fatalf("%s holds %s in another order than the first member", d.id, conv)
			}
		}
	}
}

// checkStream checks one device's copy of a conversation: n messages with
// seqs 1..n (a group's first the created system message), each text once,
// and each sending device's messages in the order it sent them. It returns
// the texts in seq order.
func checkStream(t *testing.T, device, conv string, msgs []core.Message, n int) []string {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("%s holds %d messages of %s, want %d", device, len(msgs), conv, n)
	}
	seen := map[string]bool{}
	last := map[string]int{} // sending device → index of its last message
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		if m.Seq != uint64(i+1) || m.Status != core.StatusSent {
			t.Fatalf("%s: %s message %d has seq %d, status %v", device, conv, i, m.Seq, m.Status)
		}
		if i == 0 && m.Type == proto.MsgSystem && proto.KindOf(conv) == proto.KindGroup {
			texts[i] = "(created)"
			continue
		}
		if seen[m.Text] {
			t.Fatalf("%s: %s holds %q twice", device, conv, m.Text)
		}
		seen[m.Text] = true
		from, num, _ := strings.Cut(m.Text, "/")
		k, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("%s: %s holds %q, which nobody sent", device, conv, m.Text)
		}
		if prev, ok := last[from]; ok && k <= prev {
			t.Fatalf("%s: %s has %s's message %d after its message %d", device, conv, from, k, prev)
		}
		last[from] = k
		texts[i] = m.Text
	}
	return texts
}

// frameTrace keeps the last frames a device wrote and read, for the message
// of a failed run.
type frameTrace struct {
	mu    sync.Mutex
	lines []string
}

func (f *frameTrace) add(line string) {
	if strings.Contains(line, "ping #") || strings.Contains(line, "pong #") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, line)
	if len(f.lines) > 60 {
		f.lines = f.lines[len(f.lines)-60:]
	}
}

func (f *frameTrace) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.lines, "\n")
}

func describe(b []byte) string {
	fr, err := proto.Decode(b, 0)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	switch body := fr.Body.(type) {
	case *proto.History:
		return fmt.Sprintf("%s #%d %+v", fr.Type, fr.ID, *body)
	case *proto.HistoryPage:
		return fmt.Sprintf("%s #%d %s %d messages more=%v last=%d", fr.Type, fr.ID, body.ConvID, len(body.Messages), body.More, body.LastSeq)
	case *proto.ErrorBody:
		return fmt.Sprintf("%s #%d %+v", fr.Type, fr.ID, *body)
	case *proto.Deliver:
		return fmt.Sprintf("%s %s#%d", fr.Type, body.Message.ConvID, body.Message.Seq)
	case *proto.Ack:
		return fmt.Sprintf("%s #%d seq %d", fr.Type, fr.ID, body.Seq)
	case *proto.Sync:
		return fmt.Sprintf("%s #%d %+v", fr.Type, fr.ID, *body)
	}
	return fmt.Sprintf("%s #%d", fr.Type, fr.ID)
}

// tracedSocket records every frame through a Socket.
type tracedSocket struct {
	Socket
	trace *frameTrace
}

func (s tracedSocket) Read(ctx context.Context) ([]byte, error) {
	b, err := s.Socket.Read(ctx)
	if err != nil {
		s.trace.add("← " + err.Error())
	} else {
		s.trace.add("← " + describe(b))
	}
	return b, err
}

func (s tracedSocket) Write(ctx context.Context, b []byte) error {
	s.trace.add("→ " + describe(b))
	return s.Socket.Write(ctx, b)
}
