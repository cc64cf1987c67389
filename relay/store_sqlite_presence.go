package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ PresenceStore = (*SQLiteStore)(nil)

// sqlitePresenceSchema is migration 3 of the SQLite store: presence counts
// per relay node, the users' status and last-seen time, presence
// subscriptions and profiles.
const sqlitePresenceSchema = `CREATE TABLE presence_nodes (
		user_id  TEXT NOT NULL,
		node     TEXT NOT NULL,
		sessions INTEGER NOT NULL,
		PRIMARY KEY (user_id, node)
	) WITHOUT ROWID;
	CREATE TABLE presence_users (
		user_id   TEXT PRIMARY KEY,
		status    TEXT NOT NULL DEFAULT '',
		last_seen INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE TABLE presence_subs (
		subscriber TEXT NOT NULL,
		target     TEXT NOT NULL,
		expires    INTEGER NOT NULL,
		PRIMARY KEY (subscriber, target)
	) WITHOUT ROWID;
	CREATE INDEX presence_subs_target ON presence_subs(target, expires);
	CREATE TABLE profiles (
		user_id    TEXT PRIMARY KEY,
		nickname   TEXT NOT NULL DEFAULT '',
		avatar     TEXT NOT NULL DEFAULT '',
		custom     TEXT NOT NULL DEFAULT '',
		updated_at INTEGER NOT NULL
	) WITHOUT ROWID;`

// presenceTx runs fn in a write transaction on the writer connection,
// through database/sql: presence writes come a batch of users at a time
// (presenceBatch) and need none of the raw write path's speed.
func (s *SQLiteStore) presenceTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	tx, err := s.wc.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

const sqlitePresenceSQL = `SELECT EXISTS (SELECT 1 FROM presence_nodes WHERE user_id = ?1 AND sessions > 0),
	coalesce((SELECT status FROM presence_users WHERE user_id = ?1), ''),
	coalesce((SELECT last_seen FROM presence_users WHERE user_id = ?1), 0)`

func sqlitePresence(ctx context.Context, q queryer, user string) (proto.Presence, error) {
	p := proto.Presence{User: user}
	var online int64
	if err := q.QueryRowContext(ctx, sqlitePresenceSQL, user).Scan(&online, &p.Status, &p.LastSeen); err != nil {
		return p, err
	}
	p.Online = online != 0
	if p.Online {
		p.LastSeen = 0
	}
	return p, nil
}

// SetSessions implements PresenceWriter.
func (s *SQLiteStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) (changed []proto.Presence, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		changed = changed[:0]
		for _, c := range counts {
			before, err := sqlitePresence(ctx, tx, c.User)
			if err != nil {
				return err
			}
			if c.Sessions > 0 {
				_, err = tx.ExecContext(ctx, `INSERT INTO presence_nodes(user_id, node, sessions) VALUES (?, ?, ?)
					ON CONFLICT(user_id, node) DO UPDATE SET sessions = excluded.sessions`, c.User, node, c.Sessions)
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM presence_nodes WHERE user_id = ? AND node = ?`, c.User, node)
			}
			if err != nil {
				return err
			}
			p, err := sqlitePresence(ctx, tx, c.User)
			if err != nil {
				return err
			}
			if before.Online == p.Online {
				continue
			}
			if !p.Online {
				p.LastSeen = now
				if _, err := tx.ExecContext(ctx, `INSERT INTO presence_users(user_id, last_seen) VALUES (?, ?)
					ON CONFLICT(user_id) DO UPDATE SET last_seen = excluded.last_seen`, c.User, now); err != nil {
					return err
				}
			}
			changed = append(changed, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: presence: %w", err)
	}
	return changed, nil
}

// SetStatus implements PresenceWriter.
func (s *SQLiteStore) SetStatus(ctx context.Context, user, status string) (p proto.Presence, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO presence_users(user_id, status) VALUES (?, ?)
			ON CONFLICT(user_id) DO UPDATE SET status = excluded.status`, user, status); err != nil {
			return err
		}
		p, err = sqlitePresence(ctx, tx, user)
		return err
	})
	if err != nil {
		return proto.Presence{}, fmt.Errorf("relay: status: %w", err)
	}
	return p, nil
}

