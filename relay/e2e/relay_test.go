package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// relayBin is the parley-relay binary built once for the whole package.
var relayBin string

const testSecret = "e2e-secret-0123456789abcdef0123456789abcdef"

// relayProc is a real parley-relay process on a fixed address, so it can be
// killed with SIGKILL and started again where clients expect it.
type relayProc struct {
	t     testing.TB
	addr  string
	admin string // the admin listener (metrics)
	data  string
	extra []string
	cmd   *exec.Cmd
	log   *bytes.Buffer
	// noWait starts the edge relay without waiting for it to be healthy:
	// for a test of a relay that must refuse to run.
	noWait bool
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRelay starts a relay with its data in a fresh temp dir.
//
// Its two addresses are picked free and then bound by the relay; in
// between, another process can take one (an outgoing connection's
// ephemeral port, say). A first start that could not bind is tried again on
// other addresses; a restart (start) keeps its addresses, which clients
// expect.
func startRelay(t testing.TB, extra ...string) *relayProc {
	t.Helper()
	p := &relayProc{t: t, data: t.TempDir(), extra: extra}
	for attempt := 1; ; attempt++ {
		p.addr, p.admin = freeAddr(t), freeAddr(t)
		if p.launch(attempt < 3) {
			break
		}
		t.Logf("relay start %d: an address was taken before the relay bound it; new addresses", attempt)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *relayProc) start() {
	p.t.Helper()
	p.launch(false)
}

// launch starts the relay and waits until it is healthy; false (the
// process gone) when it could not bind its addresses and retryBind is set.
func (p *relayProc) launch(retryBind bool) bool {
	p.t.Helper()
	if edgeTarget() {
		p.startEdge()
		return true
	}
	args := append([]string{"serve", "--addr", p.addr, "--admin-addr", p.admin, "--data", p.data, "--secret", testSecret, "--log-level", "warn"}, p.extra...)
	p.cmd = exec.Command(relayBin, args...)
	p.log = new(bytes.Buffer)
	w := &lockedWriter{b: p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.httpURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		if retryBind && strings.Contains(edgeLog(p), "address already in use") {
			p.signal(syscall.SIGKILL)
			_ = p.cmd.Wait()
			p.cmd = nil
			return false
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("relay did not become healthy: %v\n%s", err, edgeLog(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills the relay without any chance to clean up.
func (p *relayProc) kill9() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	p.signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

func (p *relayProc) stop() {
	if p.cmd == nil {
		return
	}
	p.signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.signal(syscall.SIGKILL)
		<-done
	}
	p.cmd = nil
}

func (p *relayProc) alive() bool {
	if p.cmd == nil {
		return false
	}
	resp, err := http.Get(p.httpURL() + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (p *relayProc) httpURL() string { return "http://" + p.addr }

// adminURL is where the relay serves its metrics and admin API: its
// operator listener; on the edge relay, which has no listener of its own,
// the Worker's address (the admin API under /admin/v1/, no metrics).
func (p *relayProc) adminURL() string {
	if edgeTarget() {
		return "http://" + p.addr
	}
	return "http://" + p.admin
}
func (p *relayProc) wsURL() string { return "ws://" + p.addr + "/v1/ws" }

// token mints an HS256 token the way an application server would, with any
// JWT library: here independently of the relay's own code.
func token(user string, ttl time.Duration) string {
	return tokenWith(user, ttl, testSecret)
}

func tokenWith(user string, ttl time.Duration, secret string) string {
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return s
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin = filepath.Join(dir, "parley-relay")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, "go", "build", "-o", relayBin, "github.com/parley-im/parley/relay/cmd/parley-relay")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building parley-relay:", err)
		os.Exit(1)
	}
	before := countGoroutines()
	code := m.Run()
	if code == 0 {
		if err := checkLeaks(before); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
