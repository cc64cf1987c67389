//go:build !js

package client

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/relay"
)

const secret = "client-test-secret"

// startRelay runs an in-process relay with a memory store on loopback.
func startRelay(t *testing.T) (url string, stop func()) {
	t.Helper()
	url, stop, err := serveRelay()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, stop
}

// serveRelay starts a relay; stop shuts it down (once, however often it is
// called).
func serveRelay() (url string, stop func(), err error) {
	srv, err := relay.New(relay.Options{Store: relay.NewMemoryStore(), Secret: secret, Heartbeat: time.Second})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "ws://" + ln.Addr().String() + "/v1/ws", stop, nil
}

func tokenFor(t *testing.T, user string) string {
	t.Helper()
	tok, err := relay.MintToken(secret, user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// persistentStore returns a function that opens the same SQLite store
// again, as an app restart does.
func persistentStore(t *testing.T, name string) func() Store {
	path := filepath.Join(t.TempDir(), name+".db")
	return func() Store {
		s, err := OpenSQLiteStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
