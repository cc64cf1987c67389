package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
)

// socket is one connection over the host's WebSocket constructor (the
// browser's, or the `ws` package's in Node).
//
// It is not coder/websocket's js build (v1.8.15), for two reasons found
// while building this driver: its Read reports a closed socket as
// net.ErrClosed, so the close code never reaches the core (and its select
// between "message" and "closed" may drop the relay's final Close frame,
// which carries the code too); and it imports net/http and crypto/tls for
// its Dial signature, 1.6 MB raw and 350 KB brotli of parley.wasm. Here the
// listeners append to one ordered queue — open, frames, then the close with
// its code — that dial and the reader drain, so nothing that arrived before
// the close is lost.
type socket struct {
	ws        js.Value
	listeners []listener    // released by the reader once closed
	signal    chan struct{} // capacity 1: the queue became non-empty

	mu     sync.Mutex
	queue  []sockEvent
	wqueue [][]byte
	wcond  *sync.Cond
	closed bool // close() called: the writer stops
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

// readLimit bounds one frame from the relay (the core's own limit is lower;
// this one only stops a runaway message before it is copied into Go).
const readLimit = 16 << 20

// writeHighWater pauses the writer while the host's send buffer holds more
// than this, so a slow link does not buffer the outbox twice.
const writeHighWater = 4 << 20

// dialSocket opens a WebSocket and waits until it is open, closed or ctx ends.
func dialSocket(ctx context.Context, url string) (s *socket, err error) {
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, errors.New("globalThis.WebSocket is not a constructor (in Node < 22, set it from the ws package)")
	}
	defer func() {
		if r := recover(); r != nil { // the constructor throws on a bad URL
			s, err = nil, fmt.Errorf("new WebSocket: %s", panicText(r))
		}
	}()
	s = &socket{ws: ctor.New(url), signal: make(chan struct{}, 1)}
	s.wcond = sync.NewCond(&s.mu)
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
		s.Close(proto.Code(1000), "dial timed out")
		s.release()
		return nil, err
	case ev.close:
		s.release()
		return nil, fmt.Errorf("websocket closed before opening (code %d)", ev.code)
	}
	go s.writeLoop()
	return s, nil
}

// listen adds a listener that never blocks: it only copies data out and
// queues it. An event it cannot read ends the connection.
func (s *socket) listen(event string, fn func(e js.Value)) {
	f := funcOf(func(args []js.Value) { fn(arg(args, 0)) }, func(r any) {
		reason := "unreadable " + event + " event: " + panicText(r)
		s.push(sockEvent{close: true, code: proto.CodeBadServerFrame, reason: reason})
		s.Close(proto.CodeBadServerFrame, reason)
	})
	s.listeners = append(s.listeners, listener{event, f})
	s.ws.Call("addEventListener", event, f)
}

// release removes and releases the listeners; the reader calls it after the
// close event, dial after a failed open.
func (s *socket) release() {
	for _, l := range s.listeners {
		s.ws.Call("removeEventListener", l.event, l.fn)
		l.fn.Release()
	}
	s.listeners = nil
}

func (s *socket) push(e sockEvent) {
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
func (s *socket) next(ctx context.Context) (sockEvent, error) {
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

// Write implements driver.Conn: it queues one binary frame; the writer sends frames in order.
func (s *socket) Write(b []byte) {
	s.mu.Lock()
	if !s.closed {
		s.wqueue = append(s.wqueue, b)
	}
	s.mu.Unlock()
	s.wcond.Signal()
}

func (s *socket) writeLoop() {
	for {
		s.mu.Lock()
		for len(s.wqueue) == 0 && !s.closed {
			s.wcond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		b := s.wqueue[0]
		s.wqueue[0] = nil
		s.wqueue = s.wqueue[1:]
		s.mu.Unlock()
		for s.ws.Get("bufferedAmount").Int() > writeHighWater && !s.isClosed() {
			time.Sleep(10 * time.Millisecond)
		}
		if err := s.send(b); err != nil {
			s.Close(proto.Code(1000), "write failed")
			return
		}
	}
}

func (s *socket) send(b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil { // send throws when the socket is not open
			err = errors.New(panicText(r))
		}
	}()
	s.ws.Call("send", bytesToJS(b))
	return nil
}

func (s *socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close implements driver.Conn: it starts the closing handshake once; the "close" event then reaches
// the reader, which reports it to the loop. Browsers accept only 1000 and
// 3000–4999 from a client, which is what the core uses.
func (s *socket) Close(code proto.Code, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.wqueue = nil
	s.mu.Unlock()
	s.wcond.Broadcast()
	if code != 1000 && (code < 3000 || code > 4999) {
		code = 1000
	}
	reason = clip(reason, 120) // RFC 6455 §5.5: a close reason fits in 123 bytes
	defer func() { _ = recover() }()
	s.ws.Call("close", int(code), reason)
}
