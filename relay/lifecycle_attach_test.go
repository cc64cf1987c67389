//go:build !js

package relay

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestRecallReleasesAttachment: a recall or a delete for everyone deletes
// the attachment's blob once no other message carries it, and a download
// then answers 410 with 4236 to the uploader and to a member naming the
// conversation (a stranger still gets the plain refusal). The deleted
// blob's entry leaves its uploader's upload index. On the memory, SQLite
// and PostgreSQL stores, with blobs in memory and in local files.
func TestRecallReleasesAttachment(t *testing.T) {
	for _, store := range []string{"memory", "sqlite", "postgres"} {
		for _, blob := range []string{"memory", "local"} {
			t.Run(store+"/"+blob, func(t *testing.T) {
				t.Parallel()
				blobs := blobStores(t)[blob](t)
				testRecallReleasesAttachment(t, store, blobs)
			})
		}
	}
}

func testRecallReleasesAttachment(t *testing.T, store string, blobs BlobStore) {
	r := startRelay(t, func(o *Options) {
		o.Blobs = blobs
		switch store {
		case "memory":
			o.Store = NewMemoryStore()
		case "sqlite":
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{})
			ok(t, err)
			o.Store = s
		default:
			o.Store = openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4})
		}
	})
	uploads := func() []string {
		ids, err := r.srv.store.(UploadIndex).UploadsOf(context.Background(), "alice", "", 10)
		ok(t, err)
		return ids
	}
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	p2p := proto.P2PID("alice", "bob")
	g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "g", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
	upload := func() string {
		up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(make([]byte, 5000)), length: 5000})
		equal(t, up.status, 201, "upload")
		return up.id
	}
	send := func(conv, client, id string) uint64 {
		f := alice.call(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: client, MsgType: proto.MsgImage, Attachment: &proto.Attachment{ID: id, Name: "x.png", Size: 5000, Mime: "image/png"}})
		if f.Type != proto.TypeAck {
			t.Fatalf("send %s: %+v", client, f.Body)
		}
		return f.Body.(*proto.Ack).Seq
	}
	amend := func(conv, client, op string, target uint64) {
		f := alice.call(proto.TypeAmend, &proto.Amend{ConvID: conv, ClientID: client, Op: op, Target: target})
		equal(t, f.Type, proto.TypeAck, op)
	}
	shared, single := upload(), upload()
	s1 := send(p2p, "img1", shared)
	s2 := send(g.ID, "img2", shared) // the same attachment, sent again elsewhere
	s3 := send(p2p, "img3", single)
	bobTok, aliceTok, carolTok := r.token("bob"), r.token("alice"), r.token("carol")
	equal(t, r.download(bobTok, shared, p2p, "").status, 200, "before any recall")

	amend(p2p, "r1", proto.MsgRecall, s1)
	amend(p2p, "r3", proto.MsgRecall, s3)
	eventually(t, "the single attachment's blob deleted", func() bool {
		_, err := blobs.Stat(context.Background(), uploadKey(single))
		return errors.Is(err, ErrBlobNotFound)
	})
	got := r.download(bobTok, single, p2p, "")
	equal(t, [2]any{got.status, got.code}, [2]any{410, proto.CodeAttachmentGone}, "bob downloads a recalled attachment")
	got = r.download(aliceTok, single, "", "")
	equal(t, [2]any{got.status, got.code}, [2]any{410, proto.CodeAttachmentGone}, "the uploader downloads it")
	got = r.download(carolTok, single, p2p, "")
	equal(t, [2]any{got.status, got.code}, [2]any{403, proto.CodeForbidden}, "a stranger learns nothing")
	got = r.download(bobTok, shared, g.ID, "")
	equal(t, got.status, 200, "an attachment another message still carries stays")
	_, err := blobs.Stat(context.Background(), uploadKey(shared))
	ok(t, err)
	eventually(t, "the deleted attachment's upload entry dropped", func() bool {
		return slices.Equal(uploads(), []string{shared})
	})

	amend(g.ID, "d2", proto.MsgDelete, s2)
	eventually(t, "the shared blob deleted with its last message", func() bool {
		_, err := blobs.Stat(context.Background(), uploadKey(shared))
		return errors.Is(err, ErrBlobNotFound)
	})
	got = r.download(bobTok, shared, g.ID, "")
	equal(t, [2]any{got.status, got.code}, [2]any{410, proto.CodeAttachmentGone}, "gone after the delete for everyone")
	// A gone attachment cannot be sent again.
	f := alice.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "img4", MsgType: proto.MsgImage, Attachment: &proto.Attachment{ID: shared, Name: "x.png", Size: 5000, Mime: "image/png"}})
	equal(t, errCode(t, f), proto.CodeAttachment, "resending a deleted attachment")
	eventually(t, "no release records left", func() bool {
		left, err := r.srv.store.(BlobReleaser).BlobReleases(context.Background())
		return err == nil && len(left) == 0
	})
	equal(t, len(uploads()), 0, "no upload entries left")
	_ = bob
}

// dropFailingStore is a memory store whose DropUploads fails while fail is
// set.
type dropFailingStore struct {
	*MemoryStore
	fail   atomic.Bool
	failed atomic.Int32
}

func (s *dropFailingStore) DropUploads(ctx context.Context, user string, ids []string) error {
	if s.fail.Load() {
		s.failed.Add(1)
		return errors.New("store down")
	}
	return s.MemoryStore.DropUploads(ctx, user, ids)
}

// TestReleaseDropsUploadEntryLater: a release that deleted the blob but
// could not drop the uploader's upload entry keeps its record, and the next
// try (the sweep at start) drops the entry, the blob being gone already.
func TestReleaseDropsUploadEntryLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &dropFailingStore{MemoryStore: NewMemoryStore()}
	blobs := NewMemoryBlobStore()
	r := startRelay(t, func(o *Options) { o.Store, o.Blobs = store, blobs })
	alice, _ := login(t, r, "alice", "d")
	p2p := proto.P2PID("alice", "bob")
	up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(make([]byte, 100)), length: 100})
	equal(t, up.status, 201, "upload")
	f := alice.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "img", MsgType: proto.MsgImage, Attachment: &proto.Attachment{ID: up.id, Name: "x.png", Size: 100, Mime: "image/png"}})
	equal(t, f.Type, proto.TypeAck, "send")
	store.fail.Store(true)
	f = alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r", Op: proto.MsgRecall, Target: f.Body.(*proto.Ack).Seq})
	equal(t, f.Type, proto.TypeAck, "recall")
	eventually(t, "the blob deleted, its entry not dropped", func() bool { return store.failed.Load() > 0 })
	_, err := blobs.Stat(ctx, uploadKey(up.id))
	equal(t, errors.Is(err, ErrBlobNotFound), true, "the blob deleted")
	left, err := store.BlobReleases(ctx)
	ok(t, err)
	equal(t, len(left), 1, "the release's record stays while the entry does")
	ids, err := store.UploadsOf(ctx, "alice", "", 10)
	ok(t, err)
	equal(t, ids, []string{up.id}, "the entry the drop failed to take")
	store.fail.Store(false)
	for token, id := range left {
		r.srv.env.releaseAttachment(id, token)
	}
	ids, err = store.UploadsOf(ctx, "alice", "", 10)
	ok(t, err)
	equal(t, len(ids), 0, "the entry dropped on the next try")
	left, err = store.BlobReleases(ctx)
	ok(t, err)
	equal(t, len(left), 0, "and the record with it")
}
