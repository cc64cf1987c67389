package client

import (
	"net/url"
	"os"
	"strings"
	"syscall/js"
	"testing"
)

// Under js/wasm the relay runs in the native test that started this one
// (TestClientUnderJSWasm): it serves PARLEY_CLIENT_CONTROL, an HTTP
// endpoint that starts and stops relays and mints tokens, reached here
// through the host's fetch.

func control(t *testing.T, path string) string {
	t.Helper()
	base := os.Getenv("PARLEY_CLIENT_CONTROL")
	if base == "" {
		t.Skip("SKIPPED: PARLEY_CLIENT_CONTROL is not set — run the js/wasm client tests through `go test ./sdk-wasm/client` (TestClientUnderJSWasm), which serves it")
	}
	opts := js.Global().Get("Object").New()
	opts.Set("method", "POST")
	resp, err := AwaitHost(0, func() js.Value { return js.Global().Call("fetch", base+path, opts) })
	if err != nil {
		t.Fatalf("control %s: %v", path, err)
	}
	body, err := AwaitHost(0, func() js.Value { return resp.Call("text") })
	if err != nil {
		t.Fatalf("control %s: %v", path, err)
	}
	if !resp.Get("ok").Bool() {
		t.Fatalf("control %s: %d %s", path, resp.Get("status").Int(), body.String())
	}
	return body.String()
}

// startRelay starts a relay with a memory store; stop shuts it down.
func startRelay(t *testing.T) (wsURL string, stop func()) {
	t.Helper()
	id, u, _ := strings.Cut(control(t, "/relay"), "\n")
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			control(t, "/relay/stop?id="+id)
		}
	}
	t.Cleanup(stop)
	return u, stop
}

// restartableRelay starts a relay over a SQLite store; restart starts a new
// one on the same address and data after stop.
func restartableRelay(t *testing.T) (wsURL string, stop, restart func()) {
	t.Helper()
	id, u, _ := strings.Cut(control(t, "/relay?data=1"), "\n")
	stop = func() { control(t, "/relay/stop?id="+id) }
	restart = func() { control(t, "/relay/restart?id="+id) }
	t.Cleanup(stop)
	return u, stop, restart
}

func tokenFor(t *testing.T, user string) string {
	t.Helper()
	return control(t, "/token?user="+url.QueryEscape(user))
}

// persistentStore returns a function that hands out the same store again,
// as an app restart over the host's storage would: a MemoryStore survives
// its Close.
func persistentStore(t *testing.T, _ string) func() Store {
	s := NewMemoryStore()
	return func() Store { return s }
}
