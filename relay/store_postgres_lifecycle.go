//go:build !js

package relay

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The message lifecycle in the PostgreSQL store. Append reads, under its
// locks, the targets its amends name (and, for recalls, the edits of
// them) with the rest of phase 1; decides and applies the amends in Go in
// batch order, on those copies and on the batch's own new messages; and
// writes the changed targets back in phase 3.

// pgLife is one Append batch's lifecycle state.
type pgLife struct {
	targets map[msgRef]*proto.Message // stored targets, as read, then as changed
	changed []msgRef                  // targets to write back, in first-change order
	edits   []pgEdit                  // stored edits of the recall targets
	cleared []msgRef                  // stored edits whose text a recall erased
	fresh   map[msgRef]int            // this batch's messages: index in msgs
	// releases are the release records of the attachments the batch's
	// amends erase (AppendRequest.Release): token, attachment id.
	releaseTokens, releaseIDs []string
}

type pgEdit struct {
	ref    msgRef
	target uint64
}

// queueLifecycleReads queues the reads of what batch's amends name.
func (s *PostgresStore) queueLifecycleReads(b *pgx.Batch, batch []AppendRequest) *pgLife {
	l := &pgLife{targets: map[msgRef]*proto.Message{}, fresh: map[msgRef]int{}}
	var convs, recallConvs []string
	var seqs, recallSeqs []int64
	for i := range batch {
		r := &batch[i]
		if r.Target == 0 {
			continue
		}
		convs, seqs = append(convs, r.Send.ConvID), append(seqs, clampInt64(r.Target))
		if r.Send.MsgType == proto.MsgRecall || r.Send.MsgType == proto.MsgDelete {
			recallConvs, recallSeqs = append(recallConvs, r.Send.ConvID), append(recallSeqs, clampInt64(r.Target))
		}
	}
	if len(convs) == 0 {
		return l
	}
	b.Queue(`SELECT m.conv_id, m.seq, m.sender, m.client_id, m.msg_type, m.text, m.body, m.created_at, m.ext
		FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::bigint[]) AS t(conv_id, seq)) t
		JOIN messages m ON m.conv_id = t.conv_id AND m.seq = t.seq`, convs, seqs).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				m := &proto.Message{}
				var seq int64
				var text, ext []byte
				if err := rows.Scan(&m.ConvID, &seq, &m.Sender, &m.ClientID, &m.MsgType, &text, &m.Body, &m.CreatedAt, &ext); err != nil {
					return err
				}
				m.Seq, m.Text = uint64(seq), string(text)
				if err := decodeExtras(ext, m); err != nil {
					return err
				}
				l.targets[msgRef{m.ConvID, m.Seq}] = m
			}
			return rows.Err()
		})
	if len(recallConvs) > 0 {
		b.Queue(`SELECT DISTINCT m.conv_id, m.seq, m.ext FROM unnest($1::text[], $2::bigint[]) AS t(conv_id, seq)
			JOIN messages m ON m.conv_id = t.conv_id AND m.seq > t.seq AND m.msg_type = '`+proto.MsgEdit+`' AND m.text <> ''`,
			recallConvs, recallSeqs).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var e proto.Message
					var seq int64
					var ext []byte
					if err := rows.Scan(&e.ConvID, &seq, &ext); err != nil {
						return err
					}
					if err := decodeExtras(ext, &e); err != nil {
						return err
					}
					l.edits = append(l.edits, pgEdit{msgRef{e.ConvID, uint64(seq)}, e.Target})
				}
				return rows.Err()
			})
	}
	return l
}

// target returns the message at ref as the batch has it so far: one of
// its own (in msgs) or one read in phase 1.
func (l *pgLife) target(ref msgRef, msgs []proto.Message) *proto.Message {
	if i, ok := l.fresh[ref]; ok {
		return &msgs[i]
	}
	return l.targets[ref]
}

// admit decides a reply's target or an amend's right; c is nil for a
// conversation that does not exist yet.
func (l *pgLife) admit(c *pgConv, req *AppendRequest, msgs []proto.Message) *proto.Error {
	send := &req.Send
	var last uint64
	kind := proto.KindOf(send.ConvID)
	if c != nil {
		last, kind = c.last, c.kind
	}
	if req.Target == 0 {
		if send.ReplyTo == 0 {
			return nil
		}
		return rules.AdmitReply(send.ReplyTo, last)
	}
	actor := rules.AmendActor{User: req.Sender, Role: c.roleOf(req.Sender), Kind: kind}
	var t rules.AmendTarget
	if req.Target <= last {
		if m := l.target(msgRef{send.ConvID, req.Target}, msgs); m != nil {
			t = amendTarget(m, c.roleOf(m.Sender))
		}
	}
	return rules.AdmitAmend(actor, send.MsgType, t, send.Text, req.CreatedAt, req.RecallWindow)
}

