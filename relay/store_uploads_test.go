package relay

import (
	"context"
	"fmt"
	"testing"
)

// testStoreUploads is part of the store conformance suite: each user's
// uploads are kept apart (a user id that extends another's included), read
// in pages in byte order, recorded twice as once (in one batch too),
// recorded in batches of any size, and forgotten.
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
		ok(t, ux.AddUploads(ctx, []Upload{{"alice", "c0ffee0000000003"}, {"alice", "c0ffee0000000001"}}))
		ok(t, ux.AddUploads(ctx, []Upload{{"alice", "c0ffee0000000002"}, {"alice", "c0ffee0000000001"}, {"alice", "c0ffee0000000002"}}))
		ok(t, ux.AddUploads(ctx, []Upload{{"alice.b", "0000000000000009"}, {"alicf", "0000000000000008"}, {"alic", "0000000000000007"}}))
		ok(t, ux.AddUploads(ctx, nil))
		many := make([]Upload, 250) // more than one statement binds
		for i := range many {
			many[i] = Upload{"bob", fmt.Sprintf("%016x", i)}
		}
		ok(t, ux.AddUploads(ctx, many))
		ids, err = ux.UploadsOf(ctx, "bob", "", 1000)
		ok(t, err)
		equal(t, [3]any{len(ids), ids[0], ids[249]}, [3]any{250, many[0].ID, many[249].ID}, "a batch of 250")
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
