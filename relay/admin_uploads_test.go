//go:build !js

package relay

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/proto"
)

// failingDeletes is a BlobStore whose Delete fails once failAfter earlier
// ones succeeded (failAfter < 0: never).
type failingDeletes struct {
	BlobStore
	failAfter atomic.Int64
}

func (b *failingDeletes) Delete(ctx context.Context, key string) error {
	if b.failAfter.Add(-1) == -1 {
		return errors.New("blob store unreachable")
	}
	return b.BlobStore.Delete(ctx, key)
}

// TestAdminDeleteUserUploads, on every store with blobs in local files and
// in an S3-compatible bucket: deleting alice deletes every attachment she
// uploaded from the blob store, sent or not; bob then downloads the ones
// she sent him, one to one or in a group, as 404 with 4204, while a
// stranger still gets the plain refusal, and bob's own upload stays. A
// deletion whose blob store fails half-way answers an error, and calling it
// again finishes it; a third call finds nothing more.
func TestAdminDeleteUserUploads(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemoryStore() },
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
			ok(t, err)
			return s
		},
		"postgres": func(t *testing.T) Store { return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4}) },
	}
	for name, open := range stores {
		for _, blob := range []string{"local", "fake-s3"} {
			t.Run(name+"/"+blob, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				blobs := &failingDeletes{BlobStore: blobStores(t)[blob](t)}
				blobs.failAfter.Store(-1 << 40)
				r := startRelay(t, func(o *Options) { withAdmin(o); o.Store, o.Blobs = open(t), blobs })
				alice, _ := login(t, r, "alice", "laptop")
				bob, _ := login(t, r, "bob", "phone")
				p2p := proto.P2PID("alice", "bob")
				g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.pics", Name: "pics", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
				inP2P := sendImage(t, r, alice, p2p, "img1", "")
				inGroup := sendImage(t, r, alice, g.ID, "img2", "")
				up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(make([]byte, 500)), length: 500})
				equal(t, up.status, 201, "an upload never sent")
				unsent := up.id
				up = r.upload(httpUpload{token: r.token("bob"), mime: "image/png", body: bytes.NewReader(make([]byte, 500)), length: 500})
				equal(t, up.status, 201, "bob's upload")
				bobs := up.id
				f := bob.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "b1", MsgType: proto.MsgImage,
					Attachment: &proto.Attachment{ID: bobs, Name: "y.png", Size: 500, Mime: "image/png"}})
				equal(t, f.Type, proto.TypeAck, "bob sends his")
				bobTok, carolTok := r.token("bob"), r.token("carol")
				equal(t, r.download(bobTok, inP2P, p2p, "").status, 200, "before the deletion")

				blobs.failAfter.Store(1)
				status, _ := r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
				if status == http.StatusOK {
					t.Fatal("a deletion whose blob store failed answered 200")
				}
				blobs.failAfter.Store(-1 << 40)
				status, reply := r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
				equal(t, status, http.StatusOK, "delete again")
				equal(t, reply["uploads"], any(float64(3)), "uploads deleted")
				for _, id := range []string{inP2P, inGroup, unsent} {
					_, err := blobs.Stat(ctx, uploadKey(id))
					equal(t, errors.Is(err, ErrBlobNotFound), true, "alice's upload "+id+" is gone from the blob store")
				}
				for _, c := range []struct{ id, conv string }{{inP2P, p2p}, {inGroup, g.ID}} {
					got := r.download(bobTok, c.id, c.conv, "")
					equal(t, [2]any{got.status, got.code}, [2]any{http.StatusNotFound, proto.CodeNotFound}, "bob downloads alice's attachment in "+c.conv)
				}
				got := r.download(carolTok, inP2P, p2p, "")
				equal(t, [2]any{got.status, got.code}, [2]any{http.StatusForbidden, proto.CodeForbidden}, "a stranger learns nothing")
				equal(t, r.download(bobTok, bobs, p2p, "").status, 200, "bob's own upload stays")

				status, reply = r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
				equal(t, [2]any{status, reply["uploads"]}, [2]any{http.StatusOK, any(float64(0))}, "nothing more to delete")
			})
		}
	}
}
