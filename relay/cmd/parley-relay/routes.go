package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
)

// relayRoutes are the routes relay.Server.Handler serves. The binary mounts
// the relay at exactly these, so that its own routes — a static directory at
// "/" above all — never shadow the relay's.
var relayRoutes = []string{"GET /v1/ws", "GET /healthz", "POST /v1/uploads", "OPTIONS /v1/uploads", "GET /v1/uploads/{id}", "OPTIONS /v1/uploads/{id}"}

// extras are what only the binary serves around the relay.
type extras struct {
	static   http.Handler // the --static folder served at "/" (staticFiles); nil for none
	devToken string       // secret that POST /dev/token signs with; "" for none
}

// routes returns the binary's public HTTP handler: the relay's routes and
// extras.
func routes(relayHandler http.Handler, x extras) http.Handler {
	mux := http.NewServeMux()
	for _, pattern := range relayRoutes {
		mux.Handle(pattern, relayHandler)
	}
	if x.devToken != "" {
		mux.Handle("POST /dev/token", devTokens(x.devToken))
	}
	if x.static != nil {
		mux.Handle("GET /", x.static)
	}
	return mux
}

// adminRoutes returns the handler of the admin listener: the relay's
// metrics, its admin API (with --admin-secret) and, with pprof, Go's
// profiler.
func adminRoutes(admin http.Handler, pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", admin)
	mux.Handle("/admin/", admin)
	if pprofOn {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// isLoopback reports whether the listen address addr binds only loopback
// interfaces: an IP literal in 127.0.0.0/8 or ::1, or "localhost". An
// empty host binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devTokens mints a 24-hour token for any user who asks: the demo's sign-in.
// It exists only with --dev-tokens, which the demo sets and nothing else
// should: it makes every account public.
func devTokens(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if !proto.ValidName(user) {
			http.Error(w, "user must be 1-64 characters of [A-Za-z0-9_.@-]", http.StatusBadRequest)
			return
		}
		tok, err := relay.MintToken(secret, user, 24*time.Hour, time.Now())
		if err != nil {
			http.Error(w, "cannot mint a token", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(tok))
	})
}
