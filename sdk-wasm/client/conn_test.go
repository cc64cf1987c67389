package client

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// pipeSocket is one end of an in-memory connection: the test plays the
// relay on the other end, frame by frame.
type pipeSocket struct {
	toClient   chan pipeRead
	fromClient chan []byte
	ended      chan struct{}
	once       sync.Once
}

type pipeRead struct {
	b   []byte
	err error
}

func newPipe() *pipeSocket {
	return &pipeSocket{toClient: make(chan pipeRead, 64), fromClient: make(chan []byte), ended: make(chan struct{})}
}

func (p *pipeSocket) Read(ctx context.Context) ([]byte, error) {
	select {
	case r := <-p.toClient:
		if r.err != nil {
			p.end()
		}
		return r.b, r.err
	case <-p.ended:
		return nil, errors.New("pipe closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeSocket) Write(ctx context.Context, b []byte) error {
	select {
	case p.fromClient <- b:
		return nil
	case <-p.ended:
		return errors.New("pipe closed")
	}
}

func (p *pipeSocket) Close(code proto.Code, reason string) error {
	p.end()
	return nil
}

func (p *pipeSocket) end() { p.once.Do(func() { close(p.ended) }) }

// fakeRelay answers a client's dials with pipes.
type fakeRelay struct {
	t     *testing.T
	socks chan *pipeSocket
	urls  chan string // the URL of each dial, when not nil
}

func newFakeRelay(t *testing.T) *fakeRelay {
	return &fakeRelay{t: t, socks: make(chan *pipeSocket, 8)}
}

func (r *fakeRelay) dial(ctx context.Context, url string) (Socket, error) {
	if r.urls != nil {
		r.urls <- url
	}
	p := newPipe()
	r.socks <- p
	return p, nil
}

// next returns the next frame the client wrote on p.
func (r *fakeRelay) next(p *pipeSocket) proto.Frame {
	r.t.Helper()
	select {
	case b := <-p.fromClient:
		f, err := proto.Decode(b, 0)
		if err != nil {
			r.t.Fatalf("the client wrote an undecodable frame: %v", err)
		}
		return f
	case <-time.After(10 * time.Second):
		r.t.Fatal("the client wrote nothing")
		return proto.Frame{}
	}
}

func (r *fakeRelay) send(p *pipeSocket, t proto.Type, id uint64, body any) {
	p.toClient <- pipeRead{b: proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})}
}

// accept takes the client's next dial and welcomes it as user.
func (r *fakeRelay) accept(user string) *pipeSocket {
	r.t.Helper()
	var p *pipeSocket
	select {
	case p = <-r.socks:
	case <-time.After(10 * time.Second):
		r.t.Fatal("the client never dialed")
	}
	hello := r.next(p)
	if hello.Type != proto.TypeHello {
		r.t.Fatalf("first frame %s, want hello", hello.Type)
	}
	r.send(p, proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: user, Epoch: "e1"})
	sync := r.next(p)
	if sync.Type != proto.TypeSync {
		r.t.Fatalf("frame after welcome %s, want sync", sync.Type)
	}
	r.send(p, proto.TypeSyncResult, sync.ID, &proto.SyncResult{})
	return p
}

// connect connects c through the fake relay as user.
func (r *fakeRelay) connect(ctx context.Context, c *Client, user string) *pipeSocket {
	r.t.Helper()
	connected := make(chan error, 1)
	go func() { connected <- c.Connect(ctx) }()
	p := r.accept(user)
	if err := <-connected; err != nil {
		r.t.Fatal(err)
	}
	return p
}

