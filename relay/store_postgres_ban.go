//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

var _ Banner = (*PostgresStore)(nil)

// SetBan implements Banner.
func (s *PostgresStore) SetBan(ctx context.Context, user string, b Ban) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES ($1, $2)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value`, banKey(user), encodeBan(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: ban user: %w", err)
	}
	return nil
}

// LiftBan implements Banner.
func (s *PostgresStore) LiftBan(ctx context.Context, user string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM meta WHERE key = $1`, banKey(user))
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: lift ban: %w", err)
	}
	return nil
}

// BanOf implements Banner.
func (s *PostgresStore) BanOf(ctx context.Context, user string) (Ban, bool, error) {
	var v string
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		return false, s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, banKey(user)).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Ban{}, false, nil
	}
	if err != nil {
		return Ban{}, false, fmt.Errorf("relay: read ban: %w", err)
	}
	b, err := decodeBan(v)
	return b, err == nil, err
}
