package relay

import (
	"context"
	"testing"
)

// testStoreBlobReleases: release records are kept until dropped; adding a
// token twice keeps one record.
func testStoreBlobReleases(t *testing.T, open func(t *testing.T) Store) {
	t.Run("attachments/blob release records", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		br, isReleaser := s.(BlobReleaser)
		if !isReleaser {
			t.Fatalf("%T keeps no blob release records", s)
		}
		left, err := br.BlobReleases(ctx)
		ok(t, err)
		equal(t, len(left), 0, "records of a new store")
		ok(t, br.AddBlobRelease(ctx, "t1", "up1"))
		ok(t, br.AddBlobRelease(ctx, "t2", "up1"))
		ok(t, br.AddBlobRelease(ctx, "t1", "other")) // a repeat changes nothing
		left, err = br.BlobReleases(ctx)
		ok(t, err)
		equal(t, left, map[string]string{"t1": "up1", "t2": "up1"}, "records")
		ok(t, br.DoneBlobRelease(ctx, "t1"))
		ok(t, br.DoneBlobRelease(ctx, "t1"))
		left, err = br.BlobReleases(ctx)
		ok(t, err)
		equal(t, left, map[string]string{"t2": "up1"}, "records after one is dropped")
	})
}
