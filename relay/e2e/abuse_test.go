package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/internal/buswire"
)

// The abuse suite: one attack per real relay process, each refused by its
// limit, while a healthy pair of clients on the same relay keeps chatting —
// every message delivered, none slower than healthyBound — and the relay's
// resident memory stays under rssBound. The bounds are generous: a loaded
// machine must not fail them, a relay that falls over must.
const (
	healthyBound = 3 * time.Second
	rssBound     = 400 << 20
)

// healthyPair is alice sending to bob every 100 ms for the length of an
// attack, bob reading, each message timed from send to deliver.
type healthyPair struct {
	t     *testing.T
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	lat   []time.Duration
	fails []string
}

func startPair(t *testing.T, relay *relayProc) *healthyPair {
	t.Helper()
	return startPairOn(t, relay, relay)
}

// startPairOn is startPair with alice on relay a and bob on relay b.
func startPairOn(t *testing.T, a, b *relayProc) *healthyPair {
	t.Helper()
	relay := a
	alice := dialRaw(t, relay.wsURL())
	alice.hello("alice", "a1")
	relay = b
	bob := dialRaw(t, relay.wsURL())
	bob.hello("bob", "b1")
	p := &healthyPair{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	conv := proto.P2PID("alice", "bob")
	go func() {
		defer close(p.done)
		for i := uint64(1); ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			start := time.Now()
			id := fmt.Sprint("h", i)
			if err := alice.writeBytes(proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: i + 1,
				Body: &proto.Send{ConvID: conv, ClientID: id, MsgType: proto.MsgText, Text: "still here"}})); err != nil {
				p.fail("send %s: %v", id, err)
				return
			}
			if err := awaitDeliver(bob, id); err != nil {
				p.fail("deliver %s: %v", id, err)
				return
			}
			if err := awaitReply(alice, i+1); err != nil {
				p.fail("ack %s: %v", id, err)
				return
			}
			p.mu.Lock()
			p.lat = append(p.lat, time.Since(start))
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *healthyPair) fail(format string, args ...any) {
	p.mu.Lock()
	p.fails = append(p.fails, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

// check ends the pair and fails the test unless every message came through
// within healthyBound.
func (p *healthyPair) check() {
	p.t.Helper()
	// However short the attack, the pair exchanges a few messages.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p.mu.Lock()
		n, failed := len(p.lat), len(p.fails) > 0
		p.mu.Unlock()
		if n >= 5 || failed {
			break
		}
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.fails) > 0 {
		p.t.Fatalf("the healthy pair failed during the attack: %s", strings.Join(p.fails, "; "))
	}
	if len(p.lat) == 0 {
		p.t.Fatal("the healthy pair exchanged nothing during the attack")
	}
	slices.Sort(p.lat)
	if worst := p.lat[len(p.lat)-1]; worst > healthyBound {
		p.t.Fatalf("the healthy pair's slowest message took %v (p50 %v), above %v", worst, p.lat[len(p.lat)/2], healthyBound)
	}
	p.t.Logf("healthy pair: %d messages, p50 %v, max %v", len(p.lat), p.lat[len(p.lat)/2], p.lat[len(p.lat)-1])
}

func awaitDeliver(c *rawConn, clientID string) error {
	for {
		f, err := c.recv(healthyBound + 5*time.Second)
		if err != nil {
			return err
		}
		if d, ok := f.Body.(*proto.Deliver); ok && d.Message.ClientID == clientID {
			return nil
		}
	}
}

func awaitReply(c *rawConn, id uint64) error {
	for {
		f, err := c.recv(healthyBound + 5*time.Second)
		if err != nil {
			return err
		}
		if f.ID == id {
			if f.Type != proto.TypeAck {
				return fmt.Errorf("got %s", f.Type)
			}
			return nil
		}
	}
}

// checkRSS fails the test when the relay's resident memory is above
// rssBound.
func checkRSS(t *testing.T, relay *relayProc) {
	skipOnEdge(t, "the resident memory measured is the native relay process's")
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", relay.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("relay status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if kb<<10 > rssBound {
				t.Fatalf("relay RSS %d MiB above %d MiB", kb>>10, rssBound>>20)
			}
			t.Logf("relay RSS %d MiB", kb>>10)
			return
		}
	}
	t.Fatal("no VmRSS in the relay's status")
}

