package relay

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// session is one WebSocket connection. The reader (the HTTP handler's
// goroutine, running run) reads, checks and dispatches frames; a writer
// goroutine drains the send queue, and exists only while there is something
// to write, so an idle connection costs one goroutine, not two (SPEC §5). Everything else — the committer,
// fan-out from the hub, timers — only enqueues frames or asks the session to
// close, and neither ever blocks.
type session struct {
	srv  *Server
	id   string
	conn *websocket.Conn
	out  *coalescer // under conn's write buffer; nil when Accept kept net/http's buffers

	// user and device are set by the reader before the session enters the
	// hub, and never change after; other goroutines read them only through
	// the hub.
	user, device string
	authed       atomic.Bool
	watched      bool  // the bus subscription holds a reference to user for this session
	began        int64 // unix ns of the accepted hello: kicks close only older sessions

	bucket rules.Bucket // reader only
	timer  *time.Timer  // auth deadline, then heartbeat deadline

	q          sendQueue
	writerDone chan struct{} // closed when the writer has finished the session
	// wlate records that a write took longer than WriteTimeout. The timer
	// that sets it belongs to one run of the writer, so an idle connection
	// holds none.
	wlate atomic.Bool

	closeOnce   sync.Once
	closing     chan struct{} // closed when the session starts to end
	isClosing   atomic.Bool
	closeCode   proto.Code // set before closing is closed
	closeReason string
	closeSend   bool        // the relay ends it: send Close, then close with closeCode
	grace       *time.Timer // hard teardown if a graceful close stalls
}

func newSession(srv *Server, conn *websocket.Conn, out *coalescer) *session {
	id := randomHex(8)
	return &session{
		srv: srv, id: id, conn: conn, out: out,
		bucket:     rules.NewBucket(srv.opts.RateLimit, srv.opts.RateBurst),
		q:          sendQueue{max: srv.opts.SendQueue, drained: make(chan struct{}, 1)},
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
	}
}

// teardown drops the connection at once, ending any read or write in
// progress. The session holds no context of its own: reads and writes use
// one that is never cancelled, so coder/websocket arms nothing per call, and
// an idle connection holds nothing for it (SPEC §5).
func (s *session) teardown() {
	_ = s.conn.CloseNow()
}

// run serves the connection until it ends.
func (s *session) run() {
	m := s.srv.metrics
	m.connections.Add(1)
	defer m.connections.Add(-1)
	s.timer = time.AfterFunc(s.srv.opts.AuthTimeout, s.deadline)
	s.readLoop()
	s.timer.Stop()
	s.gone() // a no-op when the relay already closed it
	<-s.writerDone
	s.grace.Stop()
	s.teardown()
	if s.authed.Load() {
		s.srv.hub.remove(s)
	}
	if s.watched {
		s.srv.sub.Unwatch(s.user)
	}
}

