//go:build !js

package relay

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// This file is the relay's WebSocket edge: it accepts a connection, reads
// its messages into the session (Session.Receive), and is the session's
// Transport — a bounded send queue drained by a writer goroutine that exists
// only while there is something to write, writes coalesced into few system
// calls, write timeouts, and a graceful close followed by a teardown.
//
// An idle connection costs one goroutine, its reader, with small buffers and
// nothing armed per read: the relay's memory per idle connection is budgeted
// (16 KiB), and this is most of it.

// wsEdge serves GET /v1/ws for a server.
type wsEdge struct {
	srv            *Server
	origins        []string
	maxFrame       int
	writeTimeout   time.Duration
	sendQueue      int
	sendQueueBytes int
	metrics        *metrics
	log            *slog.Logger
}

// mountWS serves the relay's WebSocket at GET /v1/ws.
func (s *Server) mountWS(mux *http.ServeMux) {
	e := &wsEdge{
		srv: s, origins: s.opts.Origins, maxFrame: s.opts.MaxFrame, writeTimeout: s.opts.WriteTimeout,
		sendQueue: s.opts.SendQueue, sendQueueBytes: s.opts.SendQueueBytes, metrics: s.metrics, log: s.log,
	}
	mux.HandleFunc("GET /v1/ws", e.serve)
}

func (e *wsEdge) serve(w http.ResponseWriter, r *http.Request) {
	if e.srv.isDraining() {
		http.Error(w, "relay shutting down", http.StatusServiceUnavailable)
		return
	}
	sb := &smallBuffers{ResponseWriter: w}
	// The origin is decided here, not by Accept: a refused one is upgraded
	// and then closed with 4008, so that a browser learns the code (a
	// refused handshake reaches it as 1006, which it would retry).
	refused := rules.AdmitOrigin(r.Header.Get("Origin"), r.Host, e.origins)
	conn, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // checked above
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		e.log.Debug("websocket accept failed", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return // Accept has written the response
	}
	conn.SetReadLimit(-1) // the session enforces MaxFrame with its own close code
	c := &wsConn{
		edge: e, conn: conn, out: sb.out,
		q:          sendQueue{max: e.sendQueue, maxBytes: e.sendQueueBytes, drained: make(chan struct{}, 1), total: &e.srv.admit.queued},
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
	}
	sess := e.srv.Open(c, ConnInfo{Remote: r.RemoteAddr})
	if sess == nil {
		// Shutdown began after the check above; Open closed c with 4100.
		<-c.writerDone
		c.grace.Stop()
		c.teardown()
		c.q.drop()
		return
	}
	c.sess.Store(sess)
	if refused != nil {
		sess.Close(refused.Code, refused.Message)
	}
	// The handler returns at once and the connection lives on a fresh
	// goroutine: net/http's per-connection state (its 4 KiB buffers, the
	// deep stack of its serving goroutine) is released, which roughly halves
	// what an idle connection costs.
	go c.run(sess)
}

// wsConn is one client WebSocket, the Transport of its session. Its reader
// (run) reads and hands messages to the session; a writer goroutine drains
// the send queue. Everything else — the committer, fan-out from the hub,
// timers — only queues frames or asks it to close, and neither ever blocks.
type wsConn struct {
	edge *wsEdge
	conn *websocket.Conn
	out  *coalescer // under conn's write buffer; nil when Accept kept net/http's buffers
	sess atomic.Pointer[Session]

	q          sendQueue
	writerDone chan struct{} // closed when the writer has finished the connection
	// wlate records that a write took longer than WriteTimeout. The timer
	// that sets it belongs to one run of the writer, so an idle connection
	// holds none.
	wlate atomic.Bool
	// wt is the writer's write timeout, made by its first run and kept:
	// a writer starts for every burst of frames, and a fan-out starts one
	// per recipient, so it is not made again each time. Only the writer
	// touches it; the send queue's lock hands it from one run to the next.
	wt *time.Timer

	closeOnce   sync.Once
	closing     chan struct{} // closed when the connection starts to end
	isClosing   atomic.Bool
	closeCode   proto.Code // set before closing is closed
	closeReason string
	closeSend   bool        // the relay ends it: send Close, then close with closeCode
	grace       *time.Timer // hard teardown if a graceful close stalls
}

var _ Transport = (*wsConn)(nil)

// Write implements Transport: it queues b for the writer, starting one if
// none runs.
func (c *wsConn) Write(b []byte) bool {
	if c.isClosing.Load() {
		return true // dropped: the connection is ending
	}
	ok, start, byBytes := c.q.push(b)
	if !ok {
		if byBytes {
			c.edge.metrics.limitHit(limitQueueBytes)
		}
		return false
	}
	if start {
		workers.run(c.writeLoop)
	}
	return true
}

