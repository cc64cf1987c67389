package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Server is a Parley relay. Create it with New, mount Handler or call Serve,
// and end it with Shutdown. A Transport of one's own can bring connections
// in through Open.
type Server struct {
	opts    Options
	store   Store
	bus     Bus
	sub     Subscription
	hub     *hub
	commit  *committer
	admit   *admission
	metrics *metrics
	log     *slog.Logger
	warnLog *rateLog // warnings an attacker could multiply
	handler http.Handler

	metricsHandler http.Handler
	admin          http.Handler
	ctl            *control       // sessions across nodes: rosters, kicks, revocations
	hooks          *webhooks      // nil without Options.Webhook
	env            *sessionEnv    // what every session is given
	uploads        *uploadHandler // nil without a blob store
	// uploadIndex records uploads in the store's UploadIndex, those made
	// at once together; nil for a store without one.
	uploadIndex *writeBatcher[Upload, struct{}]

	baseCtx   context.Context // parent of every session's store and bus calls
	cancelAll context.CancelFunc

	mu       sync.Mutex
	draining bool
	sessions map[*Session]struct{} // every open session, authenticated or not
	wg       sync.WaitGroup        // one per open session
	servers  []*http.Server

	shutdownOnce sync.Once
	abandoned    atomic.Bool // Abandon was called: Shutdown reports no error
	shutdownErr  error
}

// New returns a relay configured by opts, with its store open and its
// committer running.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tokens, err := newTokenPolicy(o)
	if err != nil {
		return nil, err
	}
	store := o.Store
	if store == nil {
		store, err = openDefaultStore(o)
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
		log: o.Logger, sessions: make(map[*Session]struct{}),
		warnLog: newRateLog(o.Logger, 5, 20), uploadIndex: newUploadIndex(store),
	}
	s.baseCtx, s.cancelAll = context.WithCancel(context.Background())
	s.hub.onLost = func() { s.metrics.busLost.Add(1) }
	if r, ok := bus.(interface{ Rejected() uint64 }); ok {
		s.metrics.busRejected = r.Rejected
	}
	if d, ok := bus.(interface{ Dropped() uint64 }); ok {
		s.metrics.busDropped = d.Dropped
	}
	s.hooks = newWebhooks(s.baseCtx, o, s.metrics)
	s.ctl = s.newControl(o) // sessions.go
	if s.sub, err = bus.Subscribe(s.hub); err != nil {
		store.Close()
		return nil, fmt.Errorf("relay: subscribe to bus: %w", err)
	}
	if err := s.watchEveryone(); err != nil {
		s.sub.Close()
		store.Close()
		return nil, err
	}
	fan := &fanout{bus: bus, ctx: s.baseCtx, metrics: s.metrics, log: o.Logger}
	s.admit = newAdmission(o, s.metrics)
	s.commit = newCommitter(store, o.BatchMax, max(o.BatchMax, o.MaxInflightSends), o.Logger, s.metrics, fan)
	s.commit.hooks = s.hooks
	go s.commit.run()
	s.env = &sessionEnv{
		ctx: s.baseCtx,
		limits: sessionLimits{
			maxFrame: o.MaxFrame, authTimeout: o.AuthTimeout, heartbeat: o.Heartbeat,
			heartbeatTimeout: o.HeartbeatTimeout, rateLimit: o.RateLimit, rateBurst: o.RateBurst,
			tokenLeeway: o.TokenLeeway, maxGroups: o.MaxGroupsPerUser, maxGroupsHour: o.MaxGroupsPerHour, maxRelations: o.MaxRelations,
			groupIDs: o.GroupIDs, invitePolicy: o.InvitePolicy, recallWindow: o.RecallWindow,
		},
		verify: tokens.verify, serves: o.Serves,
		store: store, users: newUserTable(o), commit: s.commit, reads: newWriteBatcher(readBatch, store.MarkReads),
		admit: s.admit, hub: s.hub, sub: s.sub, fan: fan,
		metrics: s.metrics, log: o.Logger, warnLog: s.warnLog, left: s.left,
		calls: newCalls(o.Calls, store, s.hub, fan, s.baseCtx, o.Logger),
		ctl:   s.ctl, gate: s.gate(), hooks: s.hooks,
	}
	s.env.presence = newPresenceTracker(s.baseCtx, store, fan, s.hooks, o)
	s.ctl.calls = s.env.calls
	s.env.calls.start(s.ctl, s.sub)

	s.registerGauges()
	s.metricsHandler = s.metrics.handler()

	mux := http.NewServeMux()
	s.mountWS(mux)
	if err := s.mountUploads(mux, tokens); err != nil {
		s.commit.stop(context.Background())
		s.sub.Close()
		store.Close()
		return nil, err
	}
	go s.env.sweepReleases()() // session_lifecycle.go
	mux.HandleFunc("GET /healthz", s.serveHealth)
	s.handler = mux
	admin := http.NewServeMux()
	admin.HandleFunc("GET /metrics", s.serveMetrics)
	s.mountAdmin(admin) // admin.go
	s.admin = admin
	return s, nil
}

// Handler returns the relay's public HTTP handler. It serves GET /v1/ws (the
// WebSocket), POST /v1/uploads and GET /v1/uploads/{id} (attachments, see
// NewUploadHandler) and GET /healthz, and nothing else: an application mounts it
// beside its own routes (cmd/parley-relay adds static files and development
// tokens that way).
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler returns the relay's operator handler: GET /metrics
// (Prometheus text). It says how many connections, sessions and refusals
// there are, which is for the operator, not for the clients: serve it on an
// address of its own, not reachable from the internet (cmd/parley-relay:
// --admin-addr, loopback by default).
func (s *Server) AdminHandler() http.Handler { return s.admin }

