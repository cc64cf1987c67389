//go:build !js

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/relay"
)

const secret = "client-test-secret-0123456789abcdef"

// startRelay runs an in-process relay with a memory store on loopback.
func startRelay(t *testing.T) (url string, stop func()) {
	t.Helper()
	url, stopErr, err := serveRelay("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	stop = func() { _ = stopErr() }
	t.Cleanup(stop)
	return url, stop
}

// restartableRelay runs a relay over a SQLite store; restart starts a new
// one on the same address and data after stop.
func restartableRelay(t *testing.T) (url string, stop, restart func()) {
	t.Helper()
	dir := t.TempDir()
	url, current, err := serveRelay("127.0.0.1:0", dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/v1/ws")
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); _ = current(); mu.Unlock() })
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if err := current(); err != nil {
			t.Error(err)
		}
	}
	restart = func() {
		mu.Lock()
		defer mu.Unlock()
		var err error
		if current, err = reserveRelay(addr, dir); err != nil {
			t.Fatal(err)
		}
	}
	return url, stop, restart
}

// reserveRelay starts a relay on addr again, waiting up to 10 s for the
// address to be free.
func reserveRelay(addr, dir string) (stop func() error, err error) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, stop, err = serveRelay(addr, dir)
		if err == nil || time.Now().After(deadline) {
			return stop, err
		}
	}
}

// serveRelay starts a relay on addr ("127.0.0.1:0": any port) over a
// SQLite store in dir, or a memory store when dir is "". stop shuts it down
// once, however often it is called, and says whether it stopped serving.
func serveRelay(addr, dir string) (url string, stop func() error, err error) {
	opts := relay.Options{Data: dir, Secret: secret, Heartbeat: time.Second}
	if dir == "" {
		opts.Store = relay.NewMemoryStore()
	}
	srv, err := relay.New(opts)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				stopErr = fmt.Errorf("relay shutdown: %w", err)
			}
			select {
			case <-served:
			case <-ctx.Done():
				stopErr = errors.New("the relay kept serving after its shutdown")
			}
		})
		return stopErr
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