// deadline fires when no Hello (4001) or no frame at all (4103) came in time.
func (s *session) deadline() {
	if s.authed.Load() {
		s.close(proto.CodeHeartbeatTimeout, "heartbeat timeout")
	} else {
		s.close(proto.CodeUnauthorized, "no hello before the authentication timeout")
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLoop reads frames until the connection ends or the session closes. It
// never waits for a commit: sends go to the committer and the loop moves on.
func (s *session) readLoop() {
	maxFrame := s.srv.opts.MaxFrame
	for !s.isClosing.Load() {
		// A context that can never be cancelled: coder/websocket then arms
		// nothing per read, which an idle connection would hold for as long
		// as it is idle. teardown closes the connection to end a read.
		typ, r, err := s.conn.Reader(context.Background())
		if err != nil {
			s.readFailed(err)
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		// coder/websocket's own limit is off (SetReadLimit(-1)): reading one
		// byte past MaxFrame lets the relay answer with its own close code.
		n, err := buf.ReadFrom(io.LimitReader(r, int64(maxFrame)+1))
		if err != nil {
			bufPool.Put(buf)
			s.readFailed(err)
			return
		}
		stop := false
		aside(func() { stop = !s.process(typ, buf, n) })
		if stop {
			return
		}
	}
}

// process decodes and serves one message read by readLoop, and reports
// whether the reader goes on. It runs aside from the reader so that the
// reader's stack stays as small as reading needs, while decoding, token
// checks and store queries use deep stacks on short-lived goroutines: the
// reader of an idle connection is most of what it costs (SPEC §5).
func (s *session) process(typ websocket.MessageType, buf *bytes.Buffer, n int64) bool {
	// Decode copies what it keeps, so the buffer is free again after.
	f, perr := s.admit(typ, buf.Bytes(), n)
	bufPool.Put(buf)
	if perr != nil {
		s.close(perr.Code, perr.Message)
		return false
	}
	if !s.awaitRoom() {
		return false
	}
	s.handle(time.Now(), f)
	return true
}

// awaitRoom holds the reader while half the send queue is taken: a client
// that sends requests faster than it reads the replies is slowed down, the
// way TCP would, instead of overflowing its own queue. The other half stays
// free for what must never wait — acks and fan-out from other sessions. It
// reports false when the session closed meanwhile.
func (s *session) awaitRoom() bool {
	for s.q.len() >= (s.q.max+1)/2 {
		select {
		case <-s.q.drained:
		case <-s.closing:
			return false
		}
	}
	return !s.isClosing.Load()
}

// admit turns one message read from the connection into a frame, or into
// the close code that the message earns.
func (s *session) admit(typ websocket.MessageType, b []byte, n int64) (proto.Frame, *proto.Error) {
	maxFrame := s.srv.opts.MaxFrame
	if n > int64(maxFrame) {
		return proto.Frame{}, proto.Errorf(proto.CodeFrameTooLarge, "frame above %d bytes", maxFrame)
	}
	s.srv.metrics.framesIn.Add(1)
	if !s.bucket.Allow(time.Now()) {
		return proto.Frame{}, proto.Errorf(proto.CodeRateLimited, "too many frames")
	}
	if s.authed.Load() {
		s.timer.Reset(s.srv.opts.HeartbeatTimeout)
	}
	if typ != websocket.MessageBinary {
		return proto.Frame{}, proto.Errorf(proto.CodeProtocolError, "text message; frames are binary")
	}
	f, err := proto.Decode(b, maxFrame)
	if err != nil {
		var perr *proto.Error
		if errors.As(err, &perr) {
			return proto.Frame{}, perr
		}
		return proto.Frame{}, proto.Errorf(proto.CodeProtocolError, "%v", err)
	}
	return f, rules.AdmitFrame(s.authed.Load(), f)
}

// readFailed ends a session whose connection failed or was closed by the
// peer.
func (s *session) readFailed(err error) {
	if s.isClosing.Load() {
		return
	}
	s.srv.log.Debug("connection ended", "session", s.id, "status", int(websocket.CloseStatus(err)), "err", err)
	s.gone()
}

// handle serves one admitted frame.
func (s *session) handle(now time.Time, f proto.Frame) {
	if f.Type != proto.TypeHello { // Hello's failures are close codes: see hello
		if perr := proto.Validate(f.Body); perr != nil {
			s.replyErr(f.ID, perr)
			return
		}
	}
	switch b := f.Body.(type) {
	case *proto.Hello:
		s.hello(now, f.ID, b)
	case *proto.Send:
		s.send(now, f.ID, b)
	case *proto.Sync:
		s.sync(f.ID, b)
	case *proto.History:
		s.history(f.ID, b)
	case *proto.Read:
		s.read(f.ID, b)
	case *proto.CreateGroup:
		s.createGroup(now, f.ID, b)
	case *proto.Ping:
		s.reply(proto.Frame{Type: proto.TypePong, ID: f.ID, Body: &proto.Pong{Time: b.Time}})
	case *proto.Pong:
		// An answer to nothing the relay asked; it still counted as life.
	}
}

// aside runs f on a short-lived goroutine and waits for it.
func aside(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func (s *session) hello(now time.Time, id uint64, h *proto.Hello) {
	if perr := rules.AdmitHello(h); perr != nil {
		s.close(perr.Code, perr.Message)
		return
	}
	user, exp, perr := verifyToken(s.srv.key, h.Token, now)
	if perr != nil {
		s.close(perr.Code, perr.Message)
		return
	}
	s.user, s.device = user, h.DeviceID
	o := &s.srv.opts
	welcome := proto.MustEncode(proto.Frame{Type: proto.TypeWelcome, ID: id, Body: &proto.Welcome{
		Version:     h.Version,
		UserID:      user,
		Epoch:       s.srv.store.Epoch(),
		ServerTime:  now.UnixMilli(),
		HeartbeatMs: uint32(o.Heartbeat.Milliseconds()),
		MaxFrame:    uint32(o.MaxFrame),
		SessionID:   s.id,
		TokenExp:    exp.Unix(),
	}})
	// Watch before welcoming: from here on every push for user reaches this
	// node, and everything committed earlier is found by the client's sync.
	ctx, cancel := context.WithTimeout(s.srv.baseCtx, o.AuthTimeout)
	err := s.srv.sub.Watch(ctx, user)
	cancel()
	if err != nil {
		s.srv.log.Warn("bus watch failed", "user", user, "err", err)
		s.close(proto.CodeOverloaded, "relay cannot reach its bus, retry")
		return
	}
	s.watched = true
	s.began = now.UnixNano()
	s.authed.Store(true)
	s.timer.Reset(o.HeartbeatTimeout)
	if old := s.srv.hub.add(s, func() { s.enqueue(welcome) }); old != nil {
		old.close(proto.CodeKicked, "replaced by a newer connection of the same device")
	}
	// The same device may still be connected to another node.
	if err := s.srv.bus.Publish(s.srv.baseCtx, Envelope{Users: []string{user}, Except: s.id, Kick: s.device, KickAt: s.began}); err != nil {
		s.srv.metrics.busErrors.Add(1)
		s.srv.log.Warn("bus kick failed", "user", user, "err", err)
	}
	s.srv.log.Debug("session open", "session", s.id, "user", user, "device", h.DeviceID, "client", h.Client)
}

func (s *session) send(now time.Time, id uint64, b *proto.Send) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	r := &commitReq{
		req:    AppendRequest{Sender: s.user, Device: s.device, Send: *b, CreatedAt: now.UnixMilli()},
		readAt: now,
		done: func(r *commitReq, res AppendResult) {
			s.srv.sent(s, id, r, res)
		},
	}
	if !s.srv.commit.submit(r) {
		s.replyErr(id, proto.Errorf(proto.CodeUnavailable, "relay shutting down"))
	}
}

func (s *session) sync(id uint64, b *proto.Sync) {
	limit := rules.SyncLimit(b.Limit)
	convs, more, err := s.srv.store.Sync(s.srv.baseCtx, s.user, b.Cursor, limit)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.enqueue(rules.SyncFrame(id, b.Cursor, convs, more, s.srv.opts.MaxFrame))
}

func (s *session) history(id uint64, b *proto.History) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	q := *b
	q.Limit = uint32(rules.HistoryLimit(b.Limit))
	page, err := s.srv.store.History(s.srv.baseCtx, s.user, q)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.enqueue(rules.HistoryFrame(id, page, b.Before > 0, s.srv.opts.MaxFrame))
}

func (s *session) read(id uint64, b *proto.Read) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	conv, moved, err := s.srv.store.MarkRead(s.srv.baseCtx, s.user, b.ConvID, b.Seq)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	if moved {
		s.srv.publish([]string{s.user}, s.id,
			proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: conv}}))
	}
}

