package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
)

// jsSocket is a Socket over the host's WebSocket constructor (the
// browser's, or the `ws` package's in Node).
//
// It is not coder/websocket's js build (v1.8.15), for two reasons: its Read
// reports a closed socket as net.ErrClosed, so the close code never reaches
// the core (and its select between "message" and "closed" may drop the
// relay's final Close frame, which carries the code too); and it imports
// net/http and crypto/tls for its Dial signature, 1.6 MB raw and 350 KB
// brotli of parley.wasm. Here the listeners append to one ordered queue —
// open, messages, then the close with its code — that dial and Read drain,
// so nothing that arrived before the close is lost.
type jsSocket struct {
	ws        js.Value
	listeners []listener    // released by Read once it returned the close
	signal    chan struct{} // capacity 1: the queue became non-empty

	mu     sync.Mutex
	queue  []sockEvent
	closed bool // Close called: writes stop
}

type listener struct {
	event string
	fn    js.Func
}

type sockEvent struct {
	open   bool
	frame  []byte
	close  bool
	code   proto.Code
	reason string
}

// readLimit bounds one message from the relay before it is copied into Go;
// the core's own limit (Config.MaxFrame) is lower.
const readLimit = 16 << 20

// writeHighWater holds writes back while the host's send buffer holds more
// than this, so a slow link does not buffer the outbox twice.
const writeHighWater = 4 << 20

// dialWebSocket is the default Options.Dial: it opens a WebSocket and waits
// until it is open, closed or ctx ends.
func dialWebSocket(ctx context.Context, url string) (sock Socket, err error) {
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, errors.New("globalThis.WebSocket is not a constructor (in Node < 22, set it from the ws package)")
	}
	defer func() {
		if r := recover(); r != nil { // the constructor throws on a bad URL
			sock, err = nil, fmt.Errorf("new WebSocket: %s", panicText(r))
		}
	}()
	s := &jsSocket{ws: ctor.New(url), signal: make(chan struct{}, 1)}
	s.ws.Set("binaryType", "arraybuffer")
	s.listen("open", func(js.Value) { s.push(sockEvent{open: true}) })
	s.listen("message", func(e js.Value) {
		data := e.Get("data")
		if data.Type() == js.TypeString {
			return // the protocol is binary; text frames are ignored
		}
		if data.Type() != js.TypeObject || data.Get("byteLength").Type() != js.TypeNumber {
			panic("data is not an ArrayBuffer (does the host's WebSocket honour binaryType?)")
		}
		n := data.Get("byteLength").Int()
		if n > readLimit {
			s.push(sockEvent{close: true, code: proto.CodeBadServerFrame,
				reason: fmt.Sprintf("frame of %d bytes above the %d-byte read limit", n, readLimit)})
			s.Close(proto.CodeBadServerFrame, "frame too large")
			return
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, jsUint8Array.New(data))
		s.push(sockEvent{frame: b})
	})
	// "error" is always followed by "close"; its message (Node's ws has one,
	// browsers do not) becomes the close reason when there is none. The
	// listener must exist: ws is an EventEmitter, and an "error" nobody
	// listens to ends the Node process.
	var lastError string
	s.listen("error", func(e js.Value) {
		if m := e.Get("message"); m.Type() == js.TypeString {
			lastError = m.String()
		}
	})
	s.listen("close", func(e js.Value) {
		reason := e.Get("reason").String()
		if reason == "" {
			reason = lastError
		}
		s.push(sockEvent{close: true, code: proto.Code(e.Get("code").Int()), reason: reason})
	})

	ev, err := s.next(ctx)
	switch {
	case err != nil:
		s.Close(1000, "dial timed out")
		s.release()
		return nil, err
	case ev.close:
		s.release()
		return nil, fmt.Errorf("websocket closed before opening (code %d)", ev.code)
	}
	return s, nil
}

// listen adds a listener that never blocks: it only copies data out and
// queues it. An event it cannot read ends the connection.
func (s *jsSocket) listen(event string, fn func(e js.Value)) {
	f := funcOf(func(args []js.Value) { fn(arg(args, 0)) }, func(r any) {
		reason := "unreadable " + event + " event: " + panicText(r)
		s.push(sockEvent{close: true, code: proto.CodeBadServerFrame, reason: reason})
		s.Close(proto.CodeBadServerFrame, reason)
	})
	s.listeners = append(s.listeners, listener{event, f})
	s.ws.Call("addEventListener", event, f)
}

// release removes and releases the listeners: after the close event, which
// is the last one, so none can call a released function.
func (s *jsSocket) release() {
	for _, l := range s.listeners {
		s.ws.Call("removeEventListener", l.event, l.fn)
		l.fn.Release()
	}
	s.listeners = nil
}

func (s *jsSocket) push(e sockEvent) {
	s.mu.Lock()
	if n := len(s.queue); n > 0 && s.queue[n-1].close {
		s.mu.Unlock()
		return // nothing follows a close
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// next returns the oldest event, waiting for one.
func (s *jsSocket) next(ctx context.Context) (sockEvent, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue[0] = sockEvent{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return e, nil
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-ctx.Done():
			return sockEvent{}, ctx.Err()
		}
	}
}

// Read returns the next message; at the close event it releases the
// listeners and returns the close code. It waits for that event even
// after Close (the host always sends it), so ctx should not end first.
func (s *jsSocket) Read(ctx context.Context) ([]byte, error) {
	for {
		ev, err := s.next(ctx)
		switch {
		case err != nil:
			return nil, err
		case ev.close:
			s.release()
			return nil, &CloseError{Code: ev.code, Reason: ev.reason}
		case ev.frame != nil:
			return ev.frame, nil
		}
	}
}

// Write hands b to the host's WebSocket once its send buffer is below the
// high-water mark.
func (s *jsSocket) Write(ctx context.Context, b []byte) (err error) {
	for s.ws.Get("bufferedAmount").Int() > writeHighWater {
		if s.isClosed() {
			return errors.New("websocket closed")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer func() {
		if r := recover(); r != nil { // send throws when the socket is not open
			err = errors.New(panicText(r))
		}
	}()
	s.ws.Call("send", BytesToJS(b))
	return nil
}

func (s *jsSocket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close starts the closing handshake once; the "close" event then reaches
// Read. Browsers accept only 1000 and 3000–4999 from a client, which is
// what the core uses; anything else goes as 1000.
func (s *jsSocket) Close(code proto.Code, reason string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if code != 1000 && (code < 3000 || code > 4999) {
		code = 1000
	}
	defer func() { _ = recover() }()
	s.ws.Call("close", int(code), proto.ClipReason(reason))
	return nil
}
