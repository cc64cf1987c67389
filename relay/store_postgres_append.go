//go:build !js

package relay

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// Append implements Appender in one transaction of two round trips
// whatever the batch size: BEGIN, the locks and every read the batch needs,
// pipelined; then every write — one statement per table over arrays — and
// COMMIT, pipelined. The decisions in between are made in Go with the pure
// functions of route.go, item by item in batch order, on state read under
// the locks.
func (s *PostgresStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	var out []AppendResult
	err := s.run(ctx, func(ctx context.Context) (committing bool, err error) {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return false, err
		}
		defer c.Release() // a connection left inside a transaction is closed, not pooled
		conn := c.Conn()
		out, committing, err = s.appendTx(ctx, conn, batch)
		if err != nil && conn.PgConn().TxStatus() != 'I' && ctx.Err() == nil {
			if _, rerr := conn.Exec(ctx, "rollback"); rerr != nil {
				conn.Close(ctx)
			}
		}
		return committing, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: append: %w", err)
	}
	return out, nil
}

// pgConv is a conversation an Append batch writes to, as read under its
// lock and then advanced by the batch.
type pgConv struct {
	kind    string
	members []string // sorted
	read    uint64   // last_seq as read
	last    uint64   // last_seq after this batch's messages so far
	created bool     // p2p conversation created by this batch
	creator string
	at      int64
	lastAt  int         // index in the batch of its last message
	gate    *speechGate // groups only
}

func (s *PostgresStore) appendTx(ctx context.Context, conn *pgx.Conn, batch []AppendRequest) (_ []AppendResult, committing bool, _ error) {
	// Phase 1: locks, then everything the decisions need.
	keys := make([]int64, 0, 2*len(batch))
	var convIDs, senders, clientIDs []string
	for i := range batch {
		r := &batch[i]
		keys = append(keys, s.convKey(r.Send.ConvID), s.clientKey(r.Sender, r.Send.ClientID))
		convIDs = append(convIDs, r.Send.ConvID)
		senders = append(senders, r.Sender)
		clientIDs = append(clientIDs, r.Send.ClientID)
	}
	slices.Sort(convIDs)
	convIDs = slices.Compact(convIDs)

	stored := make(map[senderClient]proto.Message)
	convs := make(map[string]*pgConv, len(convIDs))
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(lockSQL, sortedKeys(keys))
	b.Queue(`SELECT m.sender, m.client_id, m.conv_id, m.seq, m.device, m.msg_type, m.text, m.body, m.created_at
		FROM unnest($1::text[], $2::text[]) AS t(sender, client_id)
		JOIN messages m ON m.sender = t.sender AND m.client_id = t.client_id`, senders, clientIDs).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var m proto.Message
				var seq int64
				var text []byte
				if err := rows.Scan(&m.Sender, &m.ClientID, &m.ConvID, &seq, &m.Device, &m.MsgType, &text, &m.Body, &m.CreatedAt); err != nil {
					return err
				}
				m.Seq, m.Text = uint64(seq), string(text)
				stored[senderClient{m.Sender, m.ClientID}] = m
			}
			return rows.Err()
		})
	life := s.queueLifecycleReads(b, batch)
	b.Queue(`SELECT c.id, c.kind, c.last_seq,
			ARRAY(SELECT m.user_id FROM members m WHERE m.conv_id = c.id AND m.left_seq = 0 ORDER BY m.user_id),
			c.info, coalesce((SELECT string_agg(m.user_id || chr(31) || m.role || chr(31) || m.muted_until, chr(30)) FROM members m
				WHERE m.conv_id = c.id AND m.left_seq = 0 AND (m.role <> 'member' OR m.muted_until > 0)), '')
		FROM conversations c WHERE c.id = ANY($1::text[])`, convIDs).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id, info string
				var last int64
				var special string
				c := &pgConv{}
				if err := rows.Scan(&id, &c.kind, &last, &c.members, &info, &special); err != nil {
					return err
				}
				if c.kind == proto.KindGroup {
					c.gate = pgGate(info, special)
				}
				c.read, c.last = uint64(last), uint64(last)
				convs[id] = c
			}
			return rows.Err()
		})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, err
	}

	// Phase 2: decide, item by item.
	out := make([]AppendResult, len(batch))
	var (
		msgs  []proto.Message
		reads = make(map[change]uint64) // sender's read cursor, per conversation
	)
	for i := range batch {
		req := &batch[i]
		send := &req.Send
		key := senderClient{req.Sender, send.ClientID}
		if orig, dup := stored[key]; dup {
			if perr := rules.DedupOutcome(send.ConvID, orig.ConvID); perr != nil {
				out[i] = AppendResult{Err: perr}
			} else {
				out[i] = AppendResult{Message: orig, Duplicate: true}
			}
			continue
		}
		c := convs[send.ConvID]
		isMember := false
		if c != nil {
			_, isMember = slices.BinarySearch(c.members, req.Sender)
		}
		create, perr := rules.AdmitSend(req.Sender, send.ConvID, c != nil, isMember)
		if perr == nil && c != nil && c.gate != nil {
			perr = c.gate.admit(req.Sender, req.CreatedAt)
		}
		if perr == nil {
			perr = life.admit(c, req, msgs)
		}
		if perr != nil {
			out[i] = AppendResult{Err: perr}
			continue
		}
		if create != nil {
			c = &pgConv{kind: proto.KindP2P, members: create, created: true, creator: req.Sender, at: req.CreatedAt}
			convs[send.ConvID] = c
		}
		c.last++
		c.lastAt = i
		m := proto.Message{
			ConvID: send.ConvID, Seq: c.last, Sender: req.Sender, ClientID: send.ClientID,
			MsgType: send.MsgType, Text: send.Text, Body: send.Body, CreatedAt: req.CreatedAt, Device: req.Device,
			ReplyTo: send.ReplyTo, Mentions: send.Mentions, Target: req.Target,
		}
		msgs = append(msgs, m)
		released := life.apply(msgs, req.Release)
		stored[key] = m
		// What a user sent, they have read: own messages never count as
		// unread, on any of the sender's devices.
		reads[change{req.Sender, m.ConvID}] = m.Seq
		out[i] = AppendResult{Message: m, Members: c.members, Released: released}
	}
	// Phase 3: write and commit.
	b = &pgx.Batch{}
	if len(msgs) > 0 {
		s.queueWrites(b, convIDs, convs, msgs, reads)
		life.queueWrites(b)
	}
	b.Queue("commit").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit answered %q", tag)
		}
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, true, err
	}
	return out, true, nil
}