func (s *session) createGroup(now time.Time, id uint64, b *proto.CreateGroup) {
	spec, perr := rules.PlanGroup(s.user, b, now, func() string { return proto.GroupPrefix + randomHex(12) })
	if perr != nil {
		s.replyErr(id, perr)
		return
	}
	conv, created, err := s.srv.store.CreateGroup(s.srv.baseCtx, spec)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeConvResult, ID: id, Body: &proto.ConvResult{Conversation: conv}})
	if created {
		s.srv.publish(spec.Members, s.id,
			proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: conv}}))
	}
}

// reply enqueues a frame built by the relay.
func (s *session) reply(f proto.Frame) { s.enqueue(proto.MustEncode(f)) }

// replyErr answers request id with err's code; an error that is not a
// *proto.Error is a store failure, reported as retryable 4300.
func (s *session) replyErr(id uint64, err error) {
	var perr *proto.Error
	if !errors.As(err, &perr) {
		if s.srv.baseCtx.Err() == nil {
			s.srv.log.Error("request failed", "session", s.id, "err", err)
		}
		perr = proto.Errorf(proto.CodeUnavailable, "store unavailable, retry")
	}
	s.reply(proto.Frame{Type: proto.TypeError, ID: id, Body: &proto.ErrorBody{Code: perr.Code, Message: perr.Message}})
}