// Presence implements PresenceWriter, on the readers.
func (s *SQLiteStore) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	out := make([]proto.Presence, len(users))
	for i, u := range users {
		p, err := sqlitePresence(ctx, s.r, u)
		if err != nil {
			return nil, fmt.Errorf("relay: presence: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

// Subscribe implements PresenceSubs.
func (s *SQLiteStore) Subscribe(ctx context.Context, batch []PresenceSub, max int) (refused []*proto.Error, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		refused = nil
		for i, b := range batch {
			perr, err := sqliteSubscribe(ctx, tx, b, max)
			if err != nil {
				return err
			}
			if perr != nil {
				refused = refusedAt(refused, len(batch), i, perr)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	return refused, nil
}

// sqliteSubscribe applies one PresenceSub in tx, or refuses it.
func sqliteSubscribe(ctx context.Context, tx *sql.Tx, b PresenceSub, max int) (*proto.Error, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM presence_subs WHERE subscriber = ? AND expires <= ?`, b.Subscriber, b.Now); err != nil {
		return nil, err
	}
	var live int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM presence_subs WHERE subscriber = ?`, b.Subscriber).Scan(&live); err != nil {
		return nil, err
	}
	fresh := 0
	for _, t := range b.Targets {
		var one int
		switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM presence_subs WHERE subscriber = ? AND target = ?`, b.Subscriber, t).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			fresh++
		case err != nil:
			return nil, err
		}
	}
	if perr := rules.AdmitPresenceSubs(live, fresh, max); perr != nil {
		return perr, nil
	}
	for _, t := range b.Targets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO presence_subs(subscriber, target, expires) VALUES (?, ?, ?)
			ON CONFLICT(subscriber, target) DO UPDATE SET expires = excluded.expires`, b.Subscriber, t, b.Expires); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Unsubscribe implements PresenceSubs.
func (s *SQLiteStore) Unsubscribe(ctx context.Context, subscriber string, targets []string) error {
	err := s.presenceTx(ctx, func(tx *sql.Tx) error {
		for _, t := range targets {
			if _, err := tx.ExecContext(ctx, `DELETE FROM presence_subs WHERE subscriber = ? AND target = ?`, subscriber, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("relay: unsubscribe: %w", err)
	}
	return nil
}

// Watchers implements PresenceSubs, on the readers.
func (s *SQLiteStore) Watchers(ctx context.Context, target string, now int64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT subscriber FROM presence_subs WHERE target = ? AND expires > ? ORDER BY subscriber`, target, now)
	if err != nil {
		return nil, fmt.Errorf("relay: watchers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("relay: watchers: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: watchers: %w", err)
	}
	return out, nil
}

const sqliteProfileSQL = `SELECT nickname, avatar, custom, updated_at, deleted FROM profiles WHERE user_id = ?`

func sqliteProfile(ctx context.Context, q queryer, user string) (proto.Profile, error) {
	p := proto.Profile{User: user}
	err := q.QueryRowContext(ctx, sqliteProfileSQL, user).Scan(&p.Nickname, &p.Avatar, &p.Custom, &p.UpdatedAt, &p.Deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	return p, err
}

// SetProfile implements ProfileStore.
func (s *SQLiteStore) SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (p proto.Profile, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		old, err := sqliteProfile(ctx, tx, user)
		if err != nil {
			return err
		}
		p = rules.MergeProfile(old, set, now)
		return sqlitePutProfile(ctx, tx, p)
	})
	if err != nil {
		return proto.Profile{}, fmt.Errorf("relay: profile: %w", err)
	}
	return p, nil
}

// Profiles implements ProfileStore, on the readers.
func (s *SQLiteStore) Profiles(ctx context.Context, users []string) ([]proto.Profile, error) {
	out := make([]proto.Profile, len(users))
	for i, u := range users {
		p, err := sqliteProfile(ctx, s.r, u)
		if err != nil {
			return nil, fmt.Errorf("relay: profiles: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

var _ NodeLeases = (*SQLiteStore)(nil)

// sqliteLeaseSchema is migration 7 of the SQLite store: the liveness
// leases of relay nodes (NodeLeases).
const sqliteLeaseSchema = `CREATE TABLE node_leases (
		node    TEXT PRIMARY KEY,
		expires INTEGER NOT NULL
	) WITHOUT ROWID;`

// RenewLease implements NodeLeases.
func (s *SQLiteStore) RenewLease(ctx context.Context, node string, expires, now int64) (held bool, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		var old int64
		switch err := tx.QueryRowContext(ctx, `SELECT expires FROM node_leases WHERE node = ?`, node).Scan(&old); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		}
		held = old > now
		_, err := tx.ExecContext(ctx, `INSERT INTO node_leases(node, expires) VALUES (?, ?)
			ON CONFLICT(node) DO UPDATE SET expires = excluded.expires`, node, expires)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("relay: node lease: %w", err)
	}
	return held, nil
}

// sqliteDeadNodes is the condition on presence_nodes of ReclaimNodes: ?1
// is self, ?2 now.
const sqliteDeadNodes = `(node = ?1 OR node NOT IN (SELECT node FROM node_leases WHERE expires > ?2))`

// ReclaimNodes implements NodeLeases.
func (s *SQLiteStore) ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(ctx, self, nil, false, now)
}

// RestartNode implements NodeRestarter.
func (s *SQLiteStore) RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(ctx, node, counts, true, now)
}

// reclaimNodes removes the counts of self and of the nodes without a live
// lease, then gives self the counts of keep, in one transaction. It drops
// the expired leases, and self's when reclaiming (ReclaimNodes,
// whose caller takes a new one); a restarting node (RestartNode) keeps a
// live lease of its own.
func (s *SQLiteStore) reclaimNodes(ctx context.Context, self string, keep map[string]int, restart bool, now int64) (out []proto.Presence, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT user_id FROM presence_nodes WHERE sessions > 0 AND `+sqliteDeadNodes+` ORDER BY user_id`, self, now)
		if err != nil {
			return err
		}
		var users []string
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM presence_nodes WHERE `+sqliteDeadNodes, self, now); err != nil {
			return err
		}
		for u, n := range keep {
			if n <= 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO presence_nodes(user_id, node, sessions) VALUES (?, ?, ?)
				ON CONFLICT(user_id, node) DO UPDATE SET sessions = excluded.sessions`, u, self, n); err != nil {
				return err
			}
		}
		for _, u := range users {
			p, err := sqlitePresence(ctx, tx, u)
			if err != nil {
				return err
			}
			if p.Online {
				continue // still connected through a live node
			}
			p.LastSeen = now
			if _, err := tx.ExecContext(ctx, `INSERT INTO presence_users(user_id, last_seen) VALUES (?, ?)
				ON CONFLICT(user_id) DO UPDATE SET last_seen = excluded.last_seen`, u, now); err != nil {
				return err
			}
			out = append(out, p)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM node_leases WHERE (node = ?1 AND ?3) OR expires <= ?2`, self, now, !restart)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: reclaim nodes: %w", err)
	}
	return out, nil
}

// DropLease implements NodeLeases.
func (s *SQLiteStore) DropLease(ctx context.Context, node string) error {
	err := s.presenceTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM node_leases WHERE node = ?`, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: node lease: %w", err)
	}
	return nil
}

// sqlitePutProfile writes p as user p.User's profile.
func sqlitePutProfile(ctx context.Context, tx *sql.Tx, p proto.Profile) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO profiles(user_id, nickname, avatar, custom, updated_at, deleted) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(user_id) DO UPDATE SET nickname = excluded.nickname, avatar = excluded.avatar,
			custom = excluded.custom, updated_at = excluded.updated_at, deleted = excluded.deleted`,
		p.User, p.Nickname, p.Avatar, p.Custom, p.UpdatedAt, p.Deleted)
	return err
}

var _ UserEraser = (*SQLiteStore)(nil)

// RelationsTo implements UserEraser. No index leads from an entry's key to
// its owner: it reads the whole feed table, which an admin deletion can
// afford.
func (s *SQLiteStore) RelationsTo(ctx context.Context, user string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT user_id FROM user_feed WHERE kind = ? AND key = ? ORDER BY user_id`, rules.FeedRelation, user)
	if err != nil {
		return nil, fmt.Errorf("relay: relations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("relay: relations: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: relations: %w", err)
	}
	return out, nil
}

// EraseUser implements UserEraser.
func (s *SQLiteStore) EraseUser(ctx context.Context, user string, now int64) (p proto.Profile, err error) {
	err = s.presenceTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM presence_nodes WHERE user_id = ?1`,
			`DELETE FROM presence_users WHERE user_id = ?1`,
			`DELETE FROM presence_subs WHERE subscriber = ?1 OR target = ?1`,
			`DELETE FROM user_feed WHERE user_id = ?1`,
		} {
			if _, err := tx.ExecContext(ctx, q, user); err != nil {
				return err
			}
		}
		old, err := sqliteProfile(ctx, tx, user)
		if err != nil {
			return err
		}
		p = deletedProfile(old, now)
		return sqlitePutProfile(ctx, tx, p)
	})
	if err != nil {
		return proto.Profile{}, fmt.Errorf("relay: erase user: %w", err)
	}
	return p, nil
}
