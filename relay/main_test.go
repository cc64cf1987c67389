//go:build !js

package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

const testSecret = "test-secret-0123456789abcdef0123456789"

// testLogger discards logs unless PARLEY_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testRelay is a relay on a loopback port, shut down with the test.
type testRelay struct {
	t   testing.TB
	srv *Server
	url string // http://127.0.0.1:port
}

// startRelay runs a relay with a memory store, changed by mod when not nil.
func startRelay(t testing.TB, mod func(*Options)) *testRelay {
	t.Helper()
	// Client-chosen ids, as newServer.
	o := Options{Data: t.TempDir(), Secret: testSecret, Logger: testLogger(), Store: NewMemoryStore(), GroupIDs: rules.GroupIDsClient}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	ok(t, err)
	ln, err := listen()
	ok(t, err)
	served := make(chan error, 1)
	// One address for both handlers keeps the tests' scrapes simple; the
	// binary serves them apart (TestServeAdmin).
	both := http.NewServeMux()
	both.Handle("/", srv.Handler())
	both.Handle("GET /metrics", srv.AdminHandler())
	both.Handle("/admin/", srv.AdminHandler())
	go func() { served <- srv.ServeHandler(ln, both) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return &testRelay{t: t, srv: srv, url: "http://" + ln.Addr().String()}
}

// token mints a valid token for user.
func (r *testRelay) token(user string) string {
	tok, err := MintToken(testSecret, user, time.Hour, time.Now())
	ok(r.t, err)
	return tok
}

// waitMetric waits until metric name reads want.
func (r *testRelay) waitMetric(name, want string) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.metric(name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("metric %s: got %q, want %q", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

var plainHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 2 * time.Second}, Timeout: 5 * time.Second}

// get fetches path and returns the status and body.
func (r *testRelay) get(path string) (int, string) {
	r.t.Helper()
	resp, err := plainHTTP.Get(r.url + path)
	ok(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ok(r.t, err)
	return resp.StatusCode, string(b)
}

// metric returns the value of the metric line starting with name (labels
// included), or "" when absent.
func (r *testRelay) metric(name string) string {
	r.t.Helper()
	_, body := r.get("/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), name+" "); found {
			return v
		}
	}
	return ""
}

// client is a raw test client: coder/websocket plus proto, nothing else.
type client struct {
	t       testing.TB
	c       *websocket.Conn
	frames  chan proto.Frame // filled by the read goroutine
	done    chan struct{}    // closed when the read goroutine ends
	err     error            // why it ended; read after done
	backlog []proto.Frame    // frames read while waiting for another
	nextID  atomic.Uint64
	// closeFrame is the Close the relay sent, once expectClose returned.
	closeFrame *proto.Close
}

// dial connects without saying Hello. reading starts the read goroutine;
// a client that never reads passes false.
func dial(t testing.TB, r *testRelay, reading bool) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.url, "http")+"/v1/ws", &websocket.DialOptions{HTTPClient: plainHTTP})
	ok(t, err)
	c.SetReadLimit(-1)
	cl := &client{t: t, c: c, frames: make(chan proto.Frame, 8192), done: make(chan struct{})}
	if reading {
		go cl.readLoop()
	} else {
		close(cl.done)
		close(cl.frames)
	}
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-cl.done
	})
	return cl
}

func (c *client) readLoop() {
	defer close(c.done)
	defer close(c.frames)
	for {
		typ, b, err := c.c.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageBinary {
			c.err = fmt.Errorf("relay sent a %v message", typ)
			return
		}
		f, err := proto.Decode(b, 1<<20)
		if err != nil {
			c.err = fmt.Errorf("relay sent an undecodable frame: %w", err)
			return
		}
		c.frames <- f
	}
}

// login dials and completes Hello for user on device.
func login(t testing.TB, r *testRelay, user, device string) (*client, *proto.Welcome) {
	t.Helper()
	c := dial(t, r, true)
	f := c.call(proto.TypeHello, &proto.Hello{Version: proto.Version, Token: r.token(user), DeviceID: device})
	if f.Type != proto.TypeWelcome {
		t.Fatalf("hello: got %s %+v, want welcome", f.Type, f.Body)
	}
	return c, f.Body.(*proto.Welcome)
}

func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok(c.t, c.c.Write(ctx, websocket.MessageBinary, b))
}

// write sends f.
func (c *client) write(f proto.Frame) {
	c.t.Helper()
	c.writeRaw(proto.MustEncode(f))
}

// request sends a request with a fresh id and returns the id.
func (c *client) request(typ proto.Type, body any) uint64 {
	c.t.Helper()
	id := c.nextID.Add(1)
	c.write(proto.Frame{Type: typ, ID: id, Body: body})
	return id
}

// call sends a request and waits for its reply; pushes read meanwhile are
// kept for push.
func (c *client) call(typ proto.Type, body any) proto.Frame {
	c.t.Helper()
	return c.reply(c.request(typ, body))
}

