package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
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
	metrics *metrics
	log     *slog.Logger
	handler http.Handler
	env     *sessionEnv // what every session is given

	baseCtx   context.Context // parent of every session's store and bus calls
	cancelAll context.CancelFunc

	mu       sync.Mutex
	draining bool
	sessions map[*Session]struct{} // every open session, authenticated or not
	wg       sync.WaitGroup        // one per open session
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
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
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
	}
	s.baseCtx, s.cancelAll = context.WithCancel(context.Background())
	s.hub.onLost = func() { s.metrics.busLost.Add(1) }
	if r, ok := bus.(interface{ Rejected() uint64 }); ok {
		s.metrics.busRejected = r.Rejected
	}
	if s.sub, err = bus.Subscribe(s.hub); err != nil {
		store.Close()
		return nil, fmt.Errorf("relay: subscribe to bus: %w", err)
	}
	fan := &fanout{bus: bus, ctx: s.baseCtx, metrics: s.metrics, log: o.Logger}
	s.commit = newCommitter(store, o.BatchMax, o.Logger, s.metrics, fan)
	go s.commit.run()
	tokens := &tokenPolicy{key: []byte(secret), audience: o.TokenAudience, issuer: o.TokenIssuer,
		maxTTL: o.MaxTokenTTL, leeway: o.TokenLeeway}
	s.env = &sessionEnv{
		ctx: s.baseCtx,
		limits: sessionLimits{
			maxFrame: o.MaxFrame, authTimeout: o.AuthTimeout, heartbeat: o.Heartbeat,
			heartbeatTimeout: o.HeartbeatTimeout, rateLimit: o.RateLimit, rateBurst: o.RateBurst,
			tokenLeeway: o.TokenLeeway, maxGroups: o.MaxGroupsPerUser, maxGroupsHour: o.MaxGroupsPerHour,
			groupIDs: o.GroupIDs,
		},
		verify: tokens.verify,
		store:  store, commit: s.commit, hub: s.hub, sub: s.sub, fan: fan,
		metrics: s.metrics, log: o.Logger, left: s.left,
	}

	mux := http.NewServeMux()
	s.mountWS(mux)
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
		id: randomHex(8), t: t, env: env, remote: info.Remote,
		bucket: rules.NewBucket(env.limits.rateLimit, env.limits.rateBurst),
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