func openPiped(t *testing.T, r *fakeRelay) *Client {
	t.Helper()
	c, err := New(Options{URL: "ws://pipe", Token: "t", Dial: r.dial, Seed: 3,
		Config: core.Config{DeviceID: "d1", MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The frames of one connection leave in the order the core wrote them:
// every send of a burst, queued while the socket takes nothing (the pipe
// is unbuffered and the relay not reading), reaches the relay in send
// order, and each resolves with its own ack.
func TestConnWritesInOrder(t *testing.T) {
	t.Parallel()
	r := newFakeRelay(t)
	c := openPiped(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := r.connect(ctx, c, "alice")
	conv := proto.P2PID("alice", "bob")
	const n = 50
	var want []string
	var results []<-chan SendResult
	for i := 0; i < n; i++ {
		m, res, err := c.SendAsync(conv, proto.MsgText, "m", nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.ClientID)
		results = append(results, res)
	}
	for i := 0; i < n; {
		f := r.next(p)
		s, ok := f.Body.(*proto.Send)
		if !ok {
			continue // pings and the like
		}
		if s.ClientID != want[i] {
			t.Fatalf("send %d on the wire is %s, want %s", i, s.ClientID, want[i])
		}
		r.send(p, proto.TypeAck, f.ID, &proto.Ack{ConvID: conv, ClientID: s.ClientID, Seq: uint64(i + 1), CreatedAt: 1})
		i++
	}
	for i, res := range results {
		select {
		case sr := <-res:
			if sr.Err != nil || sr.Message.Seq != uint64(i+1) || sr.Message.ClientID != want[i] {
				t.Fatalf("send %d resolved with %+v", i, sr)
			}
		case <-ctx.Done():
			t.Fatalf("send %d never resolved", i)
		}
	}
}

// The close code a socket reports reaches the core: a relay that closes
// with a terminal code stops the client (Connect fails with it, a kicked
// event carries it) instead of reconnecting.
func TestConnCloseCodeReachesTheCore(t *testing.T) {
	t.Parallel()
	r := newFakeRelay(t)
	c := openPiped(t, r)
	kicked := make(chan core.Event, 1)
	c.On(func(e core.Event) {
		if e.Kind == core.EventKicked {
			kicked <- e
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := r.connect(ctx, c, "alice")
	p.toClient <- pipeRead{err: &CloseError{Code: proto.CodeKicked, Reason: "another device"}}
	select {
	case e := <-kicked:
		if e.Code != proto.CodeKicked || e.Reason != "another device" {
			t.Fatalf("kicked with %d %q", e.Code, e.Reason)
		}
	case <-ctx.Done():
		t.Fatalf("no kicked event; state %s", c.State())
	}
	if c.State() != core.StateDisconnected {
		t.Fatalf("state %s after a terminal close, want disconnected", c.State())
	}
	select {
	case <-r.socks:
		t.Fatal("the client dialed again after a terminal close")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPickDeviceID(t *testing.T) {
	t.Parallel()
	rnd := func() uint64 { return 0xdeadbeef }
	if got := pickDeviceID("cfg", "stored", rnd); got != "cfg" {
		t.Fatalf("configured: %q", got)
	}
	if got := pickDeviceID("", "stored", rnd); got != "stored" {
		t.Fatalf("stored: %q", got)
	}
	got := pickDeviceID("", "", rnd)
	if !regexp.MustCompile(`^[a-z]-[0-9a-f]{8}$`).MatchString(got) || got[:2] != deviceIDPrefix || !proto.ValidName(got) {
		t.Fatalf("generated: %q", got)
	}
}

func TestWithUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, user, want string }{
		{"ws://127.0.0.1:8787/v1/ws", "alice", "ws://127.0.0.1:8787/v1/ws?user=alice"},
		{"wss://chat.example.com/v1/ws?", "alice", "wss://chat.example.com/v1/ws?user=alice"},
		{"wss://chat.example.com/v1/ws?app=7&v=2", "bob", "wss://chat.example.com/v1/ws?app=7&v=2&user=bob"},
		{"wss://chat.example.com/v1/ws?user=mallory", "bob", "wss://chat.example.com/v1/ws?user=bob"},
		{"wss://chat.example.com/v1/ws?user=a&app=7&user=b&username=c", "bob", "wss://chat.example.com/v1/ws?app=7&username=c&user=bob"},
		{"wss://chat.example.com/v1/ws?app=7#top", "bob", "wss://chat.example.com/v1/ws?app=7&user=bob#top"},
		{"ws://h/v1/ws", "a.b_c-d@example.com", "ws://h/v1/ws?user=a.b_c-d%40example.com"},
		{"ws://h/v1/ws", "zoë 1&x", "ws://h/v1/ws?user=zo%C3%AB%201%26x"},
		{"ws://h/v1/ws?user=mallory", "", "ws://h/v1/ws?user=mallory"},
	} {
		if got := withUser(tc.url, tc.user); got != tc.want {
			t.Errorf("withUser(%q, %q) = %q, want %q", tc.url, tc.user, got, tc.want)
		}
	}
}

// TestDialNamesUser: every dial's URL names the user of the token it
// presents, the configured query kept.
func TestDialNamesUser(t *testing.T) {
	t.Parallel()
	r := newFakeRelay(t)
	r.urls = make(chan string, 8)
	c, err := New(Options{URL: "ws://pipe/v1/ws?app=7&user=mallory", Token: unsignedToken("a@b"), Dial: r.dial, Seed: 3,
		Config: core.Config{DeviceID: "d1", MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := r.connect(ctx, c, "a@b")
	if got, want := <-r.urls, "ws://pipe/v1/ws?app=7&user=a%40b"; got != want {
		t.Fatalf("dialed %s, want %s", got, want)
	}
	p.end() // the connection drops; the redial names the user again
	r.accept("a@b")
	if got, want := <-r.urls, "ws://pipe/v1/ws?app=7&user=a%40b"; got != want {
		t.Fatalf("redialed %s, want %s", got, want)
	}
}

// unsignedToken is a JWT for sub that only the client reads: no relay
// would take it.
func unsignedToken(sub string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"`+sub+`"}`)) + ".c2ln"
}
