package relay

import (
	"context"
	"testing"
)

// testStoreUploads is part of the store conformance suite: each user's
// uploads are kept apart (a user id that extends another's included), read
// in pages in byte order, recorded twice as once, and forgotten.
func testStoreUploads(t *testing.T, open func(t *testing.T) Store) {
	t.Run("uploads", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		ux, isIndex := open(t).(UploadIndex)
		if !isIndex {
			t.Fatal("the store keeps no upload index")
		}
		ids, err := ux.UploadsOf(ctx, "alice", "", 10)
		ok(t, err)
		equal(t, len(ids), 0, "none yet")
		for _, id := range []string{"c0ffee0000000003", "c0ffee0000000001", "c0ffee0000000002", "c0ffee0000000001"} {
			ok(t, ux.AddUpload(ctx, "alice", id))
		}
		ok(t, ux.AddUpload(ctx, "alice.b", "0000000000000009"))
		ok(t, ux.AddUpload(ctx, "alicf", "0000000000000008"))
		ok(t, ux.AddUpload(ctx, "alic", "0000000000000007"))
		ids, err = ux.UploadsOf(ctx, "alice", "", 2)
		ok(t, err)
		equal(t, ids, []string{"c0ffee0000000001", "c0ffee0000000002"}, "the first page")
		ids, err = ux.UploadsOf(ctx, "alice", ids[1], 2)
		ok(t, err)
		equal(t, ids, []string{"c0ffee0000000003"}, "the last page")
		ids, err = ux.UploadsOf(ctx, "alice.b", "", 10)
		ok(t, err)
		equal(t, ids, []string{"0000000000000009"}, "another user's")

		ok(t, ux.DropUploads(ctx, "alice", []string{"c0ffee0000000001", "c0ffee0000000003", "ffff000000000000"}))
		ids, err = ux.UploadsOf(ctx, "alice", "", 10)
		ok(t, err)
		equal(t, ids, []string{"c0ffee0000000002"}, "after dropping two")
		ok(t, ux.DropUploads(ctx, "alice", []string{"c0ffee0000000002"}))
		ids, err = ux.UploadsOf(ctx, "alice", "", 10)
		ok(t, err)
		equal(t, len(ids), 0, "all dropped")
		for _, u := range []string{"alice.b", "alicf", "alic"} {
			ids, err = ux.UploadsOf(ctx, u, "", 10)
			ok(t, err)
			equal(t, len(ids), 1, u+"'s stays")
		}
	})
}
