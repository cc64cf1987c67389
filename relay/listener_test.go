package relay

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
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