// refused returns the relay's count of refusals by limit.
func refused(t *testing.T, relay *relayProc, limit string) int {
	t.Helper()
	return metric(t, relay, fmt.Sprintf(`parley_limit_refused_total{limit=%q}`, limit))
}

// closedBy reports whether the relay closed c within d.
func closedBy(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestAbuseIdleKeepAlives(t *testing.T) {
	skipOnEdge(t, "idle HTTP keep-alives are the native listener's; on Workers, Cloudflare terminates HTTP")
	t.Parallel()
	relay := startRelay(t)
	pair := startPair(t, relay)
	// 100 connections that each ask for /healthz once, then idle.
	var conns []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", relay.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conns = append(conns, c)
	}
	// The idle timeout is 5 s: every one is closed well within 15.
	deadline := time.Now().Add(15 * time.Second)
	for i, c := range conns {
		if !closedBy(c, time.Until(deadline)) {
			t.Fatalf("idle keep-alive %d still open after 15 s", i)
		}
	}
	pair.check()
	checkRSS(t, relay)
}

func TestAbuseConnectionFloodOneIP(t *testing.T) {
	t.Parallel()
	const perIP = 40
	relay := startRelay(t, "--max-conns-per-ip", strconv.Itoa(perIP))
	pair := startPair(t, relay) // two of the forty
	var open []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", relay.addr)
		if err != nil {
			continue // the backlog may refuse some outright
		}
		defer c.Close()
		open = append(open, c)
	}
	alive := 0
	for _, c := range open {
		if !closedBy(c, 50*time.Millisecond) {
			alive++
		}
	}
	if alive > perIP-2 {
		t.Fatalf("%d flood connections held open, above the per-address limit of %d", alive, perIP)
	}
	if n := refused(t, relay, "max_conns_per_ip"); n < 200-perIP {
		t.Fatalf("%d connections refused by the per-address limit, want at least %d", n, 200-perIP)
	}
	pair.check()
	checkRSS(t, relay)
}

func TestAbuseSessionFloodOneUser(t *testing.T) {
	t.Parallel()
	const perUser = 5
	relay := startRelay(t, "--max-sessions-per-user", strconv.Itoa(perUser))
	pair := startPair(t, relay)
	welcomed, tooMany := 0, 0
	for i := range 40 {
		c := dialRaw(t, relay.wsURL())
		c.send(proto.TypeHello, 1, &proto.Hello{Version: proto.Version, Token: token("mallory", time.Hour), DeviceID: fmt.Sprint("m", i)})
		f, err := c.recv(10 * time.Second)
		switch {
		case err == nil && f.Type == proto.TypeWelcome:
			welcomed++
		case err == nil && f.Type == proto.TypeClose && f.Body.(*proto.Close).Code == proto.CodeTooManySessions:
			tooMany++
		default:
			t.Fatalf("session %d: %v %v", i, f.Type, err)
		}
	}
	if welcomed != perUser || tooMany != 40-perUser {
		t.Fatalf("%d sessions welcomed and %d refused with 4106, want %d and %d", welcomed, tooMany, perUser, 40-perUser)
	}
	pair.check()
	checkRSS(t, relay)
}

// paddedPing is a Ping of size bytes: {1: Ping, 3: {1: 1, 99: padding}}.
func paddedPing(size int) []byte {
	pad := size - 12
	b := []byte{0xa2, 0x01, byte(proto.TypePing), 0x03, 0xa2, 0x01, 0x01, 0x18, 99, 0x59, 0, 0}
	binary.BigEndian.PutUint16(b[10:], uint16(pad))
	return append(b, make([]byte, pad)...)
}

