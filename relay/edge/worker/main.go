//go:build js && wasm

// Command worker is the relay on Cloudflare Workers: one wasm binary with
// two roles, chosen by the JavaScript that starts it (relay/edge/js).
//
//   - The front door: per request, the stateless HTTP routes served through
//     github.com/syumai/workers (one short-lived Go instance per request, as
//     that package runs them). It serves the attachment endpoints with the
//     relay's own upload handler on R2, asking the uploader's shard what
//     needs the relay's state, and forwards /healthz and the admin API to
//     shard 0.
//   - The objects: one long-lived Go instance per isolate serves every relay
//     Durable Object in it, keyed by the object's id (objects.go). A Shard
//     holds the WebSockets of the users that hash to it and runs a
//     relay.Server for them, whose store is the Store object
//     (relay.RemoteStore over Workers RPC) and whose bus is the other shards
//     (relay.ShardBus); the shard hands this instance its WebSocket frames
//     (hibernation API) and the relay's own session code authorises,
//     sequences and routes them. The Store holds the relay's SQLite store
//     and answers the shards (relay.StoreServer).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/edge/internal/jsx"
	"github.com/parley-im/parley/relay/edge/internal/relayflags"
	"github.com/parley-im/parley/relay/edge/r2blob"
	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
)

// uploadsBinding is the R2 bucket binding that keeps attachments
// (wrangler.jsonc r2_buckets). Without it, attachments are off.
const uploadsBinding = "UPLOADS"

// maxAdminBody bounds what the front door forwards of an admin request's
// body: the relay's admin API reads at most 1 MiB.
const maxAdminBody = 1<<20 + 1

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
//
// Routes: GET /healthz, POST /v1/uploads, GET /v1/uploads/{id} (and their
// CORS preflights), and the admin API under /admin/v1/. Nothing else is
// forwarded to the object: its other paths are not reachable from outside.
func frontDoor() http.Handler {
	mux := http.NewServeMux()
	// /healthz is the relay's own handler, served inside the object that
	// holds the store, so it answers for the store the clients use.
	mux.HandleFunc("GET /healthz", forward)
	// The admin API is the relay's (Server.AdminHandler), served inside
	// the object, behind the same admin secret as on the native relay
	// (PARLEY_ADMIN_SECRET): the paths are the native relay's, and no
	// client route starts with /admin/.
	mux.HandleFunc("/admin/v1/", forward)
	uploads := http.HandlerFunc(serveUploads)
	mux.Handle("/v1/uploads", uploads)
	mux.Handle("/v1/uploads/", uploads)
	return mux
}

