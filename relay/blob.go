package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// BlobStore keeps the bytes of uploaded attachments. The upload handler
// (NewUploadHandler) streams request bodies into it and ranges out of it; it
// is the only thing the handler needs from storage besides a membership
// check, so the same handler serves in front of local files, an
// S3-compatible bucket or any other object store.
//
// Keys are 1 to 512 characters of [A-Za-z0-9_-] in segments separated by
// single slashes (validBlobKey); implementations may rely on that.
type BlobStore interface {
	// Put stores what r yields up to EOF under key, with meta.Owner and
	// meta.ContentType. r must yield exactly meta.Size bytes: if it ends
	// early or holds more, or fails, nothing is stored and the error is
	// returned (ErrBlobSize for a wrong length). A stored blob appears
	// whole or not at all; putting a key again replaces it.
	Put(ctx context.Context, key string, r io.Reader, meta BlobMeta) error
	// Get returns length bytes of key from offset off on (length < 0: to
	// the end). The caller checks the range against Stat first.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns what Put stored with key, or ErrBlobNotFound.
	Stat(ctx context.Context, key string) (BlobMeta, error)
	// Delete removes key; a key that does not exist is not an error.
	Delete(ctx context.Context, key string) error
}

// BlobMeta is what a BlobStore keeps beside a blob's bytes.
type BlobMeta struct {
	Size        int64
	ContentType string // a media type without parameters
	Owner       string // the user who uploaded it; "" for internal records
}

var (
	// ErrBlobNotFound is returned for a key with nothing stored under it.
	ErrBlobNotFound = errors.New("relay: blob not found")
	// ErrBlobSize is returned by Put when the reader's length is not the
	// declared size.
	ErrBlobSize = errors.New("relay: blob length differs from its declared size")
)

// validBlobKey reports whether key is a valid BlobStore key: no empty, "."
// or ".." segment can appear, so a key never names a path outside the
// store's folder.
func validBlobKey(key string) bool {
	if len(key) == 0 || len(key) > 512 || key[0] == '/' || key[len(key)-1] == '/' {
		return false
	}
	prev := byte('/')
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '/' && prev != '/':
		default:
			return false
		}
		prev = c
	}
	return true
}

func checkBlobKey(key string) error {
	if !validBlobKey(key) {
		return fmt.Errorf("relay: invalid blob key %q", key)
	}
	return nil
}

// exactReader passes on r's bytes and fails when r holds fewer or more than
// n: with io.ErrUnexpectedEOF when it ends early, ErrBlobSize when it goes
// on after n bytes. It makes sure r is at its end before it hands out the
// last byte, so that a consumer never sees a complete body of a source that
// is too long (an HTTP request of the declared length would already be
// sent whole).
type exactReader struct {
	r    io.Reader
	left int64
	err  error // sticky
}

func newExactReader(r io.Reader, n int64) *exactReader { return &exactReader{r: r, left: n} }

// ExactReader returns a reader of r's bytes that fails unless r holds
// exactly n, for BlobStore implementations outside this package: with
// io.ErrUnexpectedEOF when r ends early, ErrBlobSize when it goes on, in
// either case before the last byte is handed out. BlobSizeError turns its
// failures into the ErrBlobSize that Put returns.
func ExactReader(r io.Reader, n int64) io.Reader { return newExactReader(r, n) }

// BlobSizeError wraps ExactReader's length failures in ErrBlobSize and
// returns other errors as they are.
func BlobSizeError(err error) error { return blobSizeErr(err) }

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		e.err = e.atEnd()
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0 && n > 0:
		if e.err = e.atEnd(); e.err != io.EOF {
			return 0, e.err
		}
		return n, nil
	case err == io.EOF:
		e.err = io.ErrUnexpectedEOF
		return n, e.err
	case err != nil:
		e.err = err
	}
	return n, err
}

// atEnd reads on past the declared length: io.EOF when there is nothing
// more, ErrBlobSize when there is, or the source's error.
func (e *exactReader) atEnd() error {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		switch {
		case n > 0:
			return ErrBlobSize
		case err != nil:
			return err
		}
	}
}

// MemoryBlobStore is a BlobStore in memory, for tests and for embedding the
// relay where uploads need not survive the process.
type MemoryBlobStore struct {
	mu    sync.Mutex
	blobs map[string]memBlob
}

type memBlob struct {
	meta BlobMeta
	data []byte
}

var _ BlobStore = (*MemoryBlobStore)(nil)

// NewMemoryBlobStore returns an empty MemoryBlobStore.
func NewMemoryBlobStore() *MemoryBlobStore { return &MemoryBlobStore{blobs: make(map[string]memBlob)} }

// Put implements BlobStore.
func (m *MemoryBlobStore) Put(ctx context.Context, key string, r io.Reader, meta BlobMeta) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, newExactReader(r, meta.Size)); err != nil {
		return blobSizeErr(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.blobs[key] = memBlob{meta: meta, data: buf.Bytes()}
	m.mu.Unlock()
	return nil
}

// Get implements BlobStore.
func (m *MemoryBlobStore) Get(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := checkBlobKey(key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	b, ok := m.blobs[key]
	m.mu.Unlock()
	if !ok {
		return nil, ErrBlobNotFound
	}
	data := b.data[min(off, int64(len(b.data))):]
	if length >= 0 && length < int64(len(data)) {
		data = data[:length]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Stat implements BlobStore.
func (m *MemoryBlobStore) Stat(_ context.Context, key string) (BlobMeta, error) {
	if err := checkBlobKey(key); err != nil {
		return BlobMeta{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[key]
	if !ok {
		return BlobMeta{}, ErrBlobNotFound
	}
	return b.meta, nil
}

// Delete implements BlobStore.
func (m *MemoryBlobStore) Delete(_ context.Context, key string) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.blobs, key)
	m.mu.Unlock()
	return nil
}

// blobSizeErr maps an exactReader's length failures to ErrBlobSize.
func blobSizeErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrBlobSize) {
		return fmt.Errorf("%w: %v", ErrBlobSize, err)
	}
	return err
}
