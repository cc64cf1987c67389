package relay

import (
	"context"
	"database/sql"
	"strconv"
)

var _ Revoker = (*SQLiteStore)(nil)

// RevokeTokens implements Revoker.
func (s *SQLiteStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.wc.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value
		WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)`, revokeKey(user), strconv.FormatInt(before, 10))
	return wrapStoreErr("revoke tokens", err)
}

// RevokedBefore implements Revoker.
func (s *SQLiteStore) RevokedBefore(ctx context.Context, user string) (int64, error) {
	var at sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(CAST(value AS INTEGER)) FROM meta WHERE key IN (?, ?)`,
		revokeKey(user), revokeKey("")).Scan(&at)
	return at.Int64, wrapStoreErr("read revocations", err)
}