// Close implements Transport: the writer sends what is queued (unless the
// client is the problem), then Close{code, reason}, then the WebSocket close
// with the same code.
func (c *wsConn) Close(code proto.Code, reason string) { c.end(code, reason, true) }

// abort drops the connection at once (see aborter).
func (c *wsConn) abort() { c.teardown() }

// teardown drops the connection at once, ending any read or write in
// progress. The connection holds no context of its own: reads and writes use
// one that is never cancelled, so coder/websocket arms nothing per call, and
// an idle connection holds nothing for it.
func (c *wsConn) teardown() {
	_ = c.conn.CloseNow()
}

// run serves the connection until it ends, then tells the session.
func (c *wsConn) run(sess *Session) {
	c.readLoop(sess)
	c.end(0, "", false) // a no-op when it is closing already
	<-c.writerDone
	c.grace.Stop()
	c.teardown()
	c.q.drop()
	sess.Gone()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLoop reads messages until the connection ends or the session stops it.
// It never waits for a commit: the session hands sends to the committer and
// returns.
func (c *wsConn) readLoop(sess *Session) {
	for c.awaitRoom() {
		// A context that can never be cancelled: coder/websocket then arms
		// nothing per read, which an idle connection would hold for as long
		// as it is idle. teardown closes the connection to end a read.
		typ, r, err := c.conn.Reader(context.Background())
		if err != nil {
			c.readFailed(err)
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		// coder/websocket's own limit is off (SetReadLimit(-1)): reading one
		// byte past MaxFrame lets the session answer with its own close code.
		if _, err := buf.ReadFrom(io.LimitReader(r, int64(c.edge.maxFrame)+1)); err != nil {
			bufPool.Put(buf)
			c.readFailed(err)
			return
		}
		// The session runs aside from the reader so that the reader's stack
		// stays as small as reading needs, while decoding, token checks and
		// store queries use deep stacks on other (pooled) goroutines: the reader
		// of an idle connection is most of what it costs.
		more := false
		aside(func() { more = sess.Receive(buf.Bytes(), typ == websocket.MessageBinary) })
		bufPool.Put(buf)
		if !more {
			return
		}
	}
}

// aside runs f on another goroutine, a pooled one (see goPool), and waits
// for it.
func aside(f func()) {
	done := make(chan struct{})
	workers.run(func() {
		defer close(done)
		f()
	})
	<-done
}

// awaitRoom holds the reader while half the send queue (its frames or its
// bytes) is taken: a client
// that sends requests faster than it reads the replies is slowed down, the
// way TCP would, instead of overflowing its own queue. The other half stays
// free for what must never wait — acks and fan-out from other sessions. It
// reports false when the connection is closing.
func (c *wsConn) awaitRoom() bool {
	for c.q.halfFull() {
		select {
		case <-c.q.drained:
		case <-c.closing:
			return false
		}
	}
	return !c.isClosing.Load()
}

// queued implements queuer, for the send queue metrics.
func (c *wsConn) queued() int { return c.q.len() }

// readFailed ends a connection that failed or that the peer closed.
func (c *wsConn) readFailed(err error) {
	if c.isClosing.Load() {
		return
	}
	status := int(websocket.CloseStatus(err))
	c.edge.metrics.peerClosed(status)
	c.edge.log.Debug("connection ended", "session", c.sessionID(), "status", status, "err", err)
	c.end(0, "", false)
}

func (c *wsConn) sessionID() string {
	if s := c.sess.Load(); s != nil {
		return s.id
	}
	return ""
}

// end starts the end of the connection; only the first call counts. With
// send, the relay ends it (Close); without, the peer is gone and nothing
// more is sent.
func (c *wsConn) end(code proto.Code, reason string, send bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason, c.closeSend = code, reason, send
		// Closing politely can stall on a peer that neither reads nor
		// answers the close handshake; after this long the connection is
		// dropped.
		grace := c.edge.writeTimeout
		if code == proto.CodeSlowConsumer {
			// A client that does not read will not read a Close frame
			// either: give it a moment, not a full write timeout.
			grace = min(grace, time.Second)
		}
		c.grace = time.AfterFunc(grace, c.teardown)
		c.isClosing.Store(true)
		close(c.closing)
		// The writer finishes the connection; start one if none is running.
		if c.q.claim() {
			workers.run(c.writeLoop)
		}
	})
}

