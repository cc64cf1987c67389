package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
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
		{"serve/dev tokens on a public address", []string{"serve", "--addr", "0.0.0.0:0", "--dev-tokens"}, 2},
		{"serve/pprof without the admin listener", []string{"serve", "--admin-addr", "off", "--pprof"}, 2},
		{"serve/zero user byte rate", []string{"serve", "--user-byte-rate", "0"}, 2},
		{"serve/zero queue bytes", []string{"serve", "--send-queue-bytes", "0"}, 2},
		{"serve/send queue not above the send window", []string{"serve", "--send-queue", "32"}, 2},
		{"serve/send queue not above a smaller send window", []string{"serve", "--send-queue", "16", "--max-inflight-per-conn", "16"}, 2},
		{"serve/zero groups per user", []string{"serve", "--max-groups-per-user", "0"}, 2},
		{"serve/zero groups per hour", []string{"serve", "--max-groups-per-hour", "0"}, 2},
		{"serve/zero relations", []string{"serve", "--max-relations", "0"}, 2},
		{"serve/zero recall window", []string{"serve", "--recall-window", "0"}, 2},
		{"serve/bad duration", []string{"serve", "--heartbeat", "soon"}, 2},
		{"serve/bad group ids", []string{"serve", "--group-ids", "anyone"}, 2},
		{"serve/bad invite policy", []string{"serve", "--invite-policy", "open"}, 2},
		{"serve/short bus key on the memory bus", []string{"serve", "--bus-key", "short"}, 2},
		{"serve/node id with a slash", []string{"serve", "--node-id", "pod/0"}, 2},
		{"serve/no store partitions", []string{"serve", "--store-partitions", "0"}, 2},
		{"serve/65 store partitions", []string{"serve", "--store-partitions", "65"}, 2},
		{"serve/store partitions on postgres", []string{"serve", "--store-partitions", "2", "--store", "postgres://x@127.0.0.1:1/db"}, 2},
		{"serve/node id over 64 bytes", []string{"serve", "--node-id", strings.Repeat("n", 65)}, 2},
		{"serve/stun url without its scheme", []string{"serve", "--stun", "turn.example.com:3478"}, 2},
		{"serve/empty stun url", []string{"serve", "--stun", "stun:a.example.com,,stun:b.example.com"}, 2},
		{"serve/stun url with a path", []string{"serve", "--stun", "stun:turn.example.com/stun"}, 2},
		{"serve/turn url with a bad transport", []string{"serve", "--turn-urls", "turn:turn.example.com?transport=sctp", "--turn-secret", "s"}, 2},
		{"serve/stun url as a turn url", []string{"serve", "--turn-urls", "stun:turn.example.com", "--turn-secret", "s"}, 2},
		{"token/no user", []string{"token", "--secret", "s"}, 2},
		{"token/bad user", []string{"token", "--user", "a b", "--secret", "s"}, 2},
		{"token/bad ttl", []string{"token", "--user", "a", "--secret", "s", "--ttl", "-1h"}, 2},
		{"help", []string{"help"}, 0},
		{"serve -h", []string{"serve", "-h"}, 0},
	}
	// A check gone missing lets serve start: it stops at once rather than
	// hang the test.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		if got := run(ctx, tc.args, &stdout, &stderr); got != tc.code {
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
	if code := run(context.Background(), []string{"token", "--user", "alice", "--secret", "s3cret-0123456789abcdef0123456789abcdef", "--ttl", "1h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(stdout.String()), &claims, func(*jwt.Token) (any, error) { return []byte("s3cret-0123456789abcdef0123456789abcdef"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || time.Until(claims.ExpiresAt.Time) > time.Hour || claims.IssuedAt == nil {
		t.Fatalf("claims %+v", claims)
	}
}

// serving starts "parley-relay serve" with args on a free port. It returns
// the relay's URL and stop, which stops it the way SIGTERM does and returns
// the exit code.
func serving(t *testing.T, args ...string) (url string, stop func() int) {
	t.Helper()
	url, _, stop = servingAdmin(t, args...)
	return url, stop
}

