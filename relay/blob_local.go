package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LocalBlobStore is a BlobStore of files under a folder: a blob's bytes in
// <dir>/<key> and its metadata in <dir>/<key>.meta (JSON). A Put writes
// both to temporary files in <dir>/.tmp, syncs them and renames them into
// place, metadata first, so a crash leaves either the old blob, the new one,
// or an orphaned metadata file that Stat ignores.
type LocalBlobStore struct {
	dir string
}

var _ BlobStore = (*LocalBlobStore)(nil)

// NewLocalBlobStore returns a LocalBlobStore in dir, creating it (mode
// 0700) when missing.
func NewLocalBlobStore(dir string) (*LocalBlobStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, ".tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("relay: blob store: %w", err)
	}
	return &LocalBlobStore{dir: dir}, nil
}

type localMeta struct {
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	Owner       string `json:"owner,omitempty"`
}

func (l *LocalBlobStore) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// Put implements BlobStore.
func (l *LocalBlobStore) Put(ctx context.Context, key string, r io.Reader, meta BlobMeta) (err error) {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, ".tmp")
	data, err := os.CreateTemp(tmp, "blob-*")
	if err != nil {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	defer func() {
		if err != nil {
			data.Close()
			os.Remove(data.Name())
		}
	}()
	if _, err = io.Copy(data, ctxReader{ctx, newExactReader(r, meta.Size)}); err != nil {
		return blobSizeErr(err)
	}
	if err = data.Sync(); err != nil {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	if err = data.Close(); err != nil {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	mb, _ := json.Marshal(localMeta{Size: meta.Size, ContentType: meta.ContentType, Owner: meta.Owner})
	mf, err := os.CreateTemp(tmp, "meta-*")
	if err != nil {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	_, err = mf.Write(mb)
	if err = errors.Join(err, mf.Sync(), mf.Close()); err != nil {
		os.Remove(mf.Name())
		return fmt.Errorf("relay: blob store: %w", err)
	}
	dst := l.path(key)
	if err = os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.Remove(mf.Name())
		return fmt.Errorf("relay: blob store: %w", err)
	}
	if err = os.Rename(mf.Name(), dst+".meta"); err != nil {
		os.Remove(mf.Name())
		return fmt.Errorf("relay: blob store: %w", err)
	}
	if err = os.Rename(data.Name(), dst); err != nil {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	return nil
}

// Get implements BlobStore.
func (l *LocalBlobStore) Get(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := checkBlobKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("relay: blob store: %w", err)
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("relay: blob store: %w", err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Stat implements BlobStore.
func (l *LocalBlobStore) Stat(_ context.Context, key string) (BlobMeta, error) {
	if err := checkBlobKey(key); err != nil {
		return BlobMeta{}, err
	}
	p := l.path(key)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return BlobMeta{}, ErrBlobNotFound
	}
	if err != nil {
		return BlobMeta{}, fmt.Errorf("relay: blob store: %w", err)
	}
	b, err := os.ReadFile(p + ".meta")
	if err != nil {
		return BlobMeta{}, fmt.Errorf("relay: blob store: %w", err)
	}
	var m localMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return BlobMeta{}, fmt.Errorf("relay: blob store: %s.meta: %w", key, err)
	}
	return BlobMeta{Size: fi.Size(), ContentType: m.ContentType, Owner: m.Owner}, nil
}

// Delete implements BlobStore.
func (l *LocalBlobStore) Delete(_ context.Context, key string) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	p := l.path(key)
	err := os.Remove(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	if err := os.Remove(p + ".meta"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("relay: blob store: %w", err)
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
