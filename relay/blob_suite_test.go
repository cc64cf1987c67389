//go:build !js

package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// blobStores are the BlobStore implementations the conformance suite runs
// on. Amazon S3 itself (or MinIO) is not reachable from the tests: the S3
// implementation runs against gofakes3, a FAKE S3 server in this process
// that speaks the S3 REST API (it does not check signatures).
func blobStores(t *testing.T) map[string]func(t *testing.T) BlobStore {
	return map[string]func(t *testing.T) BlobStore{
		"memory": func(t *testing.T) BlobStore { return NewMemoryBlobStore() },
		"local": func(t *testing.T) BlobStore {
			s, err := NewLocalBlobStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"fake-s3": func(t *testing.T) BlobStore { return newFakeS3Store(t, "parley/") },
	}
}

// newFakeS3Store starts a fake S3 server (gofakes3, in memory) and returns
// an S3BlobStore on a bucket in it.
func newFakeS3Store(t *testing.T, prefix string) *S3BlobStore {
	t.Helper()
	fake := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true))
	srv := httptest.NewServer(fake.Server())
	t.Cleanup(srv.Close)
	s, err := NewS3BlobStore(S3Options{Endpoint: srv.URL, Region: "us-east-1", Bucket: "parley-test", Prefix: prefix,
		AccessKey: "fake-access-key", SecretKey: "fake-secret-key", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBlobStoreConformance holds every BlobStore to the same contract.
func TestBlobStoreConformance(t *testing.T) {
	// Not parallel with the package's other tests: its uploads would load
	// the machine under their timing-sensitive ones (TestSlowConsumer).
	for name, open := range blobStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			rng := rand.New(rand.NewPCG(7, 13))
			data := make([]byte, 1<<20+17) // several buffers and S3 read chunks
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			meta := BlobMeta{Size: int64(len(data)), ContentType: "application/pdf", Owner: "alice"}

			t.Run("missing", func(t *testing.T) {
				if _, err := s.Stat(ctx, "u/nothing-here"); !errors.Is(err, ErrBlobNotFound) {
					t.Fatalf("Stat of a missing key = %v, want ErrBlobNotFound", err)
				}
				if _, err := s.Get(ctx, "u/nothing-here", 0, -1); !errors.Is(err, ErrBlobNotFound) {
					t.Fatalf("Get of a missing key = %v, want ErrBlobNotFound", err)
				}
				if err := s.Delete(ctx, "u/nothing-here"); err != nil {
					t.Fatalf("Delete of a missing key = %v", err)
				}
			})

			if err := s.Put(ctx, "u/blob1", onlyReader{bytes.NewReader(data)}, meta); err != nil {
				t.Fatal(err)
			}
			got, err := s.Stat(ctx, "u/blob1")
			if err != nil || got != meta {
				t.Fatalf("Stat = %+v, %v; want %+v", got, err, meta)
			}
			for _, r := range []struct{ off, n int64 }{{0, -1}, {0, 1}, {5, 100}, {int64(len(data)) - 10, -1}, {int64(len(data)) - 1, 1}, {1 << 19, 1 << 19}, {9, 0}} {
				rc, err := s.Get(ctx, "u/blob1", r.off, r.n)
				if err != nil {
					t.Fatalf("Get(%d, %d): %v", r.off, r.n, err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				want := data[r.off:]
				if r.n >= 0 {
					want = want[:r.n]
				}
				if err != nil || !bytes.Equal(b, want) {
					t.Fatalf("Get(%d, %d) = %d bytes, %v; want %d bytes", r.off, r.n, len(b), err, len(want))
				}
			}

			t.Run("short body stores nothing", func(t *testing.T) {
				err := s.Put(ctx, "u/short", onlyReader{bytes.NewReader(data[:1000])}, BlobMeta{Size: 1001, ContentType: "text/plain", Owner: "bob"})
				if !errors.Is(err, ErrBlobSize) {
					t.Fatalf("Put of a short body = %v, want ErrBlobSize", err)
				}
				if _, err := s.Stat(ctx, "u/short"); !errors.Is(err, ErrBlobNotFound) {
					t.Fatalf("a failed Put left %v", err)
				}
			})
			t.Run("long body stores nothing", func(t *testing.T) {
				err := s.Put(ctx, "u/long", onlyReader{bytes.NewReader(data[:1001])}, BlobMeta{Size: 1000, ContentType: "text/plain", Owner: "bob"})
				if !errors.Is(err, ErrBlobSize) {
					t.Fatalf("Put of a long body = %v, want ErrBlobSize", err)
				}
				if _, err := s.Stat(ctx, "u/long"); !errors.Is(err, ErrBlobNotFound) {
					t.Fatalf("a failed Put left %v", err)
				}
			})
			t.Run("failing reader stores nothing", func(t *testing.T) {
				boom := errors.New("connection reset")
				err := s.Put(ctx, "u/cut", io.MultiReader(bytes.NewReader(data[:70000]), errReader{boom}), BlobMeta{Size: 100000, ContentType: "text/plain"})
				if err == nil {
					t.Fatal("Put of a failing reader succeeded")
				}
				if _, err := s.Stat(ctx, "u/cut"); !errors.Is(err, ErrBlobNotFound) {
					t.Fatalf("a failed Put left %v", err)
				}
			})
			t.Run("empty blob", func(t *testing.T) {
				if err := s.Put(ctx, "l/blob1/70-3a-61", strings.NewReader(""), BlobMeta{ContentType: "application/octet-stream"}); err != nil {
					t.Fatal(err)
				}
				m, err := s.Stat(ctx, "l/blob1/70-3a-61")
				if err != nil || m.Size != 0 || m.Owner != "" {
					t.Fatalf("Stat = %+v, %v", m, err)
				}
			})
			t.Run("replace", func(t *testing.T) {
				if err := s.Put(ctx, "u/r", strings.NewReader("first"), BlobMeta{Size: 5, ContentType: "text/plain", Owner: "a"}); err != nil {
					t.Fatal(err)
				}
				if err := s.Put(ctx, "u/r", strings.NewReader("second!"), BlobMeta{Size: 7, ContentType: "text/markdown", Owner: "b"}); err != nil {
					t.Fatal(err)
				}
				m, _ := s.Stat(ctx, "u/r")
				rc, err := s.Get(ctx, "u/r", 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if string(b) != "second!" || m != (BlobMeta{Size: 7, ContentType: "text/markdown", Owner: "b"}) {
					t.Fatalf("after replace: %q %+v", b, m)
				}
			})
			t.Run("invalid keys", func(t *testing.T) {
				for _, k := range []string{"", "../x", "u/../../x", "/abs", "u//x", "u/x/", "u/x.meta", "u/ä", "u/x y"} {
					if err := s.Put(ctx, k, strings.NewReader(""), BlobMeta{}); err == nil || errors.Is(err, ErrBlobSize) {
						t.Errorf("Put(%q) = %v, want an invalid key", k, err)
					}
					if _, err := s.Stat(ctx, k); err == nil || errors.Is(err, ErrBlobNotFound) {
						t.Errorf("Stat(%q) = %v, want an invalid key", k, err)
					}
				}
			})

			if err := s.Delete(ctx, "u/blob1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, "u/blob1"); !errors.Is(err, ErrBlobNotFound) {
				t.Fatalf("Stat after Delete = %v", err)
			}
		})
	}
}

// onlyReader hides every method but Read, as a request body does: a store
// must not need to seek or know the length from the reader.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
