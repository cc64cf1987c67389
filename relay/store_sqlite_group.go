package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Grouper = (*SQLiteStore)(nil)

// rawSQL is a statement for prepareSQLite to prepare into dst.
type rawSQL struct {
	dst *rawStmt
	sql string
}

// sqliteGroupStmts are the writer's statements for groups.
type sqliteGroupStmts struct {
	gConv, gMembers, gPending, gSetName, gSetInfo, gPutMember, gRemove, gSetConv rawStmt
	gPutPending, gDropPending, gOwner, gJoined, gGate, gArchive                  rawStmt
}

func (st *sqliteStmts) groupStmts() []rawSQL {
	g := &st.sqliteGroupStmts
	return []rawSQL{
		{&g.gConv, `SELECT kind, name, info, last_seq, member_count FROM conversations WHERE id = ?`},
		{&g.gMembers, `SELECT user_id, role, joined_at, muted_until FROM members WHERE conv_id = ? AND left_seq = 0`},
		{&g.gPending, `SELECT user_id, kind, by_user, note, created_at FROM group_pending WHERE conv_id = ?`},
		{&g.gSetName, `UPDATE conversations SET name = ? WHERE id = ?`},
		{&g.gSetInfo, `UPDATE conversations SET info = ? WHERE id = ?`},
		// A member added again after leaving starts reading at readFrom.
		// A former member's membership is kept in member_spans first
		// (gArchive); the new one reads from ?7.
		{&g.gPutMember, `INSERT INTO members(conv_id, user_id, read_seq, pos, role, joined_at, muted_until, left_seq, from_seq)
			VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, 0, ?7)
			ON CONFLICT(conv_id, user_id) DO UPDATE SET role = ?4, joined_at = ?5, muted_until = ?6, left_seq = 0,
				read_seq = CASE WHEN members.left_seq > 0 THEN max(members.read_seq, ?3) ELSE members.read_seq END,
				from_seq = CASE WHEN members.left_seq > 0 THEN ?7 ELSE members.from_seq END`},
		{&g.gArchive, `INSERT INTO member_spans(conv_id, user_id, from_seq, to_seq)
			SELECT conv_id, user_id, max(from_seq, 1), left_seq FROM members WHERE conv_id = ? AND user_id = ? AND left_seq > 0
			ON CONFLICT DO NOTHING`},
		{&g.gRemove, `UPDATE members SET left_seq = ?, pos = ?, role = 'member', muted_until = 0 WHERE conv_id = ? AND user_id = ?`},
		{&g.gSetConv, `UPDATE conversations SET last_seq = ?1, pos = ?2, members_pos = CASE WHEN ?3 THEN ?2 ELSE members_pos END,
			member_count = ?4 WHERE id = ?5`},
		{&g.gPutPending, `INSERT INTO group_pending(conv_id, user_id, kind, by_user, note, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(conv_id, user_id) DO UPDATE SET kind = excluded.kind, by_user = excluded.by_user,
				note = excluded.note, created_at = excluded.created_at`},
		{&g.gDropPending, `DELETE FROM group_pending WHERE conv_id = ? AND user_id = ?`},
		{&g.gOwner, `UPDATE members SET role = 'owner' WHERE conv_id = ? AND user_id = ?`},
		{&g.gJoined, `UPDATE members SET joined_at = ? WHERE conv_id = ?`},
		{&g.gGate, `SELECT user_id, role, muted_until FROM members
			WHERE conv_id = ? AND left_seq = 0 AND (role != 'member' OR muted_until > 0)`},
	}
}

// groupCreated writes what a new group has beyond its rows: the owner,
// when the members joined, its information.
func (s *SQLiteStore) groupCreated(spec GroupSpec) error {
	st := s.ws
	if err := st.gOwner.exec(spec.ID, spec.Creator); err != nil {
		return err
	}
	if err := st.gJoined.exec(spec.CreatedAt, spec.ID); err != nil {
		return err
	}
	err := st.gSetInfo.exec(encodeInfo(spec.Info), spec.ID)
	return err
}