// reply waits for the reply to request id.
func (c *client) reply(id uint64) proto.Frame {
	c.t.Helper()
	return c.await(fmt.Sprintf("reply to request %d", id), func(f proto.Frame) bool {
		return f.ID == id && f.Type != proto.TypeClose
	})
}

// push waits for the next push of type typ.
func (c *client) push(typ proto.Type) proto.Frame {
	c.t.Helper()
	return c.await("push "+typ.String(), func(f proto.Frame) bool { return f.ID == 0 && f.Type == typ })
}

// await returns the first frame, backlog first, that match accepts.
func (c *client) await(what string, match func(proto.Frame) bool) proto.Frame {
	c.t.Helper()
	return c.awaitFor(5*time.Second, what, match)
}

// awaitFor is await with a deadline of d.
func (c *client) awaitFor(d time.Duration, what string, match func(proto.Frame) bool) proto.Frame {
	c.t.Helper()
	for i, f := range c.backlog {
		if match(f) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return f
		}
	}
	timeout := time.After(d)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				c.t.Fatalf("waiting for %s: connection ended: %v (backlog %v)", what, c.err, types(c.backlog))
			}
			if match(f) {
				return f
			}
			c.backlog = append(c.backlog, f)
		case <-timeout:
			c.t.Fatalf("waiting for %s: timeout (backlog %v)", what, types(c.backlog))
		}
	}
}

// keepAlive pings from a goroutine every 100 ms, so that the relay never
// finds c silent however long the test takes between its own frames, until
// stop, which waits for the goroutine; the test's cleanup stops it too. A
// failed ping is not reported: it shows as the connection's end.
func (c *client) keepAlive() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	ping := proto.MustEncode(proto.Frame{Type: proto.TypePing, Body: &proto.Ping{}})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
				_ = c.c.Write(context.Background(), websocket.MessageBinary, ping)
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	c.t.Cleanup(stop)
	return stop
}

// quiet asserts that the only frames the relay sends before the reply to a
// fresh ping are those already in the backlog: a ping round trip orders
// everything the relay had queued before it.
func (c *client) quiet(what string) {
	c.t.Helper()
	id := c.request(proto.TypePing, &proto.Ping{Time: 1})
	n := len(c.backlog)
	f := c.reply(id)
	if f.Type != proto.TypePong {
		c.t.Fatalf("%s: got %s, want pong", what, f.Type)
	}
	if len(c.backlog) != n {
		c.t.Fatalf("%s: unexpected frames %v", what, types(c.backlog[n:]))
	}
}

// expectClose reads until the connection ends and checks that the relay sent
// Close{code} and then closed the WebSocket with code. Frames before the
// Close are returned.
func (c *client) expectClose(code proto.Code) []proto.Frame {
	c.t.Helper()
	var got []proto.Frame
	var closeFrame *proto.Close
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				if closeFrame == nil {
					c.t.Fatalf("connection ended (%v) without a close frame; frames %v", c.err, types(got))
				}
				equal(c.t, closeFrame.Code, code, "close frame code (reason "+closeFrame.Reason+")")
				equal(c.t, websocket.CloseStatus(c.err), websocket.StatusCode(code), fmt.Sprintf("websocket close status (%v)", c.err))
				c.closeFrame = closeFrame
				return got
			}
			if f.Type == proto.TypeClose {
				closeFrame = f.Body.(*proto.Close)
			} else {
				got = append(got, f)
			}
		case <-timeout:
			c.t.Fatalf("no close %d within 10s; frames %v", code, types(got))
		}
	}
}

func types(fs []proto.Frame) []string {
	var out []string
	for _, f := range fs {
		s := f.Type.String()
		if e, isErr := f.Body.(*proto.ErrorBody); isErr {
			s += fmt.Sprintf("(%d %s)", e.Code, e.Message)
		}
		out = append(out, s)
	}
	return out
}

// errCode returns the code of an error reply, failing on anything else.
func errCode(t testing.TB, f proto.Frame) proto.Code {
	t.Helper()
	if f.Type != proto.TypeError {
		t.Fatalf("got %s %+v, want an error", f.Type, f.Body)
	}
	return f.Body.(*proto.ErrorBody).Code
}

// sendText sends a text message and returns the reply (ack or error).
func (c *client) sendText(conv, clientID, text string) proto.Frame {
	c.t.Helper()
	return c.call(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgText, Text: text})
}

// ack sends a text message and returns its ack, failing on an error.
func (c *client) ack(conv, clientID, text string) *proto.Ack {
	c.t.Helper()
	f := c.sendText(conv, clientID, text)
	if f.Type != proto.TypeAck {
		c.t.Fatalf("send %s: got %s %v, want ack", clientID, f.Type, types([]proto.Frame{f}))
	}
	return f.Body.(*proto.Ack)
}
