package relay

import (
	"context"
	"strings"
)

var _ UploadIndex = (*SQLiteStore)(nil)

// AddUpload implements UploadIndex.
func (s *SQLiteStore) AddUpload(ctx context.Context, user, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.wc.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, '') ON CONFLICT(key) DO NOTHING`, uploadPrefix(user)+id)
	return wrapStoreErr("record upload", err)
}

// UploadsOf implements UploadIndex, on the readers.
func (s *SQLiteStore) UploadsOf(ctx context.Context, user, after string, limit int) ([]string, error) {
	from, to := uploadRange(user, after)
	rows, err := s.r.QueryContext(ctx, `SELECT key FROM meta WHERE key > ? AND key < ? ORDER BY key LIMIT ?`, from, to, limit)
	if err != nil {
		return nil, wrapStoreErr("read uploads", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, wrapStoreErr("read uploads", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapStoreErr("read uploads", err)
	}
	return uploadIDs(user, keys), nil
}

// DropUploads implements UploadIndex.
func (s *SQLiteStore) DropUploads(ctx context.Context, user string, ids []string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if len(ids) == 0 {
		return nil
	}
	// One statement: one commit for the page, however long.
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = uploadPrefix(user) + id
	}
	_, err := s.wc.ExecContext(ctx, `DELETE FROM meta WHERE key IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	return wrapStoreErr("drop uploads", err)
}