// servingAdmin is serving that also returns the admin listener's URL ("" when
// it is off); unless args set --admin-addr, it is on a free loopback port.
func servingAdmin(t *testing.T, args ...string) (url, admin string, stop func() int) {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--admin-addr") }) {
		args = append([]string{"--admin-addr", "127.0.0.1:0"}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "error", "--synchronous", "normal"}, args...), &stdout, &stderr)
	}()
	stopped := false
	stop = func() int {
		t.Helper()
		stopped = true
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("stderr:\n%s", stderr.String())
			}
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	adminOff := slices.Contains(args, "off")
	for deadline := time.Now().Add(10 * time.Second); ; {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if u, found := strings.CutPrefix(line, "parley-relay listening on "); found {
				url = u
			}
			if u, found := strings.CutPrefix(line, "parley-relay admin on "); found {
				admin = u
			}
		}
		if url != "" && (admin != "" || adminOff) {
			return url, admin, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var plainHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// fetch sends method to url and returns the status and body.
func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := plainHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServe starts the relay on a free port, checks it answers, and stops
// it the way SIGTERM does.
func TestServe(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	url, stop := serving(t, "--data", data)
	if code, body := fetch(t, "GET", url+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	// Without their flags, none of the binary's own routes exist.
	for _, c := range []struct{ method, path string }{{"GET", "/"}, {"GET", "/debug/pprof/"}, {"POST", "/dev/token?user=alice"}} {
		if code, _ := fetch(t, c.method, url+c.path); code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", c.method, c.path, code)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The secret it generated is the one token uses with the same data dir.
	var tok bytes.Buffer
	if code := run(context.Background(), []string{"token", "--user", "bob", "--data", data}, &tok, io.Discard); code != 0 {
		t.Fatalf("token exit %d", code)
	}
}

// TestServeExtras: --static, --pprof and --dev-tokens add their routes
// around the relay's, which keep working beside a static directory at "/".
func TestServeExtras(t *testing.T) {
	t.Parallel()
	static := t.TempDir()
	if err := os.WriteFile(filepath.Join(static, "index.html"), []byte("<h1>parley</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	url, admin, _ := servingAdmin(t, "--data", t.TempDir(), "--static", static, "--pprof", "--dev-tokens")
	if code, body := fetch(t, "GET", url+"/"); code != 200 || body != "<h1>parley</h1>" {
		t.Fatalf("static: %d %q", code, body)
	}
	if code, body := fetch(t, "GET", url+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz beside static files: %d %q", code, body)
	}
	// Metrics and the profiler are on the admin listener only.
	if code, body := fetch(t, "GET", admin+"/metrics"); code != 200 || !strings.Contains(body, "parley_connections ") {
		t.Fatalf("metrics on the admin listener: %d", code)
	}
	if code, body := fetch(t, "GET", admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof on the admin listener: %d", code)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, body := fetch(t, "GET", url+path); code == 200 && !strings.Contains(body, "<h1>") {
			t.Fatalf("%s served on the public listener", path)
		}
	}
	if code, _ := fetch(t, "POST", url+"/dev/token?user=bad%20name"); code != http.StatusBadRequest {
		t.Fatalf("dev token for an invalid user: %d", code)
	}
	code, tok := fetch(t, "POST", url+"/dev/token?user=alice")
	if code != 200 {
		t.Fatalf("dev token: %d", code)
	}
	// The minted token opens a session on the relay's WebSocket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/v1/ws", &websocket.DialOptions{HTTPClient: plainHTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	hello := proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "d"}})
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := proto.Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w, isWelcome := f.Body.(*proto.Welcome); !isWelcome || w.UserID != "alice" {
		t.Fatalf("hello with a development token: %s %+v", f.Type, f.Body)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// serveFlags returns the flags of serve -h: name → its usage line and
// default ("" when the usage states none).
func serveFlags(t *testing.T) map[string][2]string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("serve -h: exit %d", code)
	}
	flags := map[string][2]string{}
	name := ""
	for _, line := range strings.Split(stdout.String()+stderr.String(), "\n") {
		if f, found := strings.CutPrefix(line, "  -"); found {
			name, _, _ = strings.Cut(f, " ")
			flags[name] = [2]string{}
			continue
		}
		if name == "" || !strings.HasPrefix(line, "    \t") {
			continue
		}
		usage := strings.TrimSpace(line)
		def := ""
		if i := strings.LastIndex(usage, " (default "); i >= 0 && strings.HasSuffix(usage, ")") {
			def = strings.Trim(usage[i+len(" (default "):len(usage)-1], `"`)
		}
		flags[name] = [2]string{usage, def}
	}
	if len(flags) < 60 {
		t.Fatalf("serve -h lists %d flags", len(flags))
	}
	return flags
}

// TestServeFlagVariables: every flag of serve reads the PARLEY_ variable of
// its name, as docs/deployment.md promises, and the variable sets it.
func TestServeFlagVariables(t *testing.T) {
	t.Parallel()
	for name, f := range serveFlags(t) {
		want := "(env PARLEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + ")"
		if !strings.Contains(f[0], want) {
			t.Errorf("--%s: usage %q lacks %s", name, f[0], want)
		}
	}
}

// TestServeDocumentedDefaults: the defaults docs/deployment.md states for
// serve's flags are the flags' own.
func TestServeDocumentedDefaults(t *testing.T) {
	t.Parallel()
	flags := serveFlags(t)
	raw, err := os.ReadFile("../../../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	// normal turns a documented default into the flag package's spelling.
	normal := func(s string) string {
		s = strings.ReplaceAll(s, ",", "")
		if n, found := strings.CutSuffix(s, " MiB"); found {
			v, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("default %q", s)
			}
			return strconv.Itoa(v << 20)
		}
		s = strings.ReplaceAll(s, " ms", "ms")
		s = strings.ReplaceAll(s, " s", "s")
		s = strings.ReplaceAll(s, " h", "h")
		if d, err := time.ParseDuration(s); err == nil {
			return d.String()
		}
		return s
	}
	checked := 0
	// The admission table: | `--flag` (`PARLEY_X`) | `Option` | default | … |
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\(`(PARLEY_[A-Z_]+)`\\) \\| `[A-Za-z]+` \\| ([^|]+) \\|")
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		checked++
		f, found := flags[m[1]]
		if !found {
			t.Errorf("docs/deployment.md lists --%s, which serve does not have", m[1])
			continue
		}
		if !strings.Contains(f[0], "(env "+m[2]+")") {
			t.Errorf("--%s: documented variable %s, usage %q", m[1], m[2], f[0])
		}
		if got, want := f[1], normal(strings.TrimSpace(m[3])); got != want {
			t.Errorf("--%s: default %s, docs/deployment.md says %s", m[1], got, want)
		}
	}
	// In the text: "`--flag` (45 s)", "(`--flag`, 4096)", "`--flag`
	// (default `parley`)", "`--flag` (15 s by default)", "`--flag` times, 5
	// by default", "(`--flag`, `127.0.0.1:8788` by default)".
	for _, re := range []string{
		"`--([a-z-]+)`(?:\\s+\\(`PARLEY_[A-Z_]+`)?,?\\s+\\((?:default )?`?([0-9][0-9,.]* ?(?:ms|s|h|MiB)?|[a-z]+)`?[),]",
		"\\(`--([a-z-]+)`, ([0-9][0-9,.]* ?(?:ms|s|h|MiB)?)\\)",
		"`--([a-z-]+)`\\s+\\(([0-9][0-9,.]* ?(?:ms|s|h)) by default\\)",
		"`--([a-z-]+)` times, ([0-9]+) by default",
		"`--([a-z-]+)`,\\s+`([0-9.:]+)` by default",
		"`--([a-z-]+)`[^.(]*\\(`PARLEY_[A-Z_]+`[^)]*; defaults to the ([a-z]+) secret\\)",
	} {
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(doc, -1) {
			f, found := flags[m[1]]
			if !found {
				t.Errorf("docs/deployment.md names --%s, which serve does not have", m[1])
				continue
			}
			if m[2] == "admin" || m[2] == "none" {
				continue
			}
			checked++
			if got, want := f[1], normal(m[2]); got != want {
				t.Errorf("--%s: default %s, docs/deployment.md says %s", m[1], got, want)
			}
		}
	}
	if checked < 12 {
		t.Fatalf("checked only %d documented defaults", checked)
	}
}

// TestServeVariableAndFlag: a PARLEY_ variable sets its flag, and the flag
// given on the command line wins over it.
func TestServeVariableAndFlag(t *testing.T) {
	t.Setenv("PARLEY_LOG_LEVEL", "loud")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--log-level \"loud\"") {
		t.Errorf("PARLEY_LOG_LEVEL=loud: exit %d, stderr:\n%s", code, stderr.String())
	}
	stderr.Reset()
	// With the flag given, the variable's bad value is not read: what
	// fails is the next check, on --max-frame.
	if code := run(context.Background(), []string{"serve", "--log-level", "warn", "--max-frame", "10"}, io.Discard, &stderr); code != 2 || strings.Contains(stderr.String(), "log-level") || !strings.Contains(stderr.String(), "--max-frame 10") {
		t.Errorf("--log-level warn over PARLEY_LOG_LEVEL=loud: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestServeDrain: stopped the way SIGTERM stops it, the relay closes an open
// session with close{4100} and the same WebSocket status, then exits 0.
func TestServeDrain(t *testing.T) {
	t.Parallel()
	url, stop := serving(t, "--data", t.TempDir(), "--dev-tokens")
	code, tok := fetch(t, "POST", url+"/dev/token?user=alice")
	if code != 200 {
		t.Fatalf("dev token: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/v1/ws", &websocket.DialOptions{HTTPClient: plainHTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	hello := proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: tok, DeviceID: "d"}})
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil { // welcome
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() { exited <- stop() }()
	var closeFrame *proto.Close
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusCode(proto.CodeShutdown) {
				t.Errorf("WebSocket close status %d, want %d (%v)", got, proto.CodeShutdown, err)
			}
			break
		}
		if f, err := proto.Decode(b, 0); err == nil && f.Type == proto.TypeClose {
			closeFrame = f.Body.(*proto.Close)
		}
	}
	if closeFrame == nil || closeFrame.Code != proto.CodeShutdown {
		t.Errorf("close frame %+v, want code %d", closeFrame, proto.CodeShutdown)
	}
	if code := <-exited; code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestTokenVariables: token reads PARLEY_SECRET and PARLEY_DATA as serve
// does; --user is a flag only, so PARLEY_USER does not stand in for it.
func TestTokenVariables(t *testing.T) {
	secret := "s3cret-from-the-environment-0123456789"
	t.Setenv("PARLEY_SECRET", secret)
	t.Setenv("PARLEY_USER", "alice")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"token"}, &stdout, &stderr); code != 2 {
		t.Errorf("token without --user but PARLEY_USER set: exit %d", code)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"token", "--user", "bob"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	key := func(*jwt.Token) (any, error) { return []byte(secret), nil }
	if _, err := jwt.Parse(strings.TrimSpace(stdout.String()), key, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Errorf("a token not signed with PARLEY_SECRET: %v", err)
	}

	// PARLEY_DATA: the secret serve generated in that directory.
	t.Setenv("PARLEY_SECRET", "")
	data := t.TempDir()
	generated := strings.Repeat("d", 40)
	if err := os.WriteFile(filepath.Join(data, "secret"), []byte(generated), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARLEY_DATA", data)
	stdout.Reset()
	if code := run(context.Background(), []string{"token", "--user", "bob"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	key = func(*jwt.Token) (any, error) { return []byte(generated), nil }
	if _, err := jwt.Parse(strings.TrimSpace(stdout.String()), key, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Errorf("a token not signed with the secret in PARLEY_DATA: %v", err)
	}
}