// apply records the batch's newest message, msgs[len(msgs)-1], and
// applies it to its target when it is a lifecycle event. With release,
// the release of an attachment it erases is queued with the batch's
// writes, and its id returned.
func (l *pgLife) apply(msgs []proto.Message, release bool) (released string) {
	ev := &msgs[len(msgs)-1]
	l.fresh[msgRef{ev.ConvID, ev.Seq}] = len(msgs) - 1
	if ev.Target == 0 {
		return ""
	}
	ref := msgRef{ev.ConvID, ev.Target}
	t := l.target(ref, msgs)
	if t == nil {
		return ""
	}
	if release {
		if released = erasedAttachment(t, ev); released != "" {
			l.releaseTokens, l.releaseIDs = append(l.releaseTokens, releaseToken(ev)), append(l.releaseIDs, released)
		}
	}
	t.Apply(ev)
	if _, own := l.fresh[ref]; !own && !slices.Contains(l.changed, ref) {
		l.changed = append(l.changed, ref)
	}
	if !t.Recalled {
		return released
	}
	for _, e := range l.edits {
		if e.ref.conv == ev.ConvID && e.target == ev.Target && !slices.Contains(l.cleared, e.ref) {
			l.cleared = append(l.cleared, e.ref)
		}
	}
	for i := range msgs {
		if e := &msgs[i]; e.ConvID == ev.ConvID && e.MsgType == proto.MsgEdit && e.Target == ev.Target {
			e.Text = ""
		}
	}
	return released
}

// queueWrites queues the writes of the changed stored targets, erased
// edits and release records, after the batch's messages.
func (l *pgLife) queueWrites(b *pgx.Batch) {
	if len(l.releaseTokens) > 0 {
		b.Queue(`INSERT INTO blob_releases(token, attachment) SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT DO NOTHING`, l.releaseTokens, l.releaseIDs)
	}
	if n := len(l.changed); n > 0 {
		convs, seqs, texts, bodies, exts := make([]string, n), make([]int64, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for i, ref := range l.changed {
			m := l.targets[ref]
			convs[i], seqs[i], texts[i], exts[i] = ref.conv, clampInt64(ref.seq), []byte(m.Text), encodeExtras(m)
			if len(m.Body) > 0 {
				bodies[i] = m.Body
			}
		}
		b.Queue(`UPDATE messages m SET text = t.text, body = t.body, ext = t.ext
			FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[]) AS t(conv_id, seq, text, body, ext)
			WHERE m.conv_id = t.conv_id AND m.seq = t.seq`, convs, seqs, texts, bodies, exts)
	}
	if n := len(l.cleared); n > 0 {
		convs, seqs := make([]string, n), make([]int64, n)
		for i, ref := range l.cleared {
			convs[i], seqs[i] = ref.conv, clampInt64(ref.seq)
		}
		b.Queue(`UPDATE messages m SET text = '' FROM unnest($1::text[], $2::bigint[]) AS t(conv_id, seq)
			WHERE m.conv_id = t.conv_id AND m.seq = t.seq`, convs, seqs)
	}
}

var _ ReceiptReader = (*PostgresStore)(nil)

// Receipts implements ReceiptReader.
func (s *PostgresStore) Receipts(ctx context.Context, user, conv string, seq uint64) (read, unread []string, err error) {
	var members []string
	reads := map[string]uint64{}
	err = s.run(ctx, func(ctx context.Context) (bool, error) {
		members, reads = members[:0], map[string]uint64{}
		rows, err := s.pool.Query(ctx, `SELECT user_id, read_seq FROM members WHERE conv_id = $1 AND left_seq = 0 ORDER BY user_id`, conv)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var u string
			var r int64
			if err := rows.Scan(&u, &r); err != nil {
				return false, err
			}
			members = append(members, u)
			reads[u] = uint64(r)
		}
		return false, rows.Err()
	})
	if err != nil {
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

// roleOf is user's role in c now, as the batch read it: the gate lists the
// members above the member role; a former member has none.
func (c *pgConv) roleOf(user string) string {
	if c == nil || c.kind != proto.KindGroup {
		return rules.RoleMember
	}
	if _, ok := slices.BinarySearch(c.members, user); !ok {
		return ""
	}
	if c.gate != nil {
		if gm, ok := c.gate.special[user]; ok && gm.Role != "" {
			return gm.Role
		}
	}
	return rules.RoleMember
}

var _ AttachmentUser = (*PostgresStore)(nil)

// AttachmentInUse implements AttachmentUser. Only bodies holding id's
// bytes are decoded (carries).
func (s *PostgresStore) AttachmentInUse(ctx context.Context, id string) (bool, error) {
	var used bool
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		used = false
		rows, err := s.pool.Query(ctx, `SELECT body FROM messages
			WHERE msg_type IN `+attachmentTypesSQL+` AND position($1::bytea in body) > 0`, []byte(id))
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				return false, err
			}
			if carries(body, id) {
				used = true
				return false, nil
			}
		}
		return false, rows.Err()
	})
	return used, wrapStoreErr("attachment in use", err)
}
