//go:build !js

package relay

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// fakeTransport is an in-memory Transport with fault knobs, standing in for
// the WebSocket edge so that a session can be driven without a socket. The
// test plays the client: it feeds the session with send and reads what the
// session wrote with next.
type fakeTransport struct {
	t    testing.TB
	sess *Session

	mu     sync.Mutex
	queue  [][]byte // written by the session, not yet read by the test
	limit  int      // knob: Write fails once this many frames wait; 0 for no limit
	closes int      // calls to Close
	code   proto.Code
	reason string
	// closed is set by the first Close; the frames then queued stay readable
	// (a real transport flushes them before its Close frame) unless the
	// code is 4102.
	closed   bool
	signal   chan struct{} // capacity 1: something was written or closed
	goneOnce sync.Once
	gone     chan struct{} // closed once the session was told Gone
}

var (
	_ Transport = (*fakeTransport)(nil)
	_ aborter   = (*fakeTransport)(nil)
)

// open connects a new fake client to srv.
func open(t testing.TB, srv *Server) *fakeTransport {
	t.Helper()
	f := &fakeTransport{t: t, signal: make(chan struct{}, 1), gone: make(chan struct{})}
	f.sess = srv.Open(f, ConnInfo{Remote: "fake"})
	if f.sess == nil {
		t.Fatal("Open refused the connection")
	}
	t.Cleanup(f.hangUp)
	return f
}

func (f *fakeTransport) Write(b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return true
	}
	if f.limit > 0 && len(f.queue) >= f.limit {
		return false
	}
	f.queue = append(f.queue, bytes.Clone(b))
	f.notify()
	return true
}

// Close records the close and, like a real transport once it has sent what
// it must, ends the connection: the session is told Gone, never from inside
// Close.
func (f *fakeTransport) Close(code proto.Code, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	if f.closed {
		return
	}
	f.closed, f.code, f.reason = true, code, reason
	if code == proto.CodeSlowConsumer {
		f.queue = nil
	}
	f.notify()
	go f.hangUp()
}

func (f *fakeTransport) abort() { go f.hangUp() }

// hangUp ends the connection from the client's side (or finishes a close):
// the session is told Gone, once.
func (f *fakeTransport) hangUp() {
	f.goneOnce.Do(func() {
		if f.sess != nil {
			f.sess.Gone()
		}
		close(f.gone)
	})
}

func (f *fakeTransport) notify() {
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

// setLimit sets the queue limit knob.
func (f *fakeTransport) setLimit(n int) {
	f.mu.Lock()
	f.limit = n
	f.mu.Unlock()
}

// sendRaw hands the session one message as if read from the socket and
// returns whether it reads on.
func (f *fakeTransport) sendRaw(msg []byte, binary bool) bool {
	return f.sess.Receive(msg, binary)
}

// send hands the session one frame.
func (f *fakeTransport) send(fr proto.Frame) bool {
	return f.sendRaw(proto.MustEncode(fr), true)
}

// next returns the next frame the session wrote, waiting for it.
func (f *fakeTransport) next() proto.Frame {
	f.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			b := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			fr, err := proto.Decode(b, 1<<20)
			if err != nil {
				f.t.Fatalf("the session wrote an undecodable frame: %v", err)
			}
			return fr
		}
		closed := f.closed
		f.mu.Unlock()
		if closed {
			f.t.Fatalf("closed (%d %s) with no frame left", f.code, f.reason)
		}
		select {
		case <-f.signal:
		case <-deadline:
			f.t.Fatal("no frame within 5s")
		}
	}
}

// pending returns how many written frames the test has not read.
func (f *fakeTransport) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// expectClose waits for the session to close the transport with code and
// returns the frames written before the close and not read yet.
func (f *fakeTransport) expectClose(code proto.Code) []proto.Frame {
	f.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		if f.closed {
			got, reason, left := f.code, f.reason, f.queue
			f.queue = nil
			f.mu.Unlock()
			if got != code {
				f.t.Fatalf("closed with %d (%s), want %d", got, reason, code)
			}
			var frames []proto.Frame
			for _, b := range left {
				fr, err := proto.Decode(b, 1<<20)
				ok(f.t, err)
				frames = append(frames, fr)
			}
			select {
			case <-f.gone:
			case <-deadline:
				f.t.Fatal("the session was never told Gone")
			}
			return frames
		}
		f.mu.Unlock()
		select {
		case <-f.signal:
		case <-deadline:
			f.t.Fatalf("no close %d within 5s", code)
		}
	}
}

// isClosed reports whether the session closed the transport.
func (f *fakeTransport) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// newServer returns a relay with a memory store, changed by mod when not
// nil, that nothing listens for: connections come in through Open.
func newServer(t testing.TB, mod func(*Options)) *Server {
	t.Helper()
	// Client-chosen group ids, so tests can name their groups; the default
	// (the relay names them) is tested with GroupIDs "" in TestSessionGroupIDPolicy.
	o := Options{Data: t.TempDir(), Secret: testSecret, Logger: testLogger(), Store: NewMemoryStore(), GroupIDs: rules.GroupIDsClient}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	ok(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// hello opens a connection for user on device and completes Hello.
func hello(t testing.TB, srv *Server, user, device string) (*fakeTransport, *proto.Welcome) {
	t.Helper()
	f := open(t, srv)
	tok, err := MintToken(testSecret, user, time.Hour, time.Now())
	ok(t, err)
	if !f.send(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: device}}) {
		t.Fatalf("hello: the session stopped reading (closed %v)", f.isClosed())
	}
	w := f.next()
	if w.Type != proto.TypeWelcome || w.ID != 1 {
		t.Fatalf("hello: got %s, want welcome", w.Type)
	}
	return f, w.Body.(*proto.Welcome)
}

// textSend is a Send of text to conv.
func textSend(id uint64, conv, clientID, text string) proto.Frame {
	return proto.Frame{Type: proto.TypeSend, ID: id, Body: &proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgText, Text: text}}
}

// frameTypes lists the types of frames, for failure messages.
func frameTypes(fs []proto.Frame) string {
	return fmt.Sprint(types(fs))
}
