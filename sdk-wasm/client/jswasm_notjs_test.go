//go:build !js

package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClientUnderJSWasm runs this package's tests again, compiled for
// js/wasm, in Node (Go's wasm exec script), against relays this process
// serves: the same client code over the host's WebSocket instead of
// coder/websocket, with the host-call queue in between.
//
// Node 22 has a global WebSocket; Node 20 takes the ws package from
// PARLEY_NODE_MODULES or, when that is not set, bindings/node_modules
// (npm ci in bindings/ installs it). Without node it skips, loudly.
func TestClientUnderJSWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the js/wasm run builds the test binary for js/wasm")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: `node` is not on PATH — the client is NOT tested under js/wasm. Install Node.js ≥ 20.")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIPPED: `go` is not on PATH; it is needed to build the js/wasm test binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	setup, err := nodeWebSocket(node, root, t.TempDir())
	if err != nil {
		t.Skip("SKIPPED: " + err.Error() + " — the client is NOT tested under js/wasm")
	}
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "client.test.wasm")
	build := exec.CommandContext(ctx, goBin, "test", "-trimpath", "-c", "-o", bin, ".") // -trimpath as build.sh builds parley.wasm: one cache entry per package
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c for js/wasm: %v\n%s", err, out)
	}
	goroot, err := exec.CommandContext(ctx, goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execNode := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec_node.js")

	ctl := newRelayControl(t)
	args := []string{"--stack-size=8192", execNode, bin, "-test.v", "-test.timeout=5m"}
	if run := os.Getenv("PARLEY_JSWASM_RUN"); run != "" {
		args = append(args, "-test.run="+run)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PARLEY_CLIENT_CONTROL="+ctl, "NODE_OPTIONS=--require="+setup)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	passed, failed := 0, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "--- PASS"):
			passed++
		case strings.HasPrefix(strings.TrimSpace(line), "--- FAIL"):
			failed++
		}
		t.Log(line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the js/wasm run failed (%d passed, %d failed): %v", passed, failed, err)
	}
	if passed == 0 {
		t.Fatal("the js/wasm run passed no test")
	}
	t.Logf("js/wasm: %d tests and subtests passed", passed)
}

// nodeWebSocket writes a script for node --require that gives Node a
// global WebSocket where it has none, and returns its path.
func nodeWebSocket(node, root, dir string) (string, error) {
	script := filepath.Join(dir, "websocket.cjs")
	if exec.Command(node, "-e", "if (typeof WebSocket !== 'function') process.exit(1)").Run() == nil {
		return script, os.WriteFile(script, []byte("// Node has a global WebSocket\n"), 0o644)
	}
	modules := os.Getenv("PARLEY_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join(root, "bindings", "node_modules")
	}
	ws, err := filepath.Abs(filepath.Join(modules, "ws"))
	if err != nil {
		return "", err
	}
	if out, err := exec.Command(node, "-e", "require(process.argv[1])", ws).CombinedOutput(); err != nil {
		return "", fmt.Errorf("this Node has no WebSocket and the ws package is not in %s (run npm ci in bindings/ or set PARLEY_NODE_MODULES): %s", modules, strings.TrimSpace(string(out)))
	}
	src := fmt.Sprintf("globalThis.WebSocket ??= require(%q).WebSocket;\n", ws)
	return script, os.WriteFile(script, []byte(src), 0o644)
}

// newRelayControl serves what the js/wasm tests cannot do themselves:
//
//	POST /relay[?data=1]    start a relay (over a SQLite store with data=1,
//	                        else a memory store); answers "<id>\n<ws url>"
//	POST /relay/stop?id=    shut relay id down
//	POST /relay/restart?id= start relay id again on its address and data
//	POST /token?user=       a token for user
func newRelayControl(t *testing.T) string {
	type served struct {
		addr, dir string
		stop      func() error
	}
	var mu sync.Mutex
	relays := map[string]*served{}
	find := func(w http.ResponseWriter, r *http.Request) *served {
		mu.Lock()
		defer mu.Unlock()
		s := relays[r.URL.Query().Get("id")]
		if s == nil {
			http.Error(w, "no such relay", http.StatusNotFound)
		}
		return s
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /relay", func(w http.ResponseWriter, r *http.Request) {
		dir := ""
		if r.URL.Query().Get("data") != "" {
			var err error
			if dir, err = os.MkdirTemp(t.TempDir(), "relay"); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		url, stop, err := serveRelay("127.0.0.1:0", dir)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		mu.Lock()
		id := fmt.Sprint(len(relays) + 1)
		relays[id] = &served{addr: strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/v1/ws"), dir: dir, stop: stop}
		mu.Unlock()
		fmt.Fprintf(w, "%s\n%s", id, url)
	})
	mux.HandleFunc("POST /relay/stop", func(w http.ResponseWriter, r *http.Request) {
		if s := find(w, r); s != nil {
			if err := s.stop(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	})
	mux.HandleFunc("POST /relay/restart", func(w http.ResponseWriter, r *http.Request) {
		if s := find(w, r); s != nil {
			stop, err := reserveRelay(s.addr, s.dir)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			mu.Lock()
			s.stop = stop
			mu.Unlock()
		}
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tokenFor(t, r.URL.Query().Get("user")))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range relays {
			_ = s.stop()
		}
	})
	return "http://" + ln.Addr().String()
}
