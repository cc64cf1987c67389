package relay

import (
	"context"
	"database/sql"
	"strings"
)

var _ UploadIndex = (*SQLiteStore)(nil)

// AddUploads implements UploadIndex: one transaction, a statement per
// sqliteMaxArgs uploads.
func (s *SQLiteStore) AddUploads(ctx context.Context, ups []Upload) error {
	if len(ups) == 0 {
		return nil
	}
	err := s.presenceTx(ctx, func(tx *sql.Tx) error {
		for len(ups) > 0 {
			chunk := ups[:min(len(ups), sqliteMaxArgs)]
			ups = ups[len(chunk):]
			args := make([]any, len(chunk))
			for i, u := range chunk {
				args[i] = uploadPrefix(u.User) + u.ID
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, '')`+strings.Repeat(", (?, '')", len(chunk)-1)+
				` ON CONFLICT(key) DO NOTHING`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapStoreErr("record uploads", err)
}

// sqliteMaxArgs is the most arguments a statement binds here: a Durable
// Object's SQLite storage takes no more than 100.
const sqliteMaxArgs = 100

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
