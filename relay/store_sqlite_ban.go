package relay

import (
	"context"
	"database/sql"
	"errors"
)

var _ Banner = (*SQLiteStore)(nil)

// SetBan implements Banner.
func (s *SQLiteStore) SetBan(ctx context.Context, user string, b Ban) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.wc.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, banKey(user), encodeBan(b))
	return wrapStoreErr("ban user", err)
}

// LiftBan implements Banner.
func (s *SQLiteStore) LiftBan(ctx context.Context, user string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.wc.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, banKey(user))
	return wrapStoreErr("lift ban", err)
}

// BanOf implements Banner.
func (s *SQLiteStore) BanOf(ctx context.Context, user string) (Ban, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, banKey(user)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return Ban{}, false, nil
	}
	if err != nil {
		return Ban{}, false, wrapStoreErr("read ban", err)
	}
	b, err := decodeBan(v)
	return b, err == nil, err
}
