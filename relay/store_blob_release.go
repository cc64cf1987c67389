package relay

import (
	"context"
)

// BlobReleaser keeps the attachment blobs a recall or a delete for everyone
// is to delete, so that a relay stopping between storing the event and
// deleting the blob deletes it when it starts again. The relay records a
// release before the event goes to the store, deletes the blob once the
// event is stored and no message carries the attachment any more, and then
// drops the record; at start it goes through every record left. A record
// whose event was never stored finds the attachment still in use and is
// dropped with the blob kept. A store without it keeps no records: a stop
// in between then keeps the blob.
type BlobReleaser interface {
	// AddBlobRelease records the release token of attachment id (one
	// token per event; adding a token again changes nothing).
	AddBlobRelease(ctx context.Context, token, id string) error
	// BlobReleases returns the records left, token → attachment id.
	BlobReleases(ctx context.Context) (map[string]string, error)
	// DoneBlobRelease drops the record of token, if any.
	DoneBlobRelease(ctx context.Context, token string) error
}

var (
	_ BlobReleaser = (*MemoryStore)(nil)
	_ BlobReleaser = (*SQLiteStore)(nil)
)

// AddBlobRelease implements BlobReleaser.
func (s *MemoryStore) AddBlobRelease(ctx context.Context, token, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.releases == nil {
		s.releases = make(map[string]string)
	}
	if _, ok := s.releases[token]; !ok {
		s.releases[token] = id
	}
	return nil
}

// BlobReleases implements BlobReleaser.
func (s *MemoryStore) BlobReleases(ctx context.Context) (map[string]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make(map[string]string, len(s.releases))
	for t, id := range s.releases {
		out[t] = id
	}
	return out, nil
}

// DoneBlobRelease implements BlobReleaser.
func (s *MemoryStore) DoneBlobRelease(ctx context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	delete(s.releases, token)
	return nil
}

// AddBlobRelease implements BlobReleaser.
func (s *SQLiteStore) AddBlobRelease(ctx context.Context, token, id string) error {
	err := s.writeTx(ctx, func(func() uint64) error {
		_, err := s.ws.blobAdd.exec(token, id)
		return err
	})
	return wrapStoreErr("add blob release", err)
}

// BlobReleases implements BlobReleaser, on the readers.
func (s *SQLiteStore) BlobReleases(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT token, attachment FROM blob_releases`)
	if err != nil {
		return nil, wrapStoreErr("blob releases", err)
	}
	defer rows.Close()
	out, err := scanPairs(rows)
	return out, wrapStoreErr("blob releases", err)
}

// DoneBlobRelease implements BlobReleaser.
func (s *SQLiteStore) DoneBlobRelease(ctx context.Context, token string) error {
	err := s.writeTx(ctx, func(func() uint64) error {
		_, err := s.ws.blobDone.exec(token)
		return err
	})
	return wrapStoreErr("done blob release", err)
}

// pairRows is what scanPairs reads: database/sql's and pgx's rows alike.
type pairRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanPairs reads rows of two text columns into a map of the first to the
// second.
func scanPairs(rows pairRows) (map[string]string, error) {
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
