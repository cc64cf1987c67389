package main

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
)

// relayRoutes are the routes relay.Server.Handler serves. The binary mounts
// the relay at exactly these, so that its own routes — a static directory at
// "/" above all — never shadow the relay's.
var relayRoutes = []string{"GET /v1/ws", "GET /healthz", "GET /metrics"}

// extras are what only the binary serves around the relay.
type extras struct {
	static   http.Handler // the --static folder served at "/" (staticFiles); nil for none
	pprof    bool         // Go's profiler at /debug/pprof/
	devToken string       // secret that POST /dev/token signs with; "" for none
}

// routes returns the binary's HTTP handler: the relay's routes and extras.
func routes(relayHandler http.Handler, x extras) http.Handler {
	mux := http.NewServeMux()
	for _, pattern := range relayRoutes {
		mux.Handle(pattern, relayHandler)
	}
	if x.pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if x.devToken != "" {
		mux.Handle("POST /dev/token", devTokens(x.devToken))
	}
	if x.static != nil {
		mux.Handle("GET /", x.static)
	}
	return mux
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
