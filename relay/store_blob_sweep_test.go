//go:build !js

package relay

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// TestReleaseSweptAtStart: a relay that stops after storing a recall and
// before deleting the attachment's blob leaves a release record; the next
// relay on the same store deletes the blob when it starts and drops the
// record. A record whose attachment is still carried keeps the blob.
func TestReleaseSweptAtStart(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			dir, dsn := t.TempDir(), ""
			if store == "postgres" {
				dsn = postgresDSN(t)
			}
			openStore := func() Store {
				if store == "sqlite" {
					s, err := OpenSQLite(dir, SQLiteOptions{})
					ok(t, err)
					return s
				}
				return openPostgres(t, dsn, PostgresOptions{MaxConns: 4})
			}
			blobs := NewMemoryBlobStore()
			ctx := context.Background()
			r := startRelay(t, func(o *Options) { o.Blobs, o.Store = blobs, openStore() })
			r.srv.env.holdReleases.Store(true) // as if the relay stopped right after the recall
			alice, _ := login(t, r, "alice", "d")
			p2p := proto.P2PID("alice", "bob")
			var ids []string
			for _, client := range []string{"img1", "img2"} {
				up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(make([]byte, 500)), length: 500})
				equal(t, up.status, 201, "upload")
				f := alice.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: client, MsgType: proto.MsgImage,
					Attachment: &proto.Attachment{ID: up.id, Name: "x.png", Size: 500, Mime: "image/png"}})
				equal(t, f.Type, proto.TypeAck, "send "+client)
				ids = append(ids, up.id)
			}
			f := alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r1", Op: proto.MsgRecall, Target: 1})
			equal(t, f.Type, proto.TypeAck, "recall")
			left, err := r.srv.store.(BlobReleaser).BlobReleases(ctx)
			ok(t, err)
			if len(left) != 1 {
				t.Fatalf("records after the recall: %v, want one", left)
			}
			for _, id := range left {
				equal(t, id, ids[0], "the recalled attachment's record")
			}
			// A record whose event never reached the store (the relay
			// stopped before): its attachment is still carried.
			ok(t, r.srv.store.(BlobReleaser).AddBlobRelease(ctx, "unstored", ids[1]))
			_, err = blobs.Stat(ctx, uploadKey(ids[0]))
			ok(t, err)
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			ok(t, r.srv.Shutdown(sctx))

			r2 := startRelay(t, func(o *Options) { o.Blobs, o.Store = blobs, openStore() })
			eventually(t, "the recalled attachment's blob deleted at start", func() bool {
				_, err := blobs.Stat(ctx, uploadKey(ids[0]))
				return errors.Is(err, ErrBlobNotFound)
			})
			eventually(t, "the records dropped", func() bool {
				left, err := r2.srv.store.(BlobReleaser).BlobReleases(ctx)
				return err == nil && len(left) == 0
			})
			_, err = blobs.Stat(ctx, uploadKey(ids[1]))
			ok(t, err)
			got := r2.download(r2.token("bob"), ids[0], p2p, "")
			equal(t, [2]any{got.status, got.code}, [2]any{410, proto.CodeAttachmentGone}, "download after the sweep")
		})
	}
}