// Serve accepts connections on ln until Shutdown, then returns
// http.ErrServerClosed, like http.Server.Serve.
func (s *Server) Serve(ln net.Listener) error { return s.ServeHandler(ln, s.handler) }

// ServeHandler is Serve with another handler, one that mounts Handler
// beside routes of its own: the connections are held to the same limits
// (Options.MaxConns, MaxConnsPerIP) and timeouts (ReadHeaderTimeout,
// ReadTimeout, IdleTimeout), and Shutdown stops it.
func (s *Server) ServeHandler(ln net.Listener, h http.Handler) error {
	o := &s.opts
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		IdleTimeout:       o.IdleTimeout,
		// net/http's own messages (TLS handshake errors, retried accepts)
		// are debug: the listener logs what an operator must see.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	ln = newLimitListener(ln, o.MaxConns, o.MaxConnsPerIP, s.metrics, s.warnLog)
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
	if s.abandoned.Load() {
		return nil // cut short on purpose: see Abandon
	}
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
		sess.Close(proto.CodeShutdown, "relay shutting down")
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
			if a, ok := sess.t.(aborter); ok {
				a.abort() // drop whatever is left
			}
		}
		s.mu.Unlock()
		<-done
	}
	s.env.presence.stop(ctx)
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

// Open registers a new client connection carried by t and returns its
// session; t then feeds the session what it reads (Session.Receive) and
// tells it when the connection is over (Session.Gone). While the relay
// drains, Open instead closes t with 4100 and returns nil.
func (s *Server) Open(t Transport, info ConnInfo) *Session {
	env := s.env
	sess := &Session{
		id: randomHex(8), t: t, env: env, remote: info.Remote, opened: time.Now().UnixNano(),
	}
	if env.limits.rateLimit > 0 {
		sess.rate = rate.NewLimiter(rate.Limit(env.limits.rateLimit), env.limits.rateBurst)
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		t.Close(proto.CodeShutdown, "relay shutting down")
		return nil
	}
	sess.timer = time.AfterFunc(env.limits.authTimeout, sess.deadline)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Add(1)
	return sess
}

// Abandon ends the server without another word to its store: a later
// run of the same node (the same NodeID) has taken over, and whatever this
// one still wrote — the presence counts of its ending sessions, say —
// would undo what the new one wrote. Store work in flight is cancelled
// first, before it returns (a store that honours its context writes
// nothing more), then the server shuts down on a goroutine of its own, at
// once, its sessions' transports left to the caller. The Workers relay
// abandons a shard's relay when the shard's Durable Object is constructed
// again after an eviction.
func (s *Server) Abandon() {
	s.abandoned.Store(true)
	s.cancelAll()
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(ctx)
	}()
}

// RestartPresence is for a node without a lease (Options.NodeLease < 0)
// that is the only node of its store and starts again holding sessions it
// restored itself (the Workers relay's Durable Object, woken from
// hibernation with the WebSockets it kept): once every restored session is
// open, it makes this node's session counts in the store exactly the
// sessions held now. Users counted only by the node's earlier run — whose
// sockets closed while it was asleep, or who were connected when its
// process died — go offline and their watchers are told; users still
// connected see no change. It returns at once; the store is written by the
// presence tracker, after the counts it has already taken.
func (s *Server) RestartPresence() { s.env.presence.requestRestart() }

// left forgets a session whose connection is over (see Session.Gone).
func (s *Server) left(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.wg.Done()
}

// isDraining reports whether Shutdown has begun.
func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
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

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	s.metricsHandler.ServeHTTP(w, r)
}

// registerGauges adds the series a scrape computes from the server's state:
// queue depths and the bus connection.
func (s *Server) registerGauges() {
	m := s.metrics
	m.gaugeFunc("parley_commit_queue_sends", "Sends waiting for the committer.", func() float64 { return float64(s.commit.queued()) })
	m.reg.MustRegister(queueCollector{s})
	if b, ok := s.bus.(interface{ Connected() bool }); ok {
		m.gaugeFunc("parley_bus_connected", "Whether the bus to other relays is connected (1) or reconnecting (0).", func() float64 {
			if b.Connected() {
				return 1
			}
			return 0
		})
	}
}

// queuer is a Transport that can tell how many frames wait for its writer.
type queuer interface {
	queued() int
}

// queueCollector reports the frames waiting in the connections' send
// queues, summed and the deepest one, computed at scrape time from the
// open sessions.
type queueCollector struct{ s *Server }

var (
	sendQueueDesc    = prometheus.NewDesc("parley_send_queue_frames", "Frames waiting in all connections' send queues.", nil, nil)
	sendQueueMaxDesc = prometheus.NewDesc("parley_send_queue_max_frames", "Frames waiting in the deepest connection send queue.", nil, nil)
)

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sendQueueDesc
	ch <- sendQueueMaxDesc
}

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	var sum, deepest int
	q.s.mu.Lock()
	for sess := range q.s.sessions {
		if t, ok := sess.t.(queuer); ok {
			n := t.queued()
			sum += n
			deepest = max(deepest, n)
		}
	}
	q.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(sendQueueDesc, prometheus.GaugeValue, float64(sum))
	ch <- prometheus.MustNewConstMetric(sendQueueMaxDesc, prometheus.GaugeValue, float64(deepest))
}
