//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

var _ Revoker = (*PostgresStore)(nil)

// RevokeTokens implements Revoker.
func (s *PostgresStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES ($1, $2)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value
			WHERE excluded.value::bigint > meta.value::bigint`, revokeKey(user), strconv.FormatInt(before, 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: revoke tokens: %w", err)
	}
	return nil
}

// RevokedBefore implements Revoker.
func (s *PostgresStore) RevokedBefore(ctx context.Context, user string) (int64, error) {
	var at *int64
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		return false, s.pool.QueryRow(ctx, `SELECT max(value::bigint) FROM meta WHERE key IN ($1, $2)`,
			revokeKey(user), revokeKey("")).Scan(&at)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("relay: read revocations: %w", err)
	}
	if at == nil {
		return 0, nil
	}
	return *at, nil
}
