package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// staticFiles serves a built web app from a folder (--static) and nothing
// else from the disk:
//
//   - no directory listings: a folder answers with its index.html or 404;
//   - no dotfiles: a path with a segment starting with "." is 404 (.env,
//     .git/, the relay's own files should a data dir live there);
//   - no way out: a file whose real path (symlinks resolved) is outside the
//     folder is 404, whatever links lead to it;
//   - precompressed variants: when the client accepts br (or gzip) and
//     name.br (name.gz) exists beside name, those bytes are sent with
//     Content-Encoding and the type of name; every answer varies on
//     Accept-Encoding;
//   - caching: files under assets/ carry a content hash in their names (the
//     bundler's output), so they are immutable for a year. So is a file
//     asked for with ?v= and at least 16 hex digits that begin its
//     SHA-256 (the SDK's ESM build names its parley.wasm so): the URL
//     changes with the content, so a reload need not ask again.
//     Everything else (index.html, the service worker, a ?v= that does not
//     match) is revalidated on every load.
type staticFiles struct {
	root string // absolute, symlinks resolved

	mu     sync.Mutex
	hashes map[hashKey]string // SHA-256 in hex of the files ?v= named
}

// hashKey is a file as it was when hashed: a file replaced in place gets
// a new key.
type hashKey struct {
	name string
	size int64
	mod  time.Time
}

// minVersionDigits is the shortest ?v= taken as a content address: 64
// bits of SHA-256.
const minVersionDigits = 16

// newStaticFiles checks dir and returns its handler.
func newStaticFiles(dir string) (*staticFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("--static %s: %w", dir, err)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--static %s: not a directory", dir)
	}
	return &staticFiles{root: real, hashes: map[hashKey]string{}}, nil
}

// checkDataOutsideStatic refuses a data dir inside (or equal to) the static
// folder: the token secret and the database would be downloadable. Both are
// compared as real paths, so a symlink does not hide the nesting.
func checkDataOutsideStatic(static, data string) error {
	if static == "" || data == "" {
		return nil
	}
	s, err := realPath(static)
	if err != nil {
		return err
	}
	d, err := realPath(data)
	if err != nil {
		return err
	}
	if within(s, d) {
		return fmt.Errorf("--data %s is inside --static %s: its secret and database would be served; move one of them", data, static)
	}
	return nil
}

// realPath resolves p's symlinks; a p that does not exist yet (a data dir
// the relay will create) resolves through its nearest existing parent.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		real, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", err
		}
		rest = append([]string{filepath.Base(abs)}, rest...)
		abs = parent
	}
}

// within reports whether p is root or below it.
func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + r.URL.Path)
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			http.NotFound(w, r)
			return
		}
	}
	file, st, ok := s.open(name)
	if ok && st.IsDir() {
		file.Close()
		name = path.Join(name, "index.html")
		file, st, ok = s.open(name)
	}
	if !ok || st.IsDir() {
		if ok {
			file.Close()
		}
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if strings.HasPrefix(name, "/assets/") || s.addressed(name, st, file, r.URL.Query().Get("v")) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// A precompressed variant, when the client takes it and it exists.
	accepts := r.Header.Get("Accept-Encoding")
	for _, enc := range []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if !acceptsEncoding(accepts, enc.token) {
			continue
		}
		if zf, zst, ok := s.open(name + enc.ext); ok {
			if zst.IsDir() {
				zf.Close()
				continue
			}
			file.Close()
			defer zf.Close()
			h.Set("Content-Encoding", enc.token)
			http.ServeContent(w, r, name, zst.ModTime(), zf)
			return
		}
	}
	defer file.Close()
	http.ServeContent(w, r, name, st.ModTime(), file)
}

// addressed reports whether v (a request's ?v=) is a content address of
// the file f, opened at name: at least minVersionDigits hex digits that
// begin the SHA-256 of its bytes. A file is hashed once per size and
// modification time; f is left at its start.
func (s *staticFiles) addressed(name string, st os.FileInfo, f *os.File, v string) bool {
	if len(v) < minVersionDigits || len(v) > 2*sha256.Size {
		return false
	}
	key := hashKey{name, st.Size(), st.ModTime()}
	s.mu.Lock()
	sum, ok := s.hashes[key]
	s.mu.Unlock()
	if !ok {
		d := sha256.New()
		_, err := io.Copy(d, f)
		if _, serr := f.Seek(0, io.SeekStart); err != nil || serr != nil {
			return false
		}
		sum = hex.EncodeToString(d.Sum(nil))
		s.mu.Lock()
		for k := range s.hashes {
			if k.name == name { // an older version of the file
				delete(s.hashes, k)
			}
		}
		s.hashes[key] = sum
		s.mu.Unlock()
	}
	return strings.HasPrefix(sum, strings.ToLower(v))
}

// open opens the file at URL path name if its real path is inside the root.
func (s *staticFiles) open(name string) (*os.File, os.FileInfo, bool) {
	full := filepath.Join(s.root, filepath.FromSlash(strings.TrimPrefix(name, "/")))
	real, err := filepath.EvalSymlinks(full)
	if err != nil || !within(s.root, real) {
		return nil, nil, false
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, nil, false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, false
	}
	return f, st, true
}

// contentType is the type of name by its extension; WebAssembly is always
// application/wasm, which streaming compilation requires.
func contentType(name string) string {
	ext := path.Ext(name)
	if ext == ".wasm" {
		return "application/wasm"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// acceptsEncoding reports whether an Accept-Encoding header accepts token
// (RFC 9110 §12.5.3): listed, or covered by "*", and not with q=0.
func acceptsEncoding(header, token string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		coding := strings.ToLower(strings.TrimSpace(fields[0]))
		zero := false
		for _, p := range fields[1:] {
			p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
			if p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000" {
				zero = true
			}
		}
		switch coding {
		case token:
			return !zero
		case "*":
			star = !zero
		}
	}
	return star
}