// gate returns conv's speech gate, cached or read on the writer.
func (s *SQLiteStore) gate(conv string) (*speechGate, error) {
	if g, ok := s.gates[conv]; ok {
		return g, nil
	}
	st := s.ws
	var kind, name, info string
	var last, count int64
	if err := st.gConv.queryRow(conv).Scan(&kind, &name, &info, &last, &count); err != nil {
		return nil, err
	}
	g := &speechGate{muteAll: decodeInfo(info).MuteAll, special: make(map[string]rules.GroupMember)}
	var u, role string
	var until int64
	if err := st.gGate.each([]any{conv}, []any{&u, &role, &until}, func() error {
		g.special[u] = rules.GroupMember{Role: role, MutedUntil: until}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(s.gates) >= 1<<16 {
		clear(s.gates)
	}
	s.gates[conv] = g
	return g, nil
}

// groupState loads conv on the writer; nil when it is not a group.
func (s *SQLiteStore) groupState(conv string) (*rules.GroupState, uint64, error) {
	st := s.ws
	var kind, name, info string
	var last, count int64
	switch err := st.gConv.queryRow(conv).Scan(&kind, &name, &info, &last, &count); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	if kind != proto.KindGroup {
		return nil, 0, nil
	}
	gs := &rules.GroupState{ID: conv, Name: name, Info: decodeInfo(info),
		Members: make(map[string]rules.GroupMember, count), Pending: make(map[string]proto.GroupNotice)}
	var u, role string
	var joined, until int64
	if err := st.gMembers.each([]any{conv}, []any{&u, &role, &joined, &until}, func() error {
		gs.Members[u] = rules.GroupMember{Role: role, JoinedAt: joined, MutedUntil: until}
		return nil
	}); err != nil {
		return nil, 0, err
	}
	var n proto.GroupNotice
	if err := st.gPending.each([]any{conv}, []any{&n.User, &n.Kind, &n.By, &n.Note, &n.At}, func() error {
		n.ConvID, n.Name = conv, name
		gs.Pending[n.User] = n
		return nil
	}); err != nil {
		return nil, 0, err
	}
	return gs, uint64(last), nil
}

// ChangeGroup implements Grouper.
func (s *SQLiteStore) ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error) {
	var out GroupOutcome
	conv := req.Op.ConvID
	err := s.writeTx(ctx, func(bump func() uint64) error {
		out = GroupOutcome{}
		st := s.ws
		gs, last, err := s.groupState(conv)
		if err != nil {
			return err
		}
		plan, perr := rules.PlanGroupOp(gs, req.Actor, &req.Op, req.Now, req.Direct)
		if perr != nil {
			return perr
		}
		out.Notices, out.Ended = plan.Notices, plan.Ended
		delete(s.gates, conv)
		if plan.Name != nil {
			if err := st.gSetName.exec(*plan.Name, conv); err != nil {
				return err
			}
		}
		if plan.Info != nil {
			if err := st.gSetInfo.exec(encodeInfo(*plan.Info), conv); err != nil {
				return err
			}
		}
		for u, m := range plan.Put {
			if err := st.gArchive.exec(conv, u); err != nil {
				return err
			}
			if err := st.gPutMember.exec(conv, u, int64(last), m.Role, m.JoinedAt, m.MutedUntil, int64(last)+1); err != nil {
				return err
			}
		}
		for _, u := range plan.DropPending {
			if err := st.gDropPending.exec(conv, u); err != nil {
				return err
			}
		}
		for _, n := range plan.PutPending {
			if err := st.gPutPending.exec(conv, n.User, n.Kind, n.By, n.Note, n.At); err != nil {
				return err
			}
		}
		out.Messages = systemMessages(conv, req.Actor, plan.Events, last, req.Now)
		if len(out.Messages) > 0 {
			for _, m := range out.Messages {
				if err := st.insMsg.exec(m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
					m.MsgType, m.Text, m.Body, m.CreatedAt); err != nil {
					return err
				}
			}
			end := int64(last) + int64(len(out.Messages))
			pos := int64(bump())
			for _, u := range plan.Remove {
				if err := st.gRemove.exec(end, pos, conv, u); err != nil {
					return err
				}
			}
			if err := st.setRead.exec(end, conv, req.Actor, end); err != nil {
				return err
			}
			after := membersAfter(gs, &plan)
			changed := int64(0)
			if plan.MembersChanged(gs) {
				changed = 1
			}
			if err := st.gSetConv.exec(end, pos, changed, len(after), conv); err != nil {
				return err
			}
			delete(s.lists, conv)
			s.remember(conv, after)
			out.To = recipients(gs, &plan)
		}
		if keys, feedPlan := noticeFeed(plan.Ended, plan.Notices); req.Feed && len(keys) > 0 {
			if out.Feed, err = s.updateFeed(keys, feedPlan, bump); err != nil {
				return err
			}
			out.FeedKeys = keys
		}
		v, err := s.view(req.Actor, conv)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			out.View = &v
		}
		return nil
	})
	if err != nil {
		return GroupOutcome{}, wrapStoreErr("change group", err)
	}
	return out, nil
}

