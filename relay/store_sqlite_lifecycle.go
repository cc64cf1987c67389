package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The message lifecycle in the SQLite store: an amend's target is read and
// rewritten on the writer inside the Append transaction, so its check and
// its change cannot race another writer.

// sqliteLifeStmts are the writer's statements of the lifecycle.
type sqliteLifeStmts struct {
	role, target, setTarget, setExt, edits, clearEdit, peerRead, peerPos rawStmt
}

func (l *sqliteLifeStmts) prepare(dc any, all *[]rawStmt) error {
	for _, p := range []struct {
		dst *rawStmt
		sql string
	}{
		{&l.role, `SELECT CASE WHEN left_seq > 0 THEN '' ELSE role END FROM members WHERE conv_id = ? AND user_id = ?`},
		{&l.target, `SELECT sender, msg_type, text, body, created_at, ext FROM messages WHERE conv_id = ? AND seq = ?`},
		{&l.setTarget, `UPDATE messages SET text = ?, body = ?, ext = ? WHERE conv_id = ? AND seq = ?`},
		{&l.setExt, `UPDATE messages SET ext = ? WHERE conv_id = ? AND seq = ?`},
		{&l.edits, `SELECT seq, ext FROM messages WHERE conv_id = ? AND seq > ? AND msg_type = '` + proto.MsgEdit + `' AND text != ''`},
		{&l.clearEdit, `UPDATE messages SET text = '' WHERE conv_id = ? AND seq = ?`},
		{&l.peerRead, `SELECT ` + sqliteReadSeq + ` FROM members m JOIN conversations c ON c.id = m.conv_id
			WHERE m.conv_id = ? AND m.user_id != ?`},
		{&l.peerPos, `UPDATE conversations SET pos = ? WHERE id = ? AND kind = '` + proto.KindP2P + `'`},
	} {
		stmt, err := prepareRaw(dc, p.sql)
		if err != nil {
			return err
		}
		*p.dst = stmt
		*all = append(*all, stmt)
	}
	return nil
}

// loadMessage reads message seq of conv on the writer; found is false when
// there is none.
func (s *SQLiteStore) loadMessage(conv string, seq uint64) (m proto.Message, found bool, err error) {
	var ext []byte
	var seqs int64 = int64(seq)
	err = s.ws.life.target.queryRow(conv, seqs).Scan(&m.Sender, &m.MsgType, &m.Text, &m.Body, &m.CreatedAt, &ext)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	m.ConvID, m.Seq = conv, seq
	return m, true, decodeExtras(ext, &m)
}