func TestAbusePaddedPings(t *testing.T) {
	t.Parallel()
	relay := startRelay(t)
	pair := startPair(t, relay)
	ping := paddedPing(61 << 10)
	// Six connections of one user, each sending padded pings until it is
	// closed, then coming back, for two seconds.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ws, _, err := websocket.Dial(ctx, relay.wsURL()+"?user=mallory", nil) // the user named, as the SDK does
				if err != nil {
					cancel()
					continue
				}
				hello := proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: token("mallory", time.Hour), DeviceID: fmt.Sprint("p", w)}})
				_ = ws.Write(ctx, websocket.MessageBinary, hello)
				for range 3 {
					if ws.Write(ctx, websocket.MessageBinary, ping) != nil {
						break
					}
				}
				for {
					if _, _, err = ws.Read(ctx); err != nil {
						break
					}
				}
				mu.Lock()
				codes[int(websocket.CloseStatus(err))]++
				mu.Unlock()
				ws.CloseNow()
				cancel()
			}
		}()
	}
	wg.Wait()
	if codes[int(proto.CodeFrameTooLarge)] == 0 {
		t.Fatalf("no padded ping was refused with 4007: %v", codes)
	}
	for code, n := range codes {
		// 4104: the user's byte rate may trip first, on pings sent faster
		// than the relay refuses them.
		if code != int(proto.CodeFrameTooLarge) && code != int(proto.CodeRateLimited) && code != int(proto.CodeKicked) {
			t.Errorf("%d connections ended with %d", n, code)
		}
	}
	if n := refused(t, relay, "control_frame_size"); n == 0 {
		t.Fatal("the control frame limit counted no refusal")
	}
	pair.check()
	checkRSS(t, relay)
}

