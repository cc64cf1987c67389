package relay

import (
	"context"
	"strconv"
)

var _ Revoker = (*SQLiteStore)(nil)

// RevokeTokens implements Revoker.
func (s *SQLiteStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	return wrapStoreErr("revoke tokens", s.putLatest(ctx, revokeKey(user), before))
}

// RecordDeletion implements Revoker.
func (s *SQLiteStore) RecordDeletion(ctx context.Context, user string, before int64) error {
	return wrapStoreErr("record deletion", s.putLatest(ctx, deletedKey(user), before))
}

// putLatest sets meta key to at unless it holds a later time.
func (s *SQLiteStore) putLatest(ctx context.Context, key string, at int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.wc.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value
		WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)`, key, strconv.FormatInt(at, 10))
	return err
}

// SignInOf implements Revoker: one query on the readers.
func (s *SQLiteStore) SignInOf(ctx context.Context, user string) (SignIn, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?)`,
		banKey(user), revokeKey(user), revokeKey(""), deletedKey(user))
	if err != nil {
		return SignIn{}, wrapStoreErr("read sign-in", err)
	}
	defer rows.Close()
	pairs, err := scanPairs(rows)
	if err != nil {
		return SignIn{}, wrapStoreErr("read sign-in", err)
	}
	var in SignIn
	for k, v := range pairs {
		if err := in.signInRow(user, k, v); err != nil {
			return SignIn{}, err
		}
	}
	return in, nil
}
