//go:build !js

package relay

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

var _ Revoker = (*PostgresStore)(nil)

// RevokeTokens implements Revoker.
func (s *PostgresStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	if err := s.putLatest(ctx, revokeKey(user), before); err != nil {
		return fmt.Errorf("relay: revoke tokens: %w", err)
	}
	return nil
}

// RecordDeletion implements Revoker.
func (s *PostgresStore) RecordDeletion(ctx context.Context, user string, before int64) error {
	if err := s.putLatest(ctx, deletedKey(user), before); err != nil {
		return fmt.Errorf("relay: record deletion: %w", err)
	}
	return nil
}

// putLatest sets meta key to at unless it holds a later time.
func (s *PostgresStore) putLatest(ctx context.Context, key string, at int64) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES ($1, $2)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value
			WHERE excluded.value::bigint > meta.value::bigint`, key, strconv.FormatInt(at, 10))
		return err
	})
}

// SignInOf implements Revoker: one query.
func (s *PostgresStore) SignInOf(ctx context.Context, user string) (SignIn, error) {
	var pairs map[string]string
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, `SELECT key, value FROM meta WHERE key IN ($1, $2, $3, $4)`,
			banKey(user), revokeKey(user), revokeKey(""), deletedKey(user))
		if err != nil {
			return false, err
		}
		defer rows.Close()
		pairs, err = scanPairs(rows)
		return false, err
	})
	if err != nil {
		return SignIn{}, fmt.Errorf("relay: read sign-in: %w", err)
	}
	var in SignIn
	for k, v := range pairs {
		if err := in.signInRow(user, k, v); err != nil {
			return SignIn{}, err
		}
	}
	return in, nil
}
