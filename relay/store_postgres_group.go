//go:build !js

package relay

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Grouper = (*PostgresStore)(nil)

// pgGate builds a speech gate from a group's info and its special members
// as the append query lists them: user, role and muted_until joined by
// U+001F, members by U+001E (ids never hold either: proto.ValidName).
func pgGate(info, special string) *speechGate {
	g := &speechGate{muteAll: decodeInfo(info).MuteAll, special: make(map[string]rules.GroupMember)}
	if special == "" {
		return g
	}
	for _, row := range strings.Split(special, "\x1e") {
		f := strings.Split(row, "\x1f")
		if len(f) != 3 {
			continue
		}
		until, _ := strconv.ParseInt(f[2], 10, 64)
		g.special[f[0]] = rules.GroupMember{Role: f[1], MutedUntil: until}
	}
	return g
}

// ChangeGroup implements Grouper.
func (s *PostgresStore) ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error) {
	var out GroupOutcome
	conv := req.Op.ConvID
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = GroupOutcome{}
		if _, err := tx.Exec(ctx, lockSQL, []int64{s.convKey(conv)}); err != nil {
			return err
		}
		gs, last, err := s.groupState(ctx, tx, conv)
		if err != nil {
			return err
		}
		plan, perr := rules.PlanGroupOp(gs, req.Actor, &req.Op, req.Now, req.Direct)
		if perr != nil {
			return perr
		}
		out.Notices, out.Ended = plan.Notices, plan.Ended
		// The feed entries' locks and reads come before the counter, the
		// last lock; their writes after the change's.
		var feed []*proto.UserEntry
		keys, feedPlan := noticeFeed(plan.Ended, plan.Notices)
		if req.Feed && len(keys) > 0 {
			cur, err := s.feedRead(ctx, tx, keys)
			if err != nil {
				return err
			}
			if feed, err = feedPlan(cur); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		if plan.Name != nil {
			b.Queue(`UPDATE conversations SET name = $1 WHERE id = $2`, []byte(*plan.Name), conv)
		}
		if plan.Info != nil {
			b.Queue(`UPDATE conversations SET info = $1 WHERE id = $2`, encodeInfo(*plan.Info), conv)
		}
		for u, m := range plan.Put {
			// A former member's membership goes to member_spans; the new
			// one reads from $7 (group_spans.go).
			b.Queue(`INSERT INTO member_spans(conv_id, user_id, from_seq, to_seq)
				SELECT conv_id, user_id, greatest(from_seq, 1), left_seq FROM members WHERE conv_id = $1 AND user_id = $2 AND left_seq > 0
				ON CONFLICT DO NOTHING`, conv, u)
			b.Queue(`INSERT INTO members(conv_id, user_id, read_seq, pos, role, joined_at, muted_until, left_seq, from_seq)
				VALUES ($1, $2, $3, 0, $4, $5, $6, 0, $7)
				ON CONFLICT (conv_id, user_id) DO UPDATE SET role = $4, joined_at = $5, muted_until = $6, left_seq = 0,
					read_seq = CASE WHEN members.left_seq > 0 THEN greatest(members.read_seq, $3) ELSE members.read_seq END,
					from_seq = CASE WHEN members.left_seq > 0 THEN $7 ELSE members.from_seq END`,
				conv, u, int64(last), m.Role, m.JoinedAt, m.MutedUntil, int64(last)+1)
		}
		for _, u := range plan.DropPending {
			b.Queue(`DELETE FROM group_pending WHERE conv_id = $1 AND user_id = $2`, conv, u)
		}
		for _, n := range plan.PutPending {
			b.Queue(`INSERT INTO group_pending(conv_id, user_id, kind, by_user, note, created_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (conv_id, user_id) DO UPDATE SET kind = excluded.kind, by_user = excluded.by_user,
					note = excluded.note, created_at = excluded.created_at`, conv, n.User, n.Kind, n.By, []byte(n.Note), n.At)
		}
		out.Messages = systemMessages(conv, req.Actor, plan.Events, last, req.Now)
		if len(out.Messages) > 0 {
			for _, m := range out.Messages {
				b.Queue(`INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, body, created_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
					m.MsgType, []byte(m.Text), m.Body, m.CreatedAt)
			}
			end := int64(last) + int64(len(out.Messages))
			after := membersAfter(gs, &plan)
			b.Queue(bumpSQL, 1) // the last lock
			if len(plan.Remove) > 0 {
				b.Queue(`UPDATE members SET left_seq = $1, pos = `+counterSQL+`, role = 'member', muted_until = 0
					WHERE conv_id = $2 AND user_id = ANY($3::text[])`, end, conv, plan.Remove)
			}
			b.Queue(`UPDATE members SET read_seq = $1 WHERE conv_id = $2 AND user_id = $3 AND read_seq < $1 AND left_seq = 0`,
				end, conv, req.Actor)
			b.Queue(`UPDATE conversations SET last_seq = $1, pos = `+counterSQL+`,
				members_pos = CASE WHEN $2 THEN `+counterSQL+` ELSE members_pos END, member_count = $3 WHERE id = $4`,
				end, plan.MembersChanged(gs), len(after), conv)
			out.To = recipients(gs, &plan)
		}
		b.Queue(viewSQL+`WHERE m.conv_id = $1 AND m.user_id = $2`, conv, req.Actor).QueryRow(func(r pgx.Row) error {
			v, err := scanView(r)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return nil
			case err != nil:
				return err
			}
			out.View = &v
			return nil
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if feed == nil {
			return nil
		}
		out.FeedKeys, out.Feed = keys, feed
		return s.feedWrite(ctx, tx, keys, feed)
	})
	if err != nil {
		return GroupOutcome{}, wrapStoreErr("change group", err)
	}
	return out, nil
}

// groupState loads conv inside tx; nil when it is not a group.
func (s *PostgresStore) groupState(ctx context.Context, tx pgx.Tx, conv string) (*rules.GroupState, uint64, error) {
	var kind, info string
	var name []byte
	var last int64
	err := tx.QueryRow(ctx, `SELECT kind, name, info, last_seq FROM conversations WHERE id = $1`, conv).Scan(&kind, &name, &info, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	if kind != proto.KindGroup {
		return nil, 0, nil
	}
	gs := &rules.GroupState{ID: conv, Name: string(name), Info: decodeInfo(info),
		Members: make(map[string]rules.GroupMember), Pending: make(map[string]proto.GroupNotice)}
	rows, err := tx.Query(ctx, `SELECT user_id, role, joined_at, muted_until FROM members WHERE conv_id = $1 AND left_seq = 0`, conv)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var u string
		var m rules.GroupMember
		if err := rows.Scan(&u, &m.Role, &m.JoinedAt, &m.MutedUntil); err != nil {
			rows.Close()
			return nil, 0, err
		}
		gs.Members[u] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	rows, err = tx.Query(ctx, `SELECT user_id, kind, by_user, note, created_at FROM group_pending WHERE conv_id = $1`, conv)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		n := proto.GroupNotice{ConvID: conv, Name: gs.Name}
		var note []byte
		if err := rows.Scan(&n.User, &n.Kind, &n.By, &note, &n.At); err != nil {
			return nil, 0, err
		}
		n.Note = string(note)
		gs.Pending[n.User] = n
	}
	return gs, uint64(last), rows.Err()
}

// GroupMembers implements Grouper.
func (s *PostgresStore) GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error) {
	page := proto.MemberPage{ConvID: q.ConvID, Members: []proto.Member{}}
	role, err := s.MemberRole(ctx, q.ConvID, user)
	if err != nil {
		return page, err
	}
	if role == "" || proto.KindOf(q.ConvID) != proto.KindGroup {
		return page, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	limit := pageLimit(q.Limit)
	err = s.run(ctx, func(ctx context.Context) (bool, error) {
		page.Members, page.More = page.Members[:0], false
		rows, err := s.pool.Query(ctx, `SELECT user_id, role, joined_at, muted_until FROM members
			WHERE conv_id = $1 AND left_seq = 0 AND user_id > $2 ORDER BY user_id LIMIT $3`, q.ConvID, q.After, limit+1)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var m proto.Member
			if err := rows.Scan(&m.User, &m.Role, &m.JoinedAt, &m.MutedUntil); err != nil {
				return false, err
			}
			if len(page.Members) == limit {
				page.More = true
				break
			}
			page.Members = append(page.Members, m)
		}
		return false, rows.Err()
	})
	return page, wrapStoreErr("members", err)
}

// GroupPending implements Grouper.
func (s *PostgresStore) GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error) {
	query, arg := `SELECT p.conv_id, c.name, p.user_id, p.kind, p.by_user, p.note, p.created_at
		FROM group_pending p JOIN conversations c ON c.id = p.conv_id
		WHERE p.user_id = $1 AND p.kind = 'invite' ORDER BY p.conv_id`, user
	if conv != "" {
		role, err := s.MemberRole(ctx, conv, user)
		switch {
		case err != nil:
			return nil, err
		case role == "" || proto.KindOf(conv) != proto.KindGroup:
			return nil, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
		case !rules.CanSeeRequests(role):
			return nil, proto.Errorf(proto.CodeRole, "only admins see join requests")
		}
		query, arg = `SELECT p.conv_id, c.name, p.user_id, p.kind, p.by_user, p.note, p.created_at
			FROM group_pending p JOIN conversations c ON c.id = p.conv_id
			WHERE p.conv_id = $1 AND p.kind = 'request' ORDER BY p.user_id`, conv
	}
	out := []proto.GroupNotice{}
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		out = out[:0]
		rows, err := s.pool.Query(ctx, query, arg)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var n proto.GroupNotice
			var name, note []byte
			if err := rows.Scan(&n.ConvID, &name, &n.User, &n.Kind, &n.By, &note, &n.At); err != nil {
				return false, err
			}
			n.Name, n.Note = string(name), string(note)
			out = append(out, n)
		}
		return false, rows.Err()
	})
	return out, wrapStoreErr("pending", err)
}

// MemberRole implements Grouper.
func (s *PostgresStore) MemberRole(ctx context.Context, conv, user string) (string, error) {
	var role string
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		err := s.pool.QueryRow(ctx, `SELECT role FROM members WHERE conv_id = $1 AND user_id = $2 AND left_seq = 0`,
			conv, user).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			role = ""
			return false, nil
		}
		return false, err
	})
	return role, wrapStoreErr("member role", err)
}

// ReadSpans implements Grouper.
func (s *PostgresStore) ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error) {
	var spans rules.Spans
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		var err error
		spans, _, _, err = s.spans(ctx, conv, user)
		return false, err
	})
	return spans, wrapStoreErr("read spans", err)
}

// spansSQL reads a user's membership of a conversation in one snapshot:
// its kind and last seq, the member row's from_seq and left_seq (NULL for
// no row) and the earlier memberships ($1 conv, $2 user).
const spansSQL = `SELECT c.kind, c.last_seq, m.from_seq, m.left_seq,
		ARRAY(SELECT from_seq FROM member_spans WHERE conv_id = $1 AND user_id = $2 ORDER BY from_seq),
		ARRAY(SELECT to_seq FROM member_spans WHERE conv_id = $1 AND user_id = $2 ORDER BY from_seq)
	FROM conversations c LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = $2 WHERE c.id = $1`

// spans reads user's spans of conv (nil: not and never a member), the
// conversation's last seq, and whether it exists.
func (s *PostgresStore) spans(ctx context.Context, conv, user string) (rules.Spans, uint64, bool, error) {
	var kind string
	var last int64
	var from, left *int64
	var froms, tos []int64
	err := s.pool.QueryRow(ctx, spansSQL, conv, user).Scan(&kind, &last, &from, &left, &froms, &tos)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, err
	case from == nil:
		return nil, uint64(last), true, nil
	case kind != proto.KindGroup:
		return rules.AllSeqs, uint64(last), true, nil
	}
	past := make(rules.Spans, 0, len(froms))
	for i := range froms {
		if i < len(tos) {
			past = append(past, rules.Span{From: uint64(froms[i]), To: uint64(tos[i])})
		}
	}
	return memberSpans(past, uint64(*from), uint64(*left)), uint64(last), true, nil
}

// Readers implements Grouper.
func (s *PostgresStore) Readers(ctx context.Context, conv string, seq uint64) ([]string, error) {
	out, err := s.queryStrings(ctx, `SELECT user_id FROM members m WHERE conv_id = $1 AND left_seq = 0
			AND (greatest(from_seq, 1) <= $2 OR EXISTS (SELECT 1 FROM member_spans p
				WHERE p.conv_id = m.conv_id AND p.user_id = m.user_id AND $2 BETWEEN p.from_seq AND p.to_seq))
			ORDER BY user_id`, conv, clampInt64(seq))
	return out, wrapStoreErr("readers", err)
}
