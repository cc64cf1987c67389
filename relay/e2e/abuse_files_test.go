package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The abuse suite's attacks on the relay's files, against the real process:
// its --static folder, its secret and its data directory.

// TestAbuseStaticTraversal: a relay serving --static is asked, raw on the
// wire (no client cleans the paths), for a file beside the folder through
// "..", encoded and doubly encoded dots and slashes, backslashes, dotfiles,
// a directory without index.html (no listing) and a symlink that leads out
// of the folder. None of them answers the outside file, the dotfile or a
// listing; the app's own file is served; the healthy pair keeps chatting.
func TestAbuseStaticTraversal(t *testing.T) {
	skipOnEdge(t, "--static is the native relay's")
	t.Parallel()
	base := t.TempDir()
	static := filepath.Join(base, "www")
	secretFile := filepath.Join(base, "outside.txt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(static, "assets", "empty"), 0o755))
	must(os.WriteFile(filepath.Join(static, "index.html"), []byte("<h1>app</h1>"), 0o644))
	must(os.WriteFile(filepath.Join(static, ".env"), []byte("DOTFILE-SECRET"), 0o644))
	must(os.WriteFile(filepath.Join(static, "assets", "app.js"), []byte("console.log(1)"), 0o644))
	must(os.WriteFile(secretFile, []byte("OUTSIDE-SECRET"), 0o644))
	must(os.Symlink(secretFile, filepath.Join(static, "link.txt")))
	must(os.Symlink(base, filepath.Join(static, "up")))
	relay := startRelay(t, "--static", static)
	pair := startPair(t, relay)

	get := func(target string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", relay.addr)
		must(err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
		must(err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		must(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/assets/app.js"); code != 200 || body != "console.log(1)" {
		t.Fatalf("the app's own file: %d %q", code, body)
	}
	for _, target := range []string{
		"/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/%2e%2e%2foutside.txt",
		"/..%2foutside.txt", "/%252e%252e/outside.txt", "/..\\outside.txt", "/assets/..%5c..%5coutside.txt",
		"/.env", "/%2eenv", "/assets/../.env", "/link.txt", "/up/outside.txt", "/up/www/.env",
		"/assets/", "/assets/empty/", "/assets", "//outside.txt", "/static/../../outside.txt",
	} {
		code, body := get(target)
		if strings.Contains(body, "SECRET") || strings.Contains(body, "app.js") || strings.Contains(body, "empty") {
			t.Errorf("GET %s: %d served %q", target, code, body)
		}
		if code == 200 && body != "<h1>app</h1>" {
			t.Errorf("GET %s: 200 with %q", target, body)
		}
	}
	pair.check()
	checkRSS(t, relay)
}

// TestAbuseSecretsAndFiles: the relay refuses to start with a short secret
// (from the flag or the environment) or with its data directory inside
// --static (its secret and database would be served), and one started with
// neither creates its data directory 0700 and its generated secret and
// database 0600.
func TestAbuseSecretsAndFiles(t *testing.T) {
	skipOnEdge(t, "the native relay's files")
	t.Parallel()
	base := t.TempDir()
	static := filepath.Join(base, "www")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	serve := func(extra ...string) []string {
		return append([]string{"serve", "--addr", freeAddr(t), "--admin-addr", "off", "--log-level", "warn"}, extra...)
	}
	for name, c := range map[string]struct {
		args []string
		env  string
		want string
	}{
		"short secret":          {args: serve("--data", filepath.Join(base, "d1"), "--secret", "0123456789abcdef0123456789abcde"), want: "32"},
		"short secret from env": {args: serve("--data", filepath.Join(base, "d2")), env: "PARLEY_SECRET=short", want: "32"},
		"data inside static":    {args: serve("--data", filepath.Join(static, "data"), "--secret", testSecret, "--static", static), want: "inside --static"},
		"data equal to static":  {args: serve("--data", static, "--secret", testSecret, "--static", static), want: "inside --static"},
	} {
		cmd := exec.Command(relayBin, c.args...)
		if c.env != "" {
			cmd.Env = append(os.Environ(), c.env)
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: the relay ran and exited 0: %s", name, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: refused without saying why (want %q): %s", name, c.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(static, "data")); err == nil {
		t.Error("the refused relay created its data directory inside --static")
	}

	// No secret given: one is generated, and the files are private.
	data := filepath.Join(base, "fresh")
	addr := freeAddr(t)
	cmd := exec.Command(relayBin, "serve", "--addr", addr, "--admin-addr", "off", "--data", data, "--log-level", "warn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not start: %s", out.String())
		}
	}
	for path, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "secret"): 0o600, filepath.Join(data, "parley.db"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "secret")); err != nil || len(bytes.TrimSpace(b)) < 64 {
		t.Errorf("generated secret %q (%v), want 64 hex characters", b, err)
	}
}
