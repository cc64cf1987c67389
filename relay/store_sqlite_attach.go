package relay

import (
	"context"
)

var _ AttachmentFinder = (*SQLiteStore)(nil)

// attachmentTypesSQL lists proto's attachment message types
// (proto.IsAttachmentType) for an IN clause.
const attachmentTypesSQL = `('image', 'file', 'audio', 'video')`

// AttachmentSeqs implements AttachmentFinder, on the readers. The bodies
// holding id's bytes are decoded, so an id that only appears inside
// another attachment's name is no match.
func (s *SQLiteStore) AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, body FROM messages
		WHERE conv_id = ? AND msg_type IN `+attachmentTypesSQL+` AND instr(body, ?) > 0 ORDER BY seq`, conv, []byte(id))
	if err != nil {
		return nil, wrapStoreErr("attachment seqs", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, wrapStoreErr("attachment seqs", err)
		}
		if carries(body, id) {
			out = append(out, uint64(seq))
		}
	}
	return out, wrapStoreErr("attachment seqs", rows.Err())
}
