package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// Server is a Parley relay. Create it with New, mount Handler or call Serve,
// and end it with Shutdown.
type Server struct {
	opts    Options
	store   Store
	bus     Bus
	sub     Subscription
	hub     *hub
	commit  *committer
	metrics *metrics
	key     []byte
	log     *slog.Logger
	handler http.Handler

	baseCtx   context.Context // parent of every session's context
	cancelAll context.CancelFunc

	mu       sync.Mutex
	draining bool
	sessions map[*session]struct{} // every live session, authenticated or not
	wg       sync.WaitGroup        // one per live session
	servers  []*http.Server

	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns a relay configured by opts, with its store open and its
// committer running.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	secret, err := ResolveSecret(o.Secret, o.Data)
	if err != nil {
		return nil, err
	}
	store := o.Store
	if store == nil {
		store, err = OpenSQLite(o.Data, SQLiteOptions{Synchronous: o.Synchronous})
		if err != nil {
			return nil, err
		}
	}
	bus := o.Bus
	if bus == nil {
		bus = NewMemoryBus()
	}
	s := &Server{
		opts: o, store: store, bus: bus, hub: newHub(), metrics: newMetrics(),
		key: []byte(secret), log: o.Logger, sessions: make(map[*session]struct{}),
	}
	s.baseCtx, s.cancelAll = context.WithCancel(context.Background())
	s.hub.onLost = func() { s.metrics.busLost.Add(1) }
	if s.sub, err = bus.Subscribe(s.hub); err != nil {
		store.Close()
		return nil, fmt.Errorf("relay: subscribe to bus: %w", err)
	}
	s.commit = newCommitter(store, o.BatchMax, o.Logger, func(n int) { s.metrics.batchSize.observe(float64(n)) })
	go s.commit.run()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ws", s.serveWS)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	s.handler = mux
	return s, nil
}

// Handler returns the relay's HTTP handler. It serves GET /v1/ws (the
// WebSocket), GET /healthz and GET /metrics, and nothing else: an
// application mounts it beside its own routes (cmd/parley-relay adds static
// files, the profiler and development tokens that way).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts connections on ln until Shutdown, then returns
// http.ErrServerClosed, like http.Server.Serve.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	return hs.Serve(ln)
}

// Shutdown drains the relay: it stops accepting connections, lets the
// committer commit and acknowledge every send it was given, closes every
// session with 4100 (after their queued frames), and closes the store. If
// ctx ends first, the remaining connections are dropped and ctx's error is
// returned. Later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	servers := s.servers
	s.mu.Unlock()

	var errs []error
	for _, hs := range servers {
		// Closes the listeners; hijacked WebSocket connections are ours.
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.commit.stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("relay: committer: %w", err))
	}
	s.mu.Lock()
	for sess := range s.sessions {
		sess.close(proto.CodeShutdown, "relay shutting down")
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
		s.cancelAll() // stop store work in flight
		s.mu.Lock()
		for sess := range s.sessions {
			sess.teardown() // drop whatever is left
		}
		s.mu.Unlock()
		<-done
	}
	s.cancelAll()
	s.sub.Close()
	if c, ok := s.bus.(interface{ Close() }); ok {
		c.Close()
	}
	if err := s.store.Close(); err != nil && !errors.Is(err, ErrClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// track registers a new connection, or refuses it while draining.
func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		http.Error(w, "relay shutting down", http.StatusServiceUnavailable)
		return
	}
	sb := &smallBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		OriginPatterns: s.opts.Origins,
		// Any origin when no allow-list is set: authentication is by token in
		// the first frame, never by cookie (see Options.Origins).
		InsecureSkipVerify: len(s.opts.Origins) == 0,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("websocket accept failed", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return // Accept has written the response (403 for a forbidden origin)
	}
	conn.SetReadLimit(-1) // the session enforces MaxFrame with its own close code
	sess := newSession(s, conn, sb.out)
	if !s.track(sess) { // Shutdown began after the check above
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Write(ctx, websocket.MessageBinary,
			proto.MustEncode(proto.Frame{Type: proto.TypeClose, Body: &proto.Close{Code: proto.CodeShutdown, Reason: "relay shutting down"}}))
		cancel()
		_ = conn.Close(websocket.StatusCode(proto.CodeShutdown), "relay shutting down")
		return
	}
	// The handler returns at once and the session lives on a fresh
	// goroutine: net/http's per-connection state (its 4 KiB buffers, the
	// deep stack of its serving goroutine) is released, which roughly halves
	// what an idle connection costs (SPEC §5).
	go func() {
		defer s.untrack(sess)
		sess.run()
	}()
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = s.metrics.write(w)
	if b, ok := s.bus.(interface{ Connected() bool }); ok {
		up := 0
		if b.Connected() {
			up = 1
		}
		fmt.Fprintf(w, "# HELP parley_bus_connected Whether the bus to other relays is connected (1) or reconnecting (0).\n# TYPE parley_bus_connected gauge\nparley_bus_connected %d\n", up)
	}
}

// sent completes a send on the committer goroutine: the ack (or error) to
// the sending session, then — for a new message — one Deliver, encoded once,
// to every other session of every member. Fan-out happens even if the sender
// is gone: the message is committed, so its members must see it.
func (s *Server) sent(sess *session, id uint64, r *commitReq, res AppendResult) {
	if res.Err != nil {
		sess.replyErr(id, res.Err)
		return
	}
	m := &res.Message
	// Counted before the ack leaves, so that a client holding its ack sees
	// the metrics that include it.
	if res.Duplicate {
		s.metrics.dedup.Add(1)
	} else {
		s.metrics.stored.Add(1)
	}
	s.metrics.ackLatency.observe(since(r.readAt))
	sess.reply(proto.Frame{Type: proto.TypeAck, ID: id, Body: &proto.Ack{
		ConvID: m.ConvID, ClientID: m.ClientID, Seq: m.Seq, CreatedAt: m.CreatedAt, Duplicate: res.Duplicate,
	}})
	if !res.Duplicate {
		s.publish(res.Members, sess.id, proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: *m}}))
	}
}

// publish fans frame out through the bus to users' sessions but except.
func (s *Server) publish(users []string, except string, frame []byte) {
	if err := s.bus.Publish(s.baseCtx, Envelope{Users: users, Except: except, Frame: frame}); err != nil {
		s.metrics.busErrors.Add(1)
		s.log.Error("fan-out failed", "users", len(users), "err", err)
	}
}

// connBufferSize is the size of each of a connection's read and write
// buffers. net/http hands a hijacked connection 4 KiB of each; most frames
// are far smaller, and larger ones bypass a bufio buffer anyway, so idle
// connections keep 1 KiB instead of 8 (SPEC §5 budgets idle memory).
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
