//go:build !js

package relay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

var _ UploadIndex = (*PostgresStore)(nil)

// AddUploads implements UploadIndex.
func (s *PostgresStore) AddUploads(ctx context.Context, ups []Upload) error {
	if len(ups) == 0 {
		return nil
	}
	keys := make([]string, len(ups))
	for i, u := range ups {
		keys[i] = uploadPrefix(u.User) + u.ID
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO meta(key, value) SELECT k, '' FROM unnest($1::text[]) AS k ON CONFLICT(key) DO NOTHING`, keys)
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: record uploads: %w", err)
	}
	return nil
}

// UploadsOf implements UploadIndex. The keys are COLLATE "C": the range is
// in byte order.
func (s *PostgresStore) UploadsOf(ctx context.Context, user, after string, limit int) ([]string, error) {
	from, to := uploadRange(user, after)
	var keys []string
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, `SELECT key FROM meta WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3`, from, to, limit)
		if err != nil {
			return false, err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return false, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: read uploads: %w", err)
	}
	return uploadIDs(user, keys), nil
}

// DropUploads implements UploadIndex.
func (s *PostgresStore) DropUploads(ctx context.Context, user string, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = uploadPrefix(user) + id
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM meta WHERE key = ANY($1)`, keys)
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: drop uploads: %w", err)
	}
	return nil
}
