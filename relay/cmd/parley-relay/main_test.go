package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
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

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"launch"}, 2},
		{"serve/unknown flag", []string{"serve", "--bogus"}, 2},
		{"serve/extra argument", []string{"serve", "now"}, 2},
		{"serve/bad synchronous", []string{"serve", "--synchronous", "OFF"}, 2},
		{"serve/tiny max frame", []string{"serve", "--max-frame", "10"}, 2},
		{"serve/bad log level", []string{"serve", "--log-level", "loud"}, 2},
		{"serve/zero rate", []string{"serve", "--rate-limit", "0"}, 2},
		{"serve/bad duration", []string{"serve", "--heartbeat", "soon"}, 2},
		{"token/no user", []string{"token", "--secret", "s"}, 2},
		{"token/bad user", []string{"token", "--user", "a b", "--secret", "s"}, 2},
		{"token/bad ttl", []string{"token", "--user", "a", "--secret", "s", "--ttl", "-1h"}, 2},
		{"help", []string{"help"}, 0},
		{"serve -h", []string{"serve", "-h"}, 0},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		if got := run(context.Background(), tc.args, &stdout, &stderr); got != tc.code {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", tc.name, got, tc.code, stderr.String())
		}
		if tc.code == 2 && stderr.Len() == 0 {
			t.Errorf("%s: no message on stderr", tc.name)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, io.Discard); code != 0 || !strings.HasPrefix(stdout.String(), "parley-relay ") {
		t.Fatalf("exit %d, output %q", code, stdout.String())
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"token", "--user", "alice", "--secret", "s3cret", "--ttl", "1h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(stdout.String()), &claims, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || time.Until(claims.ExpiresAt.Time) > time.Hour || claims.IssuedAt == nil {
		t.Fatalf("claims %+v", claims)
	}
}

// TestServe starts the relay on a free port, checks it answers, and stops
// it the way SIGTERM does.
func TestServe(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "error", "--synchronous", "normal"}, &stdout, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if u, found := strings.CutPrefix(strings.TrimSpace(stdout.String()), "parley-relay listening on "); found {
			url = u
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	// The secret it generated is the one token uses with the same data dir.
	var tok bytes.Buffer
	if code := run(context.Background(), []string{"token", "--user", "bob", "--data", data}, &tok, io.Discard); code != 0 {
		t.Fatalf("token exit %d", code)
	}
}