// roleIn returns user's role in conv, of kind.
func (s *SQLiteStore) roleIn(kind, conv, user string) (string, error) {
	if kind != proto.KindGroup {
		return rules.RoleMember, nil
	}
	var role string
	err := s.ws.life.role.queryRow(conv, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// admitLifecycle decides a reply's target or an amend's right within an
// Append batch; c is nil for a conversation that does not exist yet.
func (s *SQLiteStore) admitLifecycle(c *sqliteConv, req *AppendRequest) (*proto.Error, error) {
	send := &req.Send
	if req.Target == 0 {
		if send.ReplyTo == 0 {
			return nil, nil
		}
		var last uint64
		if c != nil {
			last = c.last
		}
		return rules.AdmitReply(send.ReplyTo, last), nil
	}
	kind := proto.KindOf(send.ConvID)
	actor := rules.AmendActor{User: req.Sender, Role: rules.RoleMember, Kind: kind}
	var t rules.AmendTarget
	if c != nil && req.Target <= c.last {
		m, found, err := s.loadMessage(send.ConvID, req.Target)
		if err != nil {
			return nil, err
		}
		if found {
			if actor.Role, err = s.roleIn(kind, send.ConvID, req.Sender); err != nil {
				return nil, err
			}
			role, err := s.roleIn(kind, send.ConvID, m.Sender)
			if err != nil {
				return nil, err
			}
			t = amendTarget(&m, role)
		}
	}
	return rules.AdmitAmend(actor, send.MsgType, t, send.Text, req.CreatedAt, req.RecallWindow), nil
}

// applyLifecycle stores the lifecycle fields of ev, a message just
// written, and when it is a lifecycle event changes its target; a recall
// erases the text of its target's edits as well. With release, the
// release of an attachment it erases is recorded, in the same
// transaction, and its id returned.
func (s *SQLiteStore) applyLifecycle(c *sqliteConv, ev *proto.Message, release bool) (released string, err error) {
	st := &s.ws.life
	// The message's own extras (reply, mentions, target), beside the
	// columns every message has.
	if x := encodeExtras(ev); x != nil {
		if err := st.setExt.exec(x, ev.ConvID, int64(ev.Seq)); err != nil {
			return "", err
		}
	}
	if ev.Target == 0 {
		return "", nil
	}
	t, found, err := s.loadMessage(ev.ConvID, ev.Target)
	if err != nil || !found {
		return "", err
	}
	if release {
		if released = erasedAttachment(&t, ev); released != "" {
			if err := s.ws.blobAdd.exec(releaseToken(ev), released); err != nil {
				return "", err
			}
		}
	}
	t.Apply(ev)
	var body, ext any
	if len(t.Body) > 0 {
		body = t.Body
	}
	if x := encodeExtras(&t); x != nil {
		ext = x
	}
	if err := st.setTarget.exec(t.Text, body, ext, t.ConvID, int64(t.Seq)); err != nil {
		return "", err
	}
	if !t.Recalled {
		return released, nil
	}
	var clear []int64
	var seq int64
	var x []byte
	err = st.edits.each([]any{ev.ConvID, int64(ev.Target)}, []any{&seq, &x}, func() error {
		var e proto.Message
		if err := decodeExtras(x, &e); err != nil {
			return err
		}
		if e.Target == ev.Target {
			clear = append(clear, seq)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, seq := range clear {
		if err := st.clearEdit.exec(ev.ConvID, seq); err != nil {
			return "", err
		}
	}
	return released, nil
}

// peerReadMoved gives a p2p conversation the position of a read cursor's
// move, pos: the other member's view (its peerReadSeq) changed with it.
func (s *SQLiteStore) peerReadMoved(conv string, pos int64) error {
	err := s.ws.life.peerPos.exec(pos, conv)
	return err
}

// fillPeerReads sets the PeerReadSeq of the p2p conversations of a sync
// page, read in one statement.
func (s *SQLiteStore) fillPeerReads(ctx context.Context, user string, convs []proto.Conversation) error {
	var ids []string
	for _, c := range convs {
		if c.Kind == proto.KindP2P {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT m.conv_id, `+sqliteReadSeq+` FROM members m JOIN conversations c ON c.id = m.conv_id
		WHERE m.conv_id IN (SELECT value FROM json_each(?)) AND m.user_id != ?`, string(list), user)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var conv string
		var seq int64
		if err := rows.Scan(&conv, &seq); err != nil {
			return err
		}
		for i := range convs {
			if convs[i].ID == conv {
				convs[i].PeerReadSeq = uint64(seq)
			}
		}
	}
	return rows.Err()
}

var _ ReceiptReader = (*SQLiteStore)(nil)

// Receipts implements ReceiptReader.
func (s *SQLiteStore) Receipts(ctx context.Context, user, conv string, seq uint64) (read, unread []string, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.user_id, `+sqliteReadSeq+` FROM members m JOIN conversations c ON c.id = m.conv_id
		WHERE m.conv_id = ? AND m.left_seq = 0 ORDER BY m.user_id`, conv)
	if err != nil {
		return nil, nil, wrapStoreErr("receipts", err)
	}
	defer rows.Close()
	reads := map[string]uint64{}
	var members []string
	for rows.Next() {
		var u string
		var r int64
		if err := rows.Scan(&u, &r); err != nil {
			return nil, nil, wrapStoreErr("receipts", err)
		}
		members = append(members, u)
		reads[u] = uint64(r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrapStoreErr("receipts", err)
	}
	_, isMember := slices.BinarySearch(members, user)
	empty, perr := rules.AdmitRead(user, conv, len(members) > 0, isMember)
	if perr != nil {
		return nil, nil, perr
	}
	if empty {
		return []string{}, []string{}, nil
	}
	read, unread = rules.ReceiptSplit(user, members, reads, seq)
	return read, unread, nil
}

var _ AttachmentUser = (*SQLiteStore)(nil)

// AttachmentInUse implements AttachmentUser, on the readers. Only bodies
// holding id's bytes are decoded (carries), so another attachment whose
// name contains the id is no match.
func (s *SQLiteStore) AttachmentInUse(ctx context.Context, id string) (bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT body FROM messages
		WHERE msg_type IN `+attachmentTypesSQL+` AND instr(body, ?) > 0`, []byte(id))
	if err != nil {
		return false, wrapStoreErr("attachment in use", err)
	}
	defer rows.Close()
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return false, wrapStoreErr("attachment in use", err)
		}
		if carries(body, id) {
			return true, nil
		}
	}
	return false, wrapStoreErr("attachment in use", rows.Err())
}