func TestAbuseNonReadingConsumers(t *testing.T) {
	t.Parallel()
	// The sender pipelines all its sends: admission control (4301) is not
	// what this test is about.
	relay := startRelay(t, "--send-queue-bytes", "262144", "--user-byte-rate", "-1", "--max-inflight-per-conn", "-1")
	pair := startPair(t, relay)
	const members = 20
	sender := dialRaw(t, relay.wsURL())
	sender.hello("sender", "s1")
	var ids []string
	for i := range members {
		ids = append(ids, fmt.Sprint("sloth", i))
	}
	sender.send(proto.TypeCreateGroup, 2, &proto.CreateGroup{Key: "sloths", Members: ids})
	created := sender.reply(2)
	if created.Type != proto.TypeConvResult {
		t.Fatalf("create group: %s", created.Type)
	}
	sloths := created.Body.(*proto.ConvResult).Conversation.ID // named by the relay
	// The members say hello and never read again.
	for _, id := range ids {
		c := dialRaw(t, relay.wsURL())
		c.send(proto.TypeHello, 1, &proto.Hello{Version: proto.Version, Token: token(id, time.Hour), DeviceID: "d"})
	}
	body := make([]byte, 30<<10)
	go func() {
		for k := range 400 {
			if sender.writeBytes(proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: uint64(100 + k),
				Body: &proto.Send{ConvID: sloths, ClientID: fmt.Sprint(k), MsgType: proto.MsgCustom, Body: body}})) != nil {
				return
			}
		}
	}()
	for k := range 400 {
		if f := sender.reply(uint64(100 + k)); f.Type != proto.TypeAck {
			t.Fatalf("send %d: %s", k, f.Type)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for closes(t, relay, proto.CodeSlowConsumer) < members {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d non-reading members closed with 4102", closes(t, relay, proto.CodeSlowConsumer), members)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if refused(t, relay, "send_queue_bytes") == 0 {
		t.Fatal("no member was closed by the bytes bound of its queue")
	}
	pair.check()
	checkRSS(t, relay)
}

func TestAbuseHistoryAmplification(t *testing.T) {
	t.Parallel()
	relay := startRelay(t, "--user-byte-rate", "-1")
	// 200 messages of 30 KiB, and 60 conversations whose last message is
	// that large.
	writer := dialRaw(t, relay.wsURL())
	writer.hello("reader", "w1") // the reader's own device writes them
	conv := proto.P2PID("reader", "writer")
	body := make([]byte, 30<<10)
	id := uint64(10)
	send := func(conv, clientID string) {
		id++
		writer.send(proto.TypeSend, id, &proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgCustom, Body: body})
		if f := writer.reply(id); f.Type != proto.TypeAck {
			t.Fatalf("send %s: %s", clientID, f.Type)
		}
	}
	for k := range 200 {
		send(conv, fmt.Sprint("m", k))
	}
	for k := range 60 {
		send(proto.P2PID("reader", fmt.Sprint("w", k)), fmt.Sprint("o", k))
	}
	pair := startPair(t, relay)
	// Eight readers ask for the largest pages there are, over and over.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, relay.wsURL())
			c.hello("reader", fmt.Sprint("r", r))
			for k := range 20 {
				rid := uint64(100 + k)
				if k%2 == 0 {
					c.send(proto.TypeHistory, rid, &proto.History{ConvID: conv, Before: 1<<64 - 1, Limit: proto.MaxPageLimit})
				} else {
					c.send(proto.TypeSync, rid, &proto.Sync{Limit: proto.MaxPageLimit})
				}
				f := c.reply(rid)
				switch b := f.Body.(type) {
				case *proto.HistoryPage:
					if len(b.Messages) > 3 || !b.More {
						errs <- fmt.Errorf("history page of %d messages of 30 KiB (more %v)", len(b.Messages), b.More)
						return
					}
				case *proto.SyncResult:
					if len(b.Conversations) > 3 || !b.More {
						errs <- fmt.Errorf("sync page of %d conversations with 30 KiB last messages (more %v)", len(b.Conversations), b.More)
						return
					}
				default:
					errs <- fmt.Errorf("reply %s", f.Type)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pair.check()
	checkRSS(t, relay)
}

func TestAbuseGroupCreationSpam(t *testing.T) {
	t.Parallel()
	const perHour = 20
	relay := startRelay(t, "--max-groups-per-hour", strconv.Itoa(perHour))
	pair := startPair(t, relay)
	// mallory pipelines 100 creates, each a new group with bob, the healthy
	// pair's reader, in it.
	m := dialRaw(t, relay.wsURL())
	m.hello("mallory", "m1")
	const n = 100
	go func() {
		for k := range n {
			if m.writeBytes(proto.MustEncode(proto.Frame{Type: proto.TypeCreateGroup, ID: uint64(10 + k),
				Body: &proto.CreateGroup{Name: "spam", Members: []string{"bob"}, Key: fmt.Sprint("spam", k)}})) != nil {
				return
			}
		}
	}()
	created, limited := 0, 0
	for k := range n {
		switch f := m.reply(uint64(10 + k)); {
		case f.Type == proto.TypeConvResult:
			created++
		case f.Type == proto.TypeError && f.Body.(*proto.ErrorBody).Code == proto.CodeGroupLimit:
			limited++
		default:
			t.Fatalf("create %d: %s %+v", k, f.Type, f.Body)
		}
	}
	// The count is read outside the create's transaction: creates in flight
	// together may pass the limit by a few, never by many.
	if created < perHour || created > perHour+4 || limited != n-created {
		t.Fatalf("%d groups created and %d refused with 4257, want %d (a few more at most) and the rest", created, limited, perHour)
	}
	t.Logf("%d groups created, %d refused with 4257", created, limited)
	pair.check()
	checkRSS(t, relay)
}

// TestAbuseGlobalConnectionLimit: --max-conns holds whatever the addresses
// (one address here, with the per-address limit off).
func TestAbuseGlobalConnectionLimit(t *testing.T) {
	t.Parallel()
	const limit = 40
	relay := startRelay(t, "--max-conns", strconv.Itoa(limit), "--max-conns-per-ip", "-1")
	pair := startPair(t, relay) // two of the forty
	var open []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", relay.addr)
		if err != nil {
			continue
		}
		defer c.Close()
		open = append(open, c)
	}
	alive := 0
	for _, c := range open {
		if !closedBy(c, 50*time.Millisecond) {
			alive++
		}
	}
	if alive > limit-2 {
		t.Fatalf("%d flood connections held open, above the limit of %d", alive, limit)
	}
	if n := refused(t, relay, "max_conns"); n < 200-limit {
		t.Fatalf("%d connections refused by --max-conns, want at least %d", n, 200-limit)
	}
	pair.check()
	checkRSS(t, relay)
}

// recvSized reads the next frame and its size on the wire.
func recvSized(t *testing.T, c *rawConn) (proto.Frame, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := proto.Decode(b, 16<<20)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return f, len(b)
}

// TestAbuseSyncAmplificationGroups: a user in 40 groups of 150 members,
// each ending with a 30 KiB message, asks for the largest sync pages there
// are, from eight devices at once. Each page stays within the byte budget
// (a few conversations, never the 40 × 30 KiB plus 6,000 member ids one
// request could ask for), the pages still add up to every group, and the
// healthy pair keeps chatting.
func TestAbuseSyncAmplificationGroups(t *testing.T) {
	t.Parallel()
	relay := startRelay(t, "--user-byte-rate", "-1", "--max-groups-per-hour", "-1")
	owner := dialRaw(t, relay.wsURL())
	owner.hello("owner", "o1")
	var members []string
	for i := range 149 {
		members = append(members, fmt.Sprint("member", i))
	}
	members[0] = "reader"
	body := make([]byte, 30<<10)
	const groups = 40
	for g := range groups {
		owner.send(proto.TypeCreateGroup, uint64(10+2*g), &proto.CreateGroup{Name: fmt.Sprint("big", g), Members: members, Key: fmt.Sprint("big", g)})
		f := owner.reply(uint64(10 + 2*g))
		if f.Type != proto.TypeConvResult {
			t.Fatalf("create %d: %s", g, f.Type)
		}
		owner.send(proto.TypeSend, uint64(11+2*g), &proto.Send{ConvID: f.Body.(*proto.ConvResult).Conversation.ID, ClientID: fmt.Sprint("b", g), MsgType: proto.MsgCustom, Body: body})
		if f := owner.reply(uint64(11 + 2*g)); f.Type != proto.TypeAck {
			t.Fatalf("send %d: %s", g, f.Type)
		}
	}
	pair := startPair(t, relay)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, relay.wsURL())
			c.hello("reader", fmt.Sprint("r", r))
			for round := range 3 {
				var cursor uint64
				seen := 0
				for page := uint64(0); ; page++ {
					rid := 100 + uint64(round)*1000 + page
					c.send(proto.TypeSync, rid, &proto.Sync{Cursor: cursor, Limit: proto.MaxPageLimit})
					var f proto.Frame
					var size int
					for {
						if f, size = recvSized(t, c); f.ID == rid {
							break
						}
					}
					res, ok := f.Body.(*proto.SyncResult)
					if !ok {
						errs <- fmt.Errorf("sync answered %s", f.Type)
						return
					}
					// The 64 KiB content budget (one item at least), plus
					// ids and member lists.
					if size > 160<<10 || len(res.Conversations) > 3 {
						errs <- fmt.Errorf("a sync page of %d conversations and %d bytes", len(res.Conversations), size)
						return
					}
					seen += len(res.Conversations)
					cursor = res.Cursor
					if !res.More {
						break
					}
				}
				if seen < groups {
					errs <- fmt.Errorf("the pages listed %d conversations, want the %d groups", seen, groups)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pair.check()
	checkRSS(t, relay)
}

// TestAbuseNATSInjection: two relay processes on one NATS (and one
// PostgreSQL), the healthy pair across them, and a stranger on the NATS
// publishing raw envelopes on the relays' subjects: a deliver "from bob" and
// a kick for carol's phone, and a lost. With --bus-key every forgery is
// dropped and counted in parley_bus_rejected_total while the pair's signed
// traffic flows; without it — what docs/security.md warns of — carol is
// shown the forged message and her phone is closed.
func TestAbuseNATSInjection(t *testing.T) {
	skipOnEdge(t, "the bus joins native relays")
	t.Parallel()
	natsURL := testsvc.NATSURL(t)
	pg := testsvc.PostgresURL(t)
	for _, keyed := range []bool{true, false} {
		t.Run(fmt.Sprintf("key=%v", keyed), func(t *testing.T) {
			t.Parallel()
			prefix := fmt.Sprintf("abuse%d", time.Now().UnixNano())
			args := []string{"--store", testsvc.FreshSchema(t, pg), "--bus", natsURL, "--bus-prefix", prefix}
			if keyed {
				args = append(args, "--bus-key", "abuse-bus-key-0123456789abcdef0123456789")
			}
			a := startRelay(t, args...)
			b := startRelay(t, args...)
			pair := startPairOn(t, a, b)
			carol := dialRaw(t, a.wsURL())
			carol.hello("carol", "phone")

			nc, err := nats.Connect(natsURL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			subject := prefix + ".u." + base64.RawURLEncoding.EncodeToString([]byte("carol"))
			forged := proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: proto.Message{
				ConvID: proto.P2PID("bob", "carol"), Seq: 1, Sender: "bob", ClientID: "forged", MsgType: proto.MsgText, Text: "send me your password", CreatedAt: 1}}})
			for _, pub := range []struct {
				subject string
				data    []byte
			}{
				{prefix + ".lost", nil},
				{subject, buswire.Encode(buswire.Envelope{Frame: forged})},
				{subject, buswire.Encode(buswire.Envelope{Except: "x", Kick: "phone", KickAt: uint64(time.Now().Add(time.Hour).UnixNano())})},
			} {
				if err := nc.Publish(pub.subject, pub.data); err != nil {
					t.Fatal(err)
				}
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			if !keyed {
				// The forged deliver is shown, then the forged kick closes
				// the phone.
				sawForged := false
				for {
					f, err := carol.recv(10 * time.Second)
					if err != nil {
						if websocket.CloseStatus(err) != websocket.StatusCode(proto.CodeKicked) {
							t.Fatalf("carol's phone ended with %v, want the forged kick's %d", err, proto.CodeKicked)
						}
						break
					}
					if d, ok := f.Body.(*proto.Deliver); ok && d.Message.ClientID == "forged" {
						sawForged = true
					}
				}
				if !sawForged {
					t.Fatal("without the bus key the forged deliver did not reach carol")
				}
				pair.check()
				return
			}
			// Relay a holds carol: the lost, the deliver and the kick; relay
			// b the lost.
			for deadline := time.Now().Add(10 * time.Second); metric(t, a, "parley_bus_rejected_total") < 3 || metric(t, b, "parley_bus_rejected_total") < 1; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("forgeries counted: relay a %d, want 3; relay b %d, want 1",
						metric(t, a, "parley_bus_rejected_total"), metric(t, b, "parley_bus_rejected_total"))
				}
			}
			// carol's phone is open and was shown nothing.
			carol.send(proto.TypePing, 9, &proto.Ping{Time: 1})
			for {
				f, err := carol.recv(10 * time.Second)
				if err != nil {
					t.Fatalf("carol's phone after the forgeries: %v", err)
				}
				if f.ID == 9 && f.Type == proto.TypePong {
					break
				}
				if f.Type == proto.TypeDeliver || f.Type == proto.TypeResync {
					t.Fatalf("carol got a forged %s", f.Type)
				}
			}
			pair.check()
			checkRSS(t, a)
			checkRSS(t, b)
		})
	}
}
