package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// staticTree builds a web app folder with what an attacker would go for
// beside it: a secret outside, a symlink to it, a dotfile, a subfolder
// without an index.
func staticTree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "www")
	outside = filepath.Join(base, "secret")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) { must(os.MkdirAll(filepath.Dir(p), 0o755)); must(os.WriteFile(p, []byte(s), 0o644)) }
	write(filepath.Join(root, "index.html"), "<h1>app</h1>")
	write(filepath.Join(root, "assets", "parley-AbCd1234.wasm"), "\x00asm raw")
	write(filepath.Join(root, "assets", "parley-AbCd1234.wasm.br"), "brotli bytes")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("\x00asm raw"))
	must(zw.Close())
	write(filepath.Join(root, "assets", "parley-AbCd1234.wasm.gz"), gz.String())
	write(filepath.Join(root, "assets", "app-Zz9Yy8Xx.js"), "console.log(1)")
	write(filepath.Join(root, ".env"), "SECRET=1")
	write(filepath.Join(root, ".git", "config"), "[core]")
	write(filepath.Join(root, "docs", "readme.txt"), "no index here")
	write(filepath.Join(outside, "secret.key"), "token secret")
	must(os.Symlink(filepath.Join(outside, "secret.key"), filepath.Join(root, "leak.key")))
	must(os.Symlink(outside, filepath.Join(root, "leakdir")))
	write(filepath.Join(root, "inner.txt"), "inner")
	must(os.Symlink(filepath.Join(root, "inner.txt"), filepath.Join(root, "alias.txt")))
	return root, outside
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://relay"+path, nil)
	req.URL.Path = path // keep dot segments as a raw client could send them
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestStaticRefusesWhatIsNotTheApp(t *testing.T) {
	t.Parallel()
	root, _ := staticTree(t)
	h, err := newStaticFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/.env", "/.git/config", "/.git/", "/assets/../.env", // dotfiles
		"/docs/", "/docs", // a folder without index.html: no listing
		"/leak.key", "/leakdir/secret.key", "/leakdir/", // symlinks leading out
		"/../secret/secret.key", "/%2e%2e/secret/secret.key", // traversal
		"/missing.js",
	} {
		rec := get(t, h, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", path, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "token secret") || strings.Contains(rec.Body.String(), "SECRET") {
			t.Errorf("GET %s leaked %q", path, rec.Body.String())
		}
	}
	if rec := get(t, h, "/"); rec.Code != http.StatusOK || rec.Body.String() != "<h1>app</h1>" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET /: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	// A symlink that stays inside the folder is fine.
	if rec := get(t, h, "/alias.txt"); rec.Code != http.StatusOK || rec.Body.String() != "inner" {
		t.Errorf("GET /alias.txt: %d %q", rec.Code, rec.Body.String())
	}
}

func TestStaticServesPrecompressedWasm(t *testing.T) {
	t.Parallel()
	root, _ := staticTree(t)
	h, err := newStaticFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	const wasm = "/assets/parley-AbCd1234.wasm"
	for _, tc := range []struct {
		accept, encoding, body string
	}{
		{"gzip, deflate, br, zstd", "br", "brotli bytes"},
		{"br;q=0, gzip", "gzip", ""},
		{"gzip", "gzip", ""},
		{"", "", "\x00asm raw"},
		{"identity", "", "\x00asm raw"},
		{"*", "br", "brotli bytes"},
	} {
		rec := get(t, h, wasm, "Accept-Encoding", tc.accept)
		hd := rec.Header()
		if rec.Code != http.StatusOK || hd.Get("Content-Encoding") != tc.encoding || hd.Get("Content-Type") != "application/wasm" {
			t.Errorf("Accept-Encoding %q: %d encoding %q type %q", tc.accept, rec.Code, hd.Get("Content-Encoding"), hd.Get("Content-Type"))
			continue
		}
		if hd.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.Contains(hd.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: cache %q vary %q", tc.accept, hd.Get("Cache-Control"), hd.Get("Vary"))
		}
		body := rec.Body.String()
		if tc.encoding == "gzip" {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(zr)
			body, tc.body = string(b), "\x00asm raw"
		}
		if body != tc.body {
			t.Errorf("Accept-Encoding %q: body %q, want %q", tc.accept, body, tc.body)
		}
	}
	// The compressed copies are not a way around the rules either.
	if rec := get(t, h, "/.env.br", "Accept-Encoding", "br"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /.env.br: %d", rec.Code)
	}
}

func TestStaticContentAddressedIsImmutable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "parley.wasm")
	write := func(body string, mod time.Time) string {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mod, mod); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		return hex.EncodeToString(sum[:])
	}
	h, err := newStaticFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	cache := func(query string) (int, string, string) {
		req := httptest.NewRequest(http.MethodGet, "http://relay/parley.wasm"+query, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("Cache-Control"), rec.Body.String()
	}
	const immutable = "public, max-age=31536000, immutable"
	v1 := write("\x00asm version 1", time.Unix(1_700_000_000, 0))
	for _, tc := range []struct {
		query, want string
	}{
		{"", "no-cache"},
		{"?v=" + v1[:16], immutable},
		{"?v=" + strings.ToUpper(v1[:16]), immutable},
		{"?v=" + v1, immutable},
		{"?v=" + v1[:15], "no-cache"}, // too short to stand for the content
		{"?v=0000000000000000", "no-cache"},
		{"?v=" + v1[:16] + "&v=x", immutable},
	} {
		code, cc, body := cache(tc.query)
		if code != http.StatusOK || cc != tc.want || body != "\x00asm version 1" {
			t.Errorf("GET /parley.wasm%s: %d %q %q, want 200 %q", tc.query, code, cc, body, tc.want)
		}
	}
	// The file replaced in place: the old address no longer holds.
	v2 := write("\x00asm version 2", time.Unix(1_700_000_100, 0))
	if _, cc, body := cache("?v=" + v1[:16]); cc != "no-cache" || body != "\x00asm version 2" {
		t.Errorf("old address after the file changed: %q %q", cc, body)
	}
	if _, cc, _ := cache("?v=" + v2[:16]); cc != immutable {
		t.Errorf("new address: %q", cc)
	}
}

func TestDataInsideStaticRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	static := filepath.Join(base, "www")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(static, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{static, filepath.Join(static, "data"), filepath.Join(base, "link", "new", "data")} {
		if err := checkDataOutsideStatic(static, data); err == nil {
			t.Errorf("--data %s inside --static %s accepted", data, static)
		}
	}
	for _, data := range []string{filepath.Join(base, "data"), filepath.Join(base, "www2")} {
		if err := checkDataOutsideStatic(static, data); err != nil {
			t.Errorf("--data %s: %v", data, err)
		}
	}
	// The binary refuses to start, before it writes anything.
	var stdout, stderr syncBuffer
	inside := filepath.Join(static, "parley-data")
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--static", static, "--data", inside}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "inside --static") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(inside); err == nil {
		t.Fatal("the refused data dir was created")
	}
}
