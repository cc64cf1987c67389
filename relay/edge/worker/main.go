//go:build js && wasm

// Command worker is the relay on Cloudflare Workers: one wasm binary with
// two roles, chosen by the JavaScript that starts it (relay/edge/js).
//
//   - The front door: per request, the stateless HTTP routes served through
//     github.com/syumai/workers (one short-lived Go instance per request, as
//     that package runs them). It forwards what needs the relay's state, such
//     as /healthz, to the relay's Durable Object through a stub.
//   - The objects: one long-lived Go instance per isolate serves every relay
//     Durable Object in it. Each object gets its own relay.Server on its own
//     SQLite storage, keyed by the object's id; the Durable Object hands this
//     instance its WebSocket frames (hibernation API) and the relay's own
//     session code authorises, sequences and routes them.
package main

import (
	"io"
	"net/http"
	"syscall/js"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
)

func main() {
	ctx := js.Global().Get("context")
	if ctx.Get("parleyObjects").Truthy() {
		serveObjects(ctx.Get("binding"))
		workers.Ready()
		select {} // lives as long as the isolate
	}
	workers.Serve(frontDoor())
}

// frontDoor is the Worker's stateless HTTP surface. The WebSocket route
// (/v1/ws) never reaches it: the JavaScript entry hands upgrades to the
// Durable Object directly, as a Go instance per request cannot hold one.
func frontDoor() http.Handler {
	mux := http.NewServeMux()
	// /healthz is the relay's own handler, served inside the object that
	// holds the store, so it answers for the store the clients use.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ns, err := cloudflare.NewDurableObjectNamespace("RELAY")
		if err != nil {
			http.Error(w, "relay object binding missing", http.StatusInternalServerError)
			return
		}
		stub, err := ns.Get(ns.IdFromName(relayObjectName(r)))
		if err != nil {
			http.Error(w, "relay object unavailable", http.StatusServiceUnavailable)
			return
		}
		// A GET carries no body (the stub's Request refuses one).
		fwd := r.Clone(r.Context())
		fwd.Body = nil
		res, err := stub.Fetch(fwd)
		if err != nil {
			http.Error(w, "relay object unavailable", http.StatusServiceUnavailable)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
	return mux
}

// relayObjectName names the Durable Object that serves a request: one
// object for the whole deployment (see docs/deployment.md on sharding).
func relayObjectName(*http.Request) string { return "relay" }