// queueWrites adds to b the writes of an Append batch: new p2p
// conversations and their members, the messages, the senders' read cursors
// and, last, the change positions with last_seq — one row per conversation
// whatever its size.
func (s *PostgresStore) queueWrites(b *pgx.Batch, convIDs []string, convs map[string]*pgConv, msgs []proto.Message, reads map[change]uint64) {
	var newIDs, newCreators, memConvs, memUsers, lastIDs []string
	var newAts, newCounts []int64
	for _, id := range convIDs {
		c := convs[id]
		if c == nil || c.last == c.read {
			continue
		}
		if c.created {
			newIDs, newCreators, newAts = append(newIDs, id), append(newCreators, c.creator), append(newAts, c.at)
			newCounts = append(newCounts, int64(len(c.members)))
			for _, u := range c.members {
				memConvs, memUsers = append(memConvs, id), append(memUsers, u)
			}
		}
		lastIDs = append(lastIDs, id)
	}
	if len(newIDs) > 0 {
		b.Queue(`INSERT INTO conversations(id, kind, name, creator, created_at, last_seq, member_count)
			SELECT id, '`+proto.KindP2P+`', '', creator, created_at, 0, n
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS t(id, creator, created_at, n)`,
			newIDs, newCreators, newAts, newCounts)
		b.Queue(`INSERT INTO members(conv_id, user_id, read_seq, pos)
			SELECT conv_id, user_id, 0, 0 FROM unnest($1::text[], $2::text[]) AS t(conv_id, user_id)`, memConvs, memUsers)
	}
	n := len(msgs)
	var (
		mConv, mSender, mClient, mDevice, mType = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		mSeq, mAt                               = make([]int64, n), make([]int64, n)
		mText, mBody, mExt                      = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	)
	for i, m := range msgs {
		mConv[i], mSeq[i], mSender[i], mClient[i], mDevice[i], mType[i] = m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device, m.MsgType
		mText[i], mAt[i] = []byte(m.Text), m.CreatedAt
		if len(m.Body) > 0 { // NULL, not an empty bytea, when there is none
			mBody[i] = m.Body
		}
		mExt[i] = encodeExtras(&m)
	}
	b.Queue(`INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, body, created_at, ext)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[], $9::bigint[], $10::bytea[])`,
		mConv, mSeq, mSender, mClient, mDevice, mType, mText, mBody, mAt, mExt)
	rConv, rUser, rSeq := make([]string, 0, len(reads)), make([]string, 0, len(reads)), make([]int64, 0, len(reads))
	for k, seq := range reads {
		rConv, rUser, rSeq = append(rConv, k.conv), append(rUser, k.user), append(rSeq, int64(seq))
	}
	// The sender's read cursor needs no position of its own: the
	// conversation's new one, in this transaction, covers it.
	b.Queue(`UPDATE members m SET read_seq = t.seq
		FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(conv_id, user_id, seq)
		WHERE m.conv_id = t.conv_id AND m.user_id = t.user_id AND m.read_seq < t.seq`, rConv, rUser, rSeq)

	// Last: the counter (the transaction's last lock), then each changed
	// conversation's last_seq and position, numbered in the order of its
	// last message in the batch. The guard on the value read is belt and
	// braces: under the lock no one else can have moved last_seq.
	slices.SortFunc(lastIDs, func(a, b string) int { return convs[a].lastAt - convs[b].lastAt })
	k := len(lastIDs)
	lastOld, lastNew, nth := make([]int64, k), make([]int64, k), make([]int64, k)
	for i, id := range lastIDs {
		lastOld[i], lastNew[i], nth[i] = int64(convs[id].read), int64(convs[id].last), int64(k-i-1)
	}
	b.Queue(bumpSQL, k)
	b.Queue(`UPDATE conversations c SET last_seq = t.new, pos = `+counterSQL+` - t.back
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS t(id, old, new, back)
		WHERE c.id = t.id AND c.last_seq = t.old`, lastIDs, lastOld, lastNew, nth).
		Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(k) {
				return fmt.Errorf("last_seq of %d of %d conversations moved under their lock", k-int(tag.RowsAffected()), k)
			}
			return nil
		})
}