// enqueue queues b for the writer without ever blocking. A session whose
// queue is full is too slow to keep up and is closed (4102) rather than
// allowed to hold up fan-out to everyone else.
func (s *session) enqueue(b []byte) {
	if s.isClosing.Load() {
		return
	}
	ok, start := s.q.push(b)
	if !ok {
		s.close(proto.CodeSlowConsumer, "send queue full")
		return
	}
	if start {
		go s.writeLoop()
	}
}

// close ends the session on the relay's initiative: the writer sends what is
// queued (unless the client is the problem), then Close{code, reason}, then
// the WebSocket close with the same code. Only the first call counts.
func (s *session) close(code proto.Code, reason string) { s.end(code, reason, true) }

// gone ends a session whose peer is gone or closed it: nothing more is sent.
func (s *session) gone() { s.end(0, "", false) }

func (s *session) end(code proto.Code, reason string, send bool) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeReason, s.closeSend = code, reason, send
		// Closing politely can stall on a peer that neither reads nor
		// answers the close handshake; after this long, cancel the context,
		// which makes coder/websocket drop the TCP connection.
		grace := s.srv.opts.WriteTimeout
		if code == proto.CodeSlowConsumer {
			// A client that does not read will not read a Close frame
			// either: give it a moment, not a full write timeout.
			grace = min(grace, time.Second)
		}
		s.grace = time.AfterFunc(grace, s.teardown)
		if send {
			// Counted before the Close frame can leave.
			s.srv.metrics.closed(code)
			lvl := slog.LevelDebug
			if code != proto.CodeShutdown && code != proto.CodeKicked {
				lvl = slog.LevelInfo
			}
			s.srv.log.Log(context.Background(), lvl, "closing session", "session", s.id, "code", uint16(code), "reason", reason)
		}
		s.isClosing.Store(true)
		close(s.closing)
		// The writer finishes the session; start one if none is running.
		if s.q.claim() {
			go s.writeLoop()
		}
	})
}

// writeLoop is the writer goroutine: it runs while the queue has frames and
// exits when it is empty, unless the session is closing, which it finishes.
// Only one runs at a time (sendQueue.running).
func (s *session) writeLoop() {
	wt := time.AfterFunc(time.Hour, s.writeTimedOut)
	wt.Stop()
	defer wt.Stop()
	var batch [][]byte
	for {
		if s.isClosing.Load() {
			s.finish(wt, s.q.take(nil))
			close(s.writerDone)
			return
		}
		batch = s.q.take(batch)
		if len(batch) == 0 {
			// release checks isClosing under the queue's lock, the same lock
			// end() takes to start a writer, so a close is never missed.
			if s.q.release(&s.isClosing) {
				return
			}
			continue
		}
		rest, err := s.writeBatch(wt, batch)
		if err != nil {
			s.writeFailed(err)
			s.finish(wt, nil)
			close(s.writerDone)
			return
		}
		if rest != nil {
			s.finish(wt, rest)
			close(s.writerDone)
			return
		}
		clear(batch)
		if cap(batch) > 64 {
			batch = nil // an idle connection keeps no large array
		}
	}
}

