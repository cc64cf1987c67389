//go:build js && wasm

// Package r2blob is a relay.BlobStore on a Cloudflare R2 bucket, through
// the bucket's binding in a Worker or a Durable Object.
//
// Stat and Delete go through github.com/syumai/workers' cloudflare/r2
// package. Put and Get call the binding directly, because that package
// cannot serve them within bounded memory: its Bucket.Put reads the whole
// body into memory (io.ReadAll) and then copies it once more into a
// JavaScript buffer, and its Bucket.Get has no range. Here Put streams the
// body into R2 through a FixedLengthStream (R2 needs a stream's length up
// front, which an upload declares), one chunk of at most 64 KiB in flight
// at a time, and Get asks R2 for the range and reads its body chunk by
// chunk.
//
// Every method blocks its goroutine on R2's Promises: call them from a
// goroutine, never from a js.FuncOf callback (see package jsx).
package r2blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall/js"

	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/edge/internal/jsx"
	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/r2"
)

// chunk is the most a Put hands R2 at once; also where it stops
// streaming: a smaller blob (the relay's link records and tombstones are
// empty) is put as one buffer.
const chunk = 64 << 10

// ownerKey is the custom metadata field that keeps BlobMeta.Owner.
const ownerKey = "owner"

// Store is a relay.BlobStore on an R2 bucket.
type Store struct {
	bucket *r2.Bucket
	raw    js.Value // the binding itself, for Put and Get
	prefix string
}

var _ relay.BlobStore = (*Store)(nil)

// New returns the store of the R2 bucket bound as binding (wrangler.jsonc
// r2_buckets), its keys under prefix ("" for none, else ending in "/").
func New(binding, prefix string) (*Store, error) {
	b, err := r2.NewBucket(binding)
	if err != nil {
		return nil, fmt.Errorf("r2blob: %w", err)
	}
	return &Store{bucket: b, raw: cloudflare.GetBinding(binding), prefix: prefix}, nil
}

// Put implements relay.BlobStore. R2 stores an object whole or not at all:
// a body that fails, ends early or runs long aborts the stream, and R2
// keeps nothing (nor the object a key held before).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, meta relay.BlobMeta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := js.Global().Get("Object").New()
	hm := js.Global().Get("Object").New()
	hm.Set("contentType", meta.ContentType)
	opts.Set("httpMetadata", hm)
	cm := js.Global().Get("Object").New()
	cm.Set(ownerKey, meta.Owner)
	opts.Set("customMetadata", cm)
	body := relay.ExactReader(r, meta.Size)
	if meta.Size <= chunk {
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, body); err != nil {
			return relay.BlobSizeError(err)
		}
		_, err := jsx.Await(s.raw.Call("put", s.prefix+key, jsx.Uint8Array(buf.Bytes()), opts))
		return err
	}
	stream := js.Global().Get("FixedLengthStream").New(meta.Size)
	writer := stream.Get("writable").Call("getWriter")
	put := make(chan error, 1)
	p := s.raw.Call("put", s.prefix+key, stream.Get("readable"), opts)
	go func() {
		_, err := jsx.Await(p)
		put <- err
	}()
	// settle waits for a write (or the close) to be taken, or for R2 to
	// end the put first (a failure: R2 may stop reading without saying so
	// to the writer), whose answer is then the result.
	putDone, putErr := false, error(nil)
	settle := func(op js.Value, closing bool) error {
		w := make(chan error, 1)
		go func() {
			_, err := jsx.Await(op)
			w <- err
		}()
		select {
		case err := <-w:
			return err
		case putErr = <-put:
			putDone = true
			if putErr == nil && !closing {
				putErr = errors.New("r2blob: R2 ended the put before the body")
			}
			return putErr
		}
	}
	finish := func(err error) error {
		if !putDone {
			_, _ = jsx.Await(writer.Call("abort", err.Error()))
			<-put
		}
		return err
	}
	buf := make([]byte, chunk)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if werr := settle(writer.Call("write", jsx.Uint8Array(buf[:n])), false); werr != nil {
				return finish(werr)
			}
		}
		if err == io.EOF {
			break
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return finish(relay.BlobSizeError(err))
		}
	}
	if err := settle(writer.Call("close"), true); err != nil {
		return finish(err)
	}
	if putDone {
		return putErr
	}
	return <-put
}

// Get implements relay.BlobStore: the range is R2's, so only the bytes
// asked for are read.
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if length == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	rg := js.Global().Get("Object").New()
	rg.Set("offset", off)
	if length > 0 {
		rg.Set("length", length)
	}
	opts := js.Global().Get("Object").New()
	opts.Set("range", rg)
	obj, err := jsx.Await(s.raw.Call("get", s.prefix+key, opts))
	if err != nil {
		return nil, err
	}
	if obj.IsNull() || obj.IsUndefined() {
		return nil, relay.ErrBlobNotFound
	}
	return &streamReader{r: obj.Get("body").Call("getReader")}, nil
}

// Stat implements relay.BlobStore.
func (s *Store) Stat(ctx context.Context, key string) (relay.BlobMeta, error) {
	if err := ctx.Err(); err != nil {
		return relay.BlobMeta{}, err
	}
	obj, err := s.bucket.Head(s.prefix + key)
	if err != nil {
		return relay.BlobMeta{}, err
	}
	if obj == nil {
		return relay.BlobMeta{}, relay.ErrBlobNotFound
	}
	return relay.BlobMeta{Size: int64(obj.Size), ContentType: obj.HTTPMetadata.ContentType, Owner: obj.CustomMetadata[ownerKey]}, nil
}

// Delete implements relay.BlobStore; R2 does not mind a missing key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.bucket.Delete(s.prefix + key)
}

// streamReader reads a ReadableStream's chunks.
type streamReader struct {
	r    js.Value // ReadableStreamDefaultReader
	left []byte
	err  error
}

func (sr *streamReader) Read(p []byte) (int, error) {
	for len(sr.left) == 0 {
		if sr.err != nil {
			return 0, sr.err
		}
		res, err := jsx.Await(sr.r.Call("read"))
		switch {
		case err != nil:
			sr.err = err
		case res.Get("done").Bool():
			sr.err = io.EOF
		default:
			sr.left = jsx.Bytes(res.Get("value"))
		}
	}
	n := copy(p, sr.left)
	sr.left = sr.left[n:]
	return n, nil
}

func (sr *streamReader) Close() error {
	if sr.err == nil {
		sr.err = errors.New("r2blob: body closed")
		sr.r.Call("cancel")
	}
	return nil
}
