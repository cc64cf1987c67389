// Package testsvc gives tests the external services the scale-out build runs
// on: the PostgreSQL and NATS servers of this machine, fresh schemas, and
// nats-server processes a test may stop and start again.
//
// A test that needs a service it cannot reach is skipped with a loud message,
// unless PARLEY_REQUIRE_SERVICES=1 (as in ./build.sh test, which starts the
// services first): then it fails.
package testsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
)

// unavailable skips or fails t for a missing service.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PARLEY_REQUIRE_SERVICES") == "1" {
		t.Fatalf("required service missing (PARLEY_REQUIRE_SERVICES=1): %s", msg)
	}
	t.Skipf("SKIPPED LOUDLY: %s", msg)
}

// PostgresURL is the server tests use: $PARLEY_TEST_POSTGRES, by default the
// local one's database test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PARLEY_TEST_POSTGRES")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		unavailable(t, "no PostgreSQL at %s (%v); set PARLEY_TEST_POSTGRES or start it", u, err)
	}
	c.Close(ctx)
	return u
}

// FreshSchema creates an empty schema on the server at base, drops it when t
// ends, and returns base pointed at it (search_path), so parallel tests and
// several relays of one test share nothing but what they should.
func FreshSchema(t testing.TB, base string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "parley_t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WithHost returns the URL u with its host:port replaced, e.g. to go through
// a fault proxy.
func WithHost(t testing.TB, u, hostport string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("parse %s: %v", u, err)
	}
	p.Host = hostport
	return p.String()
}

// HostPort is the host:port of the URL u.
func HostPort(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("parse %s: %v", u, err)
	}
	return p.Host
}

// NATSURL is the NATS server tests share: $PARLEY_TEST_NATS, by default the
// local one on 127.0.0.1:4222.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PARLEY_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(u, nats.Timeout(3*time.Second))
	if err != nil {
		unavailable(t, "no NATS at %s (%v); set PARLEY_TEST_NATS or start nats-server", u, err)
	}
	nc.Close()
	return u
}

// NATSServerBin is where Debian's nats-server package installs the server.
const NATSServerBin = "/usr/sbin/nats-server"

// NATS is a nats-server process of the test's own, on a fixed port, which the
// test may stop and start again.
type NATS struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// StartNATS starts a nats-server on a free port and stops it when t ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	if _, err := os.Stat(NATSServerBin); err != nil {
		unavailable(t, "%s is not installed (Debian package nats-server)", NATSServerBin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &NATS{t: t, port: port}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// URL is the server's client URL.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the server again after Stop; it returns once it accepts.
func (n *NATS) Start() {
	n.t.Helper()
	n.cmd = exec.Command(NATSServerBin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port))
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.port))
		if err == nil {
			c.Close()
			return
		}
		if i > 250 {
			n.t.Fatalf("nats-server on port %d did not start", n.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: nothing is flushed, as in a crash).
func (n *NATS) Stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}