// writeBatch writes the frames the writer took from the queue. Several
// frames leave in one write(2) through the coalescer: a system call per
// frame was the largest cost of fan-out. It stops early when the session
// starts closing and returns the frames not written, for finish.
func (s *session) writeBatch(wt *time.Timer, batch [][]byte) (rest [][]byte, err error) {
	timeout := s.srv.opts.WriteTimeout
	held := len(batch) > 1 && s.out != nil
	if held {
		s.out.hold()
	}
	for i, b := range batch {
		if s.isClosing.Load() {
			rest = batch[i:]
			break
		}
		if err = s.write(wt, b, timeout); err != nil {
			break
		}
	}
	if held {
		wt.Reset(timeout)
		ferr := s.out.release()
		wt.Stop()
		if ferr != nil && s.wlate.Load() {
			ferr = errWriteTimeout
		}
		err = cmp.Or(err, ferr)
	}
	return rest, err
}

// write writes one frame within timeout. A write that times out closes the
// session with 4102 before the connection is torn down, so that whichever
// goroutine notices the dead connection first, the code is the same.
func (s *session) write(wt *time.Timer, b []byte, timeout time.Duration) error {
	wt.Reset(timeout)
	err := s.conn.Write(context.Background(), websocket.MessageBinary, b)
	wt.Stop()
	if err != nil {
		if s.wlate.Load() {
			return errWriteTimeout
		}
		return err
	}
	s.srv.metrics.framesOut.Add(1)
	return nil
}

// writeTimedOut runs when a write takes longer than its timeout.
func (s *session) writeTimedOut() {
	s.wlate.Store(true)
	s.close(proto.CodeSlowConsumer, "write timeout")
	s.teardown() // unblocks the write
}

var errWriteTimeout = errors.New("relay: write timeout")

// writeFailed ends the session after a failed write; finish may read the
// close fields once this returns.
func (s *session) writeFailed(err error) {
	if errors.Is(err, errWriteTimeout) {
		s.close(proto.CodeSlowConsumer, "write timeout") // normally done by writeTimedOut already
		return
	}
	s.gone()
}

// finish runs on the writer once the session is closing: flush what was
// queued (when the client is not the problem), send Close, close the
// WebSocket, and release the connection.
func (s *session) finish(wt *time.Timer, pending [][]byte) {
	defer s.teardown()
	if !s.closeSend {
		_ = s.conn.CloseNow()
		return
	}
	code, reason := s.closeCode, s.closeReason
	alive := true
	if code != proto.CodeSlowConsumer {
		// Acks the committer completed before a shutdown go out first.
		for alive {
			for _, b := range pending {
				if err := s.write(wt, b, s.srv.opts.WriteTimeout); err != nil {
					alive = false
					break
				}
			}
			if pending = s.q.take(nil); len(pending) == 0 {
				break
			}
		}
	}
	if alive {
		closeFrame := proto.MustEncode(proto.Frame{Type: proto.TypeClose, Body: &proto.Close{Code: code, Reason: clip(reason, 256)}})
		_ = s.write(wt, closeFrame, min(s.srv.opts.WriteTimeout, time.Second))
	}
	_ = s.conn.Close(websocket.StatusCode(code), clip(reason, 120))
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence; close
// reasons are limited (RFC 6455 §5.5: 123 bytes in a close frame).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// coalescer is what a connection's write buffer writes to. It passes each
// write straight to the connection, except while the session's writer holds
// it: then the frames coder/websocket flushes one by one collect in a
// pooled buffer, sent in one write(2) by release or once coalesceMax bytes
// are waiting. An idle connection holds no buffer (SPEC §5).
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

// sendQueue is a session's bounded outbound queue. push never blocks: it
// fails when max frames are waiting. It grows on demand instead of being a
// buffered channel, so an idle connection holds no preallocated slots
// (SPEC §5 budgets relay memory per idle connection).
type sendQueue struct {
	mu      sync.Mutex
	items   [][]byte
	max     int
	running bool          // a writer goroutine owns the queue
	drained chan struct{} // capacity 1: the writer took the items
}

// push queues b. ok is false when max frames are already waiting; start is
// true when no writer runs and the caller must start one.
func (q *sendQueue) push(b []byte) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false, false
	}
	q.items = append(q.items, b)
	if !q.running {
		q.running = true
		return true, true
	}
	return true, false
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

// release lets the writer exit when nothing is queued and the session is
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
	q.mu.Unlock()
	select {
	case q.drained <- struct{}{}:
	default:
	}
	return out
}

func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
