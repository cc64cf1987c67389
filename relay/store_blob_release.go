package relay

import (
	"context"

	"github.com/parley-im/parley/proto"
)

// BlobReleaser keeps the attachment blobs a recall or a delete for everyone
// is to delete, so that a relay stopping between storing the event and
// deleting the blob deletes it when it starts again. The record is written
// by Append, in the transaction that stores the event and erases the
// message (AppendRequest.Release): a record exists exactly when its event
// is stored, and an event refused, failed or rolled back leaves none. The
// relay deletes the blob once no message carries the attachment any more
// and then drops the record; at start it goes through every record left.
// A store without it keeps no records: a stop in between then keeps the
// blob.
type BlobReleaser interface {
	// BlobReleases returns the records left, token → attachment id.
	BlobReleases(ctx context.Context) (map[string]string, error)
	// DoneBlobRelease drops the record of token, if any.
	DoneBlobRelease(ctx context.Context, token string) error
}

var (
	_ BlobReleaser = (*MemoryStore)(nil)
	_ BlobReleaser = (*SQLiteStore)(nil)
)

// erasedAttachment returns the id of the attachment target carries when
// ev, about to be applied to it, erases it: a recall or a delete for
// everyone of a message with an attachment not erased before. "" otherwise.
func erasedAttachment(target, ev *proto.Message) string {
	if ev.MsgType != proto.MsgRecall && ev.MsgType != proto.MsgDelete || target.Recalled || !proto.IsAttachmentType(target.MsgType) {
		return ""
	}
	a, err := proto.UnmarshalAttachment(target.Body)
	if err != nil {
		return ""
	}
	return a.ID
}

// releaseToken is the token of the release record of ev, the stored
// lifecycle event that erased an attachment: one per event.
func releaseToken(ev *proto.Message) string { return proto.MessageID(ev.ConvID, ev.Seq) }

// addRelease records the release of attachment id by ev; the caller holds
// the store's lock.
func (s *MemoryStore) addRelease(ev *proto.Message, id string) {
	if s.releases == nil {
		s.releases = make(map[string]string)
	}
	s.releases[releaseToken(ev)] = id
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
	err := s.writeTx(ctx, func(func() uint64) error { return s.ws.blobDone.exec(token) })
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