// forward hands the request to a relay shard's Durable Object and passes
// its answer on.
func forward(w http.ResponseWriter, r *http.Request) {
	ns, err := cloudflare.NewDurableObjectNamespace("SHARDS")
	if err != nil {
		http.Error(w, "relay shard binding missing", http.StatusInternalServerError)
		return
	}
	// Shard 0: any shard answers for the store and serves the admin API
	// (its bus reaches every other shard).
	stub, err := ns.Get(ns.IdFromName(shardName(0)))
	if err != nil {
		http.Error(w, "relay shard unavailable", http.StatusServiceUnavailable)
		return
	}
	fwd := r.Clone(r.Context())
	fwd.Header.Set("X-Parley-Shard", "0")
	fwd.Body = nil // a GET carries none (the stub's Request refuses one)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
		if err != nil {
			http.Error(w, "request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		fwd.Body = io.NopCloser(strings.NewReader(string(body)))
		fwd.ContentLength = int64(len(body))
	}
	res, err := stub.Fetch(fwd)
	if err != nil {
		http.Error(w, "relay shard unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// serveUploads is the relay's own upload handler (relay.NewUploadHandler),
// built for this request: the bytes go to and come from R2; the token
// check is the relay's (relay.TokenVerifier, from the same secret and
// options); who may download, who is told an attachment is gone, and the
// per-user upload limits are answered by the relay's Durable Object, which
// holds the store and keeps the limits across requests; each upload is
// recorded there under its uploader, so that deleting the user deletes it.
func serveUploads(w http.ResponseWriter, r *http.Request) {
	if !cloudflare.GetBinding(uploadsBinding).Truthy() {
		http.Error(w, "attachments are off: no R2 bucket is bound as "+uploadsBinding, http.StatusNotFound)
		return
	}
	opts, err := envOptions()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	blobs, err := r2blob.New(uploadsBinding, "")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	verify, err := relay.TokenVerifier(opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h, err := relay.NewUploadHandler(relay.UploadOptions{
		Blobs:  blobs,
		Verify: verify,
		MayDownload: func(_ context.Context, user, conv, id string) (bool, error) {
			v, err := callRelay(r, "mayDownload", user, conv, id)
			return v.Truthy(), err
		},
		IsMember: func(_ context.Context, user, conv string) (bool, error) {
			v, err := callRelay(r, "isParty", user, conv)
			return v.Truthy(), err
		},
		SignIn: func(_ context.Context, user, token string) *proto.Error {
			v, err := callRelay(r, "signIn", user, token)
			if err != nil {
				// As a hello is let through when the store cannot answer.
				opts.Logger.Warn("reading bans and revocations failed; user let through", "user", user, "err", err)
				return nil
			}
			if v.IsNull() || v.IsUndefined() {
				return nil
			}
			return &proto.Error{Code: proto.Code(v.Get("code").Int()), Message: v.Get("message").String()}
		},
		Uploaded: func(_ context.Context, user, id string) error {
			_, err := callRelay(r, "recordUpload", user, id)
			return err
		},
		Admit: func(_ context.Context, user string, size int64) (time.Duration, error) {
			v, err := callRelay(r, "admitUpload", user, size)
			if err != nil {
				return 0, err
			}
			return time.Duration(v.Float() * float64(time.Millisecond)), nil
		},
		MaxUpload:  opts.MaxUpload,
		AllowTypes: opts.UploadTypes,
		Logger:     opts.Logger,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// syumai/workers reads a missing Content-Length as 0; the handler
	// tells "not declared" (a streamed body with Upload-Length) by -1.
	if r.Header.Get("Content-Length") == "" {
		r.ContentLength = -1
	}
	h.ServeHTTP(w, r)
}

// callRelay calls method of the Shard Durable Object that serves user
// (Workers RPC; the methods are the Shard class's in js/entry.mjs,
// unreachable by fetch), which keeps that user's upload limits.
func callRelay(_ *http.Request, method, user string, args ...any) (js.Value, error) {
	ns := cloudflare.GetBinding("SHARDS")
	if !ns.Truthy() {
		return js.Value{}, fmt.Errorf("relay shard binding missing")
	}
	shards, err := shardCount()
	if err != nil {
		return js.Value{}, err
	}
	i := relay.ShardOf(user, shards)
	stub := ns.Call("get", ns.Call("idFromName", shardName(i)))
	return jsx.Await(stub.Call(method, append([]any{i, user}, args...)...))
}

// shardName names shard i's Durable Object, as js/entry.mjs does.
func shardName(i int) string { return "shard:" + strconv.Itoa(i) }

// defaultShards and maxShards are js/shard.mjs's DEFAULT_SHARDS and
// MAX_SHARDS.
const defaultShards, maxShards = 8, 256

// shardCount is PARLEY_SHARDS, read as js/shard.mjs reads it: the front
// door and the shards must route every user to the same shard.
func shardCount() (int, error) {
	v := envString("PARLEY_SHARDS")
	if v == "" {
		return defaultShards, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxShards {
		return 0, fmt.Errorf("PARLEY_SHARDS must be an integer from 1 to %d, not %q", maxShards, v)
	}
	return n, nil
}

// envOptions are the relay's options from the Worker's variables and
// secrets, the same in the front door and in the objects: PARLEY_SECRET,
// PARLEY_TOKEN_AUDIENCE, PARLEY_TOKEN_ISSUER, PARLEY_ADMIN_SECRET and the
// flags in PARLEY_RELAY_FLAGS (relayflags).
func envOptions() (relay.Options, error) {
	opts := relay.Options{
		Secret:        envString("PARLEY_SECRET"),
		TokenAudience: envString("PARLEY_TOKEN_AUDIENCE"),
		TokenIssuer:   envString("PARLEY_TOKEN_ISSUER"),
		AdminSecret:   envString("PARLEY_ADMIN_SECRET"),
		Logger:        slog.New(slog.NewTextHandler(consoleWriter{}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := relayflags.Apply(&opts, envString("PARLEY_RELAY_FLAGS")); err != nil {
		return opts, err
	}
	return opts, nil
}

// envString is a string variable or secret of the Worker, "" when unset.
func envString(name string) string {
	if v := cloudflare.GetBinding(name); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}
