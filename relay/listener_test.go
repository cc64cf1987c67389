//go:build !js

package relay

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rawConn opens a TCP connection to r.
func rawConn(t *testing.T, r *testRelay) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(r.url, "http://"), 5*time.Second)
	ok(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the relay closes c within d (a read returns
// EOF or a reset).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

func TestIdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := rawConn(t, r)
	_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
	ok(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	ok(t, err)
	resp.Body.Close()
	equal(t, resp.StatusCode, 200, "healthz")
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("an idle keep-alive connection outlived the idle timeout")
	}
}

func TestSilentConnectionClosed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.ReadHeaderTimeout = 300 * time.Millisecond })
	c := rawConn(t, r)
	_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n") // and never the rest
	ok(t, err)
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a connection that never finished its headers stayed open")
	}
}

// TestSlowRequestClosed: a request whose body never finishes arriving is
// cut at the request timeout (Options.ReadTimeout, 15 s by default), though
// its headers came in time and the keep-alive idle timeout never starts.
func TestSlowRequestClosed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond; o.IdleTimeout = time.Minute })
	c := rawConn(t, r)
	_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n\r\n0123456789") // and never the rest
	ok(t, err)
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a request whose body stalled stayed open past the request timeout")
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		global, perIP int
		metric        string
	}{
		{"per ip", -1, 3, limitConnsPerIP},
		{"global", 3, -1, limitConns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) { o.MaxConns, o.MaxConnsPerIP = tc.global, tc.perIP })
			held := make([]net.Conn, 3)
			for i := range held {
				held[i] = rawConn(t, r)
			}
			// The listener counts a connection once it accepted it: wait
			// for all three before the one above the limit.
			deadline := time.Now().Add(5 * time.Second)
			for r.srv.metrics.limitCount(tc.metric) == 0 {
				extra := rawConn(t, r)
				if closedWithin(extra, 200*time.Millisecond) {
					continue // refused: the limit counted it
				}
				extra.Close()
				if time.Now().After(deadline) {
					t.Fatal("a connection above the limit stayed open")
				}
			}
			// The held ones still work, and a slot freed is a slot reused.
			held[0].Close()
			deadline = time.Now().Add(5 * time.Second)
			for {
				c := rawConn(t, r)
				_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
				ok(t, err)
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					resp.Body.Close()
					equal(t, resp.StatusCode, 200, "healthz in a freed slot")
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("a freed slot was never given back")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// failingListener is a listener out of file descriptors.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) {
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
}

// TestAcceptErrorsLogged: failed accepts are counted and logged at warn, a
// few lines a second however fast they repeat, the rest counted in the next
// line.
func TestAcceptErrorsLogged(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := newMetrics()
	l := newLimitListener(failingListener{}, 10, 10, m, newRateLog(log, 5, 20))
	for range 1000 {
		if _, err := l.Accept(); err == nil {
			t.Fatal("accept succeeded")
		}
	}
	equal(t, m.acceptErrors.Load(), uint64(1000), "accept errors counted")
	lines := strings.Count(buf.String(), "accept failed")
	if lines < 1 || lines > 30 {
		t.Fatalf("%d lines for 1000 failed accepts", lines)
	}
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("not at warn:\n%s", buf.String())
	}
	time.Sleep(300 * time.Millisecond) // a token comes back
	_, _ = l.Accept()
	if !strings.Contains(buf.String(), "suppressed=") {
		t.Fatalf("the dropped lines were not reported:\n%s", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