// writeLoop is the writer goroutine: it runs while the queue has frames and
// exits when it is empty, unless the connection is closing, which it
// finishes. Only one runs at a time (sendQueue.running).
func (c *wsConn) writeLoop() {
	if c.wt == nil {
		c.wt = time.AfterFunc(time.Hour, c.writeTimedOut)
		c.wt.Stop()
	}
	wt := c.wt
	defer wt.Stop()
	var batch [][]byte
	yielded := false
	for {
		if c.isClosing.Load() {
			c.finish(wt, c.q.take(nil))
			close(c.writerDone)
			return
		}
		batch = c.q.take(batch)
		if len(batch) == 0 {
			// Before exiting, let the goroutines that are runnable run
			// once: under load the committer is among them, and what it
			// completes for this connection is then written by this writer,
			// in the same write(2), instead of by a new one.
			if !yielded {
				yielded = true
				runtime.Gosched()
				continue
			}
			// release checks isClosing under the queue's lock, the same lock
			// end() takes to start a writer, so a close is never missed.
			if c.q.release(&c.isClosing) {
				return
			}
			continue
		}
		rest, err := c.writeBatch(wt, batch)
		if err != nil {
			c.writeFailed(err)
			c.finish(wt, nil)
			close(c.writerDone)
			return
		}
		if rest != nil {
			c.finish(wt, rest)
			close(c.writerDone)
			return
		}
		yielded = false
		clear(batch)
		if cap(batch) > 64 {
			batch = nil // an idle connection keeps no large array
		}
	}
}

// writeBatch writes the frames the writer took from the queue. Several
// frames leave in one write(2) through the coalescer: a system call per
// frame was the largest cost of fan-out. It stops early when the connection
// starts closing and returns the frames not written, for finish.
func (c *wsConn) writeBatch(wt *time.Timer, batch [][]byte) (rest [][]byte, err error) {
	timeout := c.edge.writeTimeout
	held := len(batch) > 1 && c.out != nil
	if held {
		c.out.hold()
	}
	for i, b := range batch {
		if c.isClosing.Load() {
			rest = batch[i:]
			break
		}
		if err = c.write(wt, b, timeout); err != nil {
			break
		}
	}
	if held {
		wt.Reset(timeout)
		ferr := c.out.release()
		wt.Stop()
		if ferr != nil && c.wlate.Load() {
			ferr = errWriteTimeout
		}
		err = cmp.Or(err, ferr)
	}
	return rest, err
}

// write writes one frame within timeout. A write that times out closes the
// connection with 4102 before it is torn down, so that whichever goroutine
// notices the dead connection first, the code is the same.
func (c *wsConn) write(wt *time.Timer, b []byte, timeout time.Duration) error {
	wt.Reset(timeout)
	err := c.conn.Write(context.Background(), websocket.MessageBinary, b)
	wt.Stop()
	if err != nil {
		if c.wlate.Load() {
			return errWriteTimeout
		}
		return err
	}
	c.edge.metrics.framesOut.Add(1)
	return nil
}

// writeTimedOut runs when a write takes longer than its timeout.
func (c *wsConn) writeTimedOut() {
	c.wlate.Store(true)
	c.slow()
	c.teardown() // unblocks the write
}

// slow closes a client that does not take its frames (4102) through its
// session, which counts the close — unless the connection is ending
// already, for whatever reason.
func (c *wsConn) slow() {
	if c.isClosing.Load() {
		return
	}
	if s := c.sess.Load(); s != nil {
		s.Close(proto.CodeSlowConsumer, "write timeout")
	} else {
		c.Close(proto.CodeSlowConsumer, "write timeout")
	}
}

var errWriteTimeout = errors.New("relay: write timeout")

// writeFailed ends the connection after a failed write; finish may read the
// close fields once this returns.
func (c *wsConn) writeFailed(err error) {
	if errors.Is(err, errWriteTimeout) {
		c.slow() // normally done by writeTimedOut already
	}
	c.end(0, "", false) // the peer is gone, unless a close began already
}

// finish runs on the writer once the connection is closing: flush what was
// queued (when the client is not the problem), send Close, close the
// WebSocket, and release the connection.
func (c *wsConn) finish(wt *time.Timer, pending [][]byte) {
	defer c.teardown()
	if !c.closeSend {
		_ = c.conn.CloseNow()
		return
	}
	code, reason := c.closeCode, c.closeReason
	timeout := c.edge.writeTimeout
	alive := true
	if code != proto.CodeSlowConsumer {
		// Acks the committer completed before a shutdown go out first.
		for alive {
			for _, b := range pending {
				if err := c.write(wt, b, timeout); err != nil {
					alive = false
					break
				}
			}
			if pending = c.q.take(nil); len(pending) == 0 {
				break
			}
		}
	}
	if alive {
		closeFrame := proto.MustEncode(proto.Frame{Type: proto.TypeClose, Body: &proto.Close{Code: code, Reason: proto.Clip(reason, proto.MaxReasonBytes)}})
		_ = c.write(wt, closeFrame, min(timeout, time.Second))
	}
	_ = c.conn.Close(websocket.StatusCode(code), proto.ClipReason(reason))
}