// GroupMembers implements Grouper, on the readers.
func (s *SQLiteStore) GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error) {
	page := proto.MemberPage{ConvID: q.ConvID, Members: []proto.Member{}}
	role, err := s.MemberRole(ctx, q.ConvID, user)
	if err != nil {
		return page, err
	}
	if role == "" || proto.KindOf(q.ConvID) != proto.KindGroup {
		return page, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
	}
	limit := pageLimit(q.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, role, joined_at, muted_until FROM members
		WHERE conv_id = ? AND left_seq = 0 AND user_id > ? ORDER BY user_id LIMIT ?`, q.ConvID, q.After, limit+1)
	if err != nil {
		return page, fmt.Errorf("relay: members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m proto.Member
		if err := rows.Scan(&m.User, &m.Role, &m.JoinedAt, &m.MutedUntil); err != nil {
			return page, fmt.Errorf("relay: members: %w", err)
		}
		if len(page.Members) == limit {
			page.More = true
			break
		}
		page.Members = append(page.Members, m)
	}
	return page, wrapStoreErr("members", rows.Err())
}

// GroupPending implements Grouper, on the readers.
func (s *SQLiteStore) GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error) {
	out := []proto.GroupNotice{}
	var rows *sql.Rows
	var err error
	if conv == "" {
		rows, err = s.r.QueryContext(ctx, `SELECT p.conv_id, c.name, p.user_id, p.kind, p.by_user, p.note, p.created_at
			FROM group_pending p JOIN conversations c ON c.id = p.conv_id
			WHERE p.user_id = ? AND p.kind = 'invite' ORDER BY p.conv_id`, user)
	} else {
		role, rerr := s.MemberRole(ctx, conv, user)
		switch {
		case rerr != nil:
			return nil, rerr
		case role == "" || proto.KindOf(conv) != proto.KindGroup:
			return nil, proto.Errorf(proto.CodeForbidden, "no such group, or not a member of it")
		case !rules.CanSeeRequests(role):
			return nil, proto.Errorf(proto.CodeRole, "only admins see join requests")
		}
		rows, err = s.r.QueryContext(ctx, `SELECT p.conv_id, c.name, p.user_id, p.kind, p.by_user, p.note, p.created_at
			FROM group_pending p JOIN conversations c ON c.id = p.conv_id
			WHERE p.conv_id = ? AND p.kind = 'request' ORDER BY p.user_id`, conv)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: pending: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n proto.GroupNotice
		if err := rows.Scan(&n.ConvID, &n.Name, &n.User, &n.Kind, &n.By, &n.Note, &n.At); err != nil {
			return nil, fmt.Errorf("relay: pending: %w", err)
		}
		out = append(out, n)
	}
	return out, wrapStoreErr("pending", rows.Err())
}

// MemberRole implements Grouper, on the readers.
func (s *SQLiteStore) MemberRole(ctx context.Context, conv, user string) (string, error) {
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT role FROM members WHERE conv_id = ? AND user_id = ? AND left_seq = 0`,
		conv, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, wrapStoreErr("member role", err)
}

// ReadSpans implements Grouper, on the readers.
func (s *SQLiteStore) ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error) {
	spans, _, _, err := sqliteSpans(ctx, s.r, conv, user)
	return spans, wrapStoreErr("read spans", err)
}

// sqliteQuerier is what sqliteSpans reads through: the read pool or a
// transaction on it.
type sqliteQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// sqliteSpans reads user's spans of conv, the conversation's last seq, and
// whether it exists. The spans are nil for a user who is not and never was
// a member.
func sqliteSpans(ctx context.Context, q sqliteQuerier, conv, user string) (rules.Spans, uint64, bool, error) {
	var kind string
	var last int64
	var from, left sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT c.kind, c.last_seq, m.from_seq, m.left_seq FROM conversations c
		LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = ? WHERE c.id = ?`, user, conv).Scan(&kind, &last, &from, &left)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, err
	case !from.Valid:
		return nil, uint64(last), true, nil
	case kind != proto.KindGroup:
		return rules.AllSeqs, uint64(last), true, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT from_seq, to_seq FROM member_spans WHERE conv_id = ? AND user_id = ? ORDER BY from_seq`, conv, user)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	var past rules.Spans
	for rows.Next() {
		var sp rules.Span
		if err := rows.Scan(&sp.From, &sp.To); err != nil {
			return nil, 0, false, err
		}
		past = append(past, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	return memberSpans(past, uint64(from.Int64), uint64(left.Int64)), uint64(last), true, nil
}

// Readers implements Grouper, on the readers.
func (s *SQLiteStore) Readers(ctx context.Context, conv string, seq uint64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT user_id FROM members m WHERE conv_id = ?1 AND left_seq = 0
		AND (max(from_seq, 1) <= ?2 OR EXISTS (SELECT 1 FROM member_spans p
			WHERE p.conv_id = m.conv_id AND p.user_id = m.user_id AND ?2 BETWEEN p.from_seq AND p.to_seq))
		ORDER BY user_id`, conv, clampInt64(seq))
	if err != nil {
		return nil, wrapStoreErr("readers", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, wrapStoreErr("readers", err)
		}
		out = append(out, u)
	}
	return out, wrapStoreErr("readers", rows.Err())
}
