//go:build !js

package relay

import (
	"context"
)

var _ AttachmentFinder = (*PostgresStore)(nil)

// AttachmentSeqs implements AttachmentFinder. The bodies holding id's
// bytes are decoded, so an id that only appears inside another
// attachment's name is no match.
func (s *PostgresStore) AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error) {
	var out []uint64
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT seq, body FROM messages
			WHERE conv_id = $1 AND msg_type IN `+attachmentTypesSQL+` AND position($2::bytea in body) > 0 ORDER BY seq`, conv, []byte(id))
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var body []byte
			if err := rows.Scan(&seq, &body); err != nil {
				return false, err
			}
			if carries(body, id) {
				out = append(out, uint64(seq))
			}
		}
		return false, rows.Err()
	})
	return out, wrapStoreErr("attachment seqs", err)
}

var _ BlobReleaser = (*PostgresStore)(nil)

// BlobReleases implements BlobReleaser.
func (s *PostgresStore) BlobReleases(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT token, attachment FROM blob_releases`)
	if err != nil {
		return nil, wrapStoreErr("blob releases", err)
	}
	defer rows.Close()
	out, err := scanPairs(rows)
	return out, wrapStoreErr("blob releases", err)
}

// DoneBlobRelease implements BlobReleaser.
func (s *PostgresStore) DoneBlobRelease(ctx context.Context, token string) error {
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		_, err := s.pool.Exec(ctx, `DELETE FROM blob_releases WHERE token = $1`, token)
		return false, err
	})
	return wrapStoreErr("done blob release", err)
}