// coalescer is what a connection's write buffer writes to. It passes each
// write straight to the connection, except while the connection's writer
// holds it: then the frames coder/websocket flushes one by one collect in a
// pooled buffer, sent in one write(2) by release or once coalesceMax bytes
// are waiting. An idle connection holds no buffer.
type coalescer struct {
	conn net.Conn
	mu   sync.Mutex // one write(2) at a time, in order; guards held and buf
	held bool
	buf  *[]byte
}

// coalesceMax bounds the bytes a held coalescer keeps back.
const coalesceMax = 64 << 10

var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *coalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.conn.Write(p)
	}
	if len(*c.buf)+len(p) > coalesceMax {
		if _, err := c.conn.Write(*c.buf); err != nil {
			return 0, err
		}
		*c.buf = (*c.buf)[:0]
		if len(p) > coalesceMax {
			return c.conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// hold starts collecting writes.
func (c *coalescer) hold() {
	c.mu.Lock()
	c.held = true
	c.buf = coalescePool.Get().(*[]byte)
	c.mu.Unlock()
}

// release writes what was collected and stops collecting.
func (c *coalescer) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	b := c.buf
	c.buf = nil
	var err error
	if len(*b) > 0 {
		_, err = c.conn.Write(*b)
	}
	*b = (*b)[:0]
	coalescePool.Put(b)
	return err
}

// sendQueue is a connection's bounded outbound queue. push never blocks: it
// fails when max frames are waiting. It grows on demand instead of being a
// buffered channel, so an idle connection holds no preallocated slots.
type sendQueue struct {
	mu       sync.Mutex
	items    [][]byte
	bytes    int // in items
	max      int // frames
	maxBytes int
	running  bool          // a writer goroutine owns the queue
	drained  chan struct{} // capacity 1: the writer took the items
	total    *atomic.Int64 // the frames waiting in every queue of the relay, for admission
	dropped  bool          // the connection is over: push drops
}

// push queues b. ok is false when max frames are already waiting, or when b
// would take the queue above maxBytes (an empty queue takes any one frame);
// byBytes then tells which. start is true when no writer runs and the
// caller must start one.
func (q *sendQueue) push(b []byte) (ok, start, byBytes bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dropped {
		return true, false, false
	}
	if len(q.items) >= q.max {
		return false, false, false
	}
	if len(q.items) > 0 && q.bytes+len(b) > q.maxBytes {
		return false, false, true
	}
	q.items = append(q.items, b)
	q.total.Add(1)
	q.bytes += len(b)
	if !q.running {
		q.running = true
		return true, true, false
	}
	return true, false, false
}

// claim makes the caller the writer when none runs.
func (q *sendQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		return false
	}
	q.running = true
	return true
}

// release lets the writer exit when nothing is queued and the connection is
// not closing; it reports whether the writer must exit.
func (q *sendQueue) release(closing *atomic.Bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 || closing.Load() {
		return false
	}
	q.running = false
	return true
}

// take returns everything queued, handing buf (emptied) to the queue for
// reuse.
func (q *sendQueue) take(buf [][]byte) [][]byte {
	q.mu.Lock()
	out := q.items
	q.items = buf[:0]
	q.total.Add(-int64(len(out)))
	q.bytes = 0
	q.mu.Unlock()
	select {
	case q.drained <- struct{}{}:
	default:
	}
	return out
}

// drop discards what is left once the connection is over; later pushes
// are dropped.
func (q *sendQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropped = true
	q.total.Add(-int64(len(q.items)))
	clear(q.items)
	q.items, q.bytes = nil, 0
}

func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// halfFull reports whether half the queue's frames or bytes are taken.
func (q *sendQueue) halfFull() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) >= (q.max+1)/2 || q.bytes >= q.maxBytes/2
}

// connBufferSize is the size of each of a connection's read and write
// buffers. net/http hands a hijacked connection 4 KiB of each; most frames
// are far smaller, and larger ones bypass a bufio buffer anyway, so idle
// connections keep 1 KiB instead of 8.
const connBufferSize = 512

// smallBuffers gives coder/websocket, which reuses the buffers of the
// hijacked connection, smaller ones, and puts a coalescer under the write
// buffer.
type smallBuffers struct {
	http.ResponseWriter
	out *coalescer // set by Hijack when it replaced the buffers
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("relay: response writer cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 || brw.Writer.Buffered() > 0 {
		return c, brw, err // keep bytes already read or written where they are
	}
	w.out = &coalescer{conn: c}
	return c, bufio.NewReadWriter(bufio.NewReaderSize(c, connBufferSize), bufio.NewWriterSize(w.out, connBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }
