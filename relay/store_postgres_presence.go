//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ PresenceStore = (*PostgresStore)(nil)

// postgresPresenceSchema is migration 3 of the PostgreSQL store: presence
// counts per relay node, the users' status and last-seen time, presence
// subscriptions and profiles. Profile fields are bytea, like message text.
const postgresPresenceSchema = `CREATE TABLE presence_nodes (
		user_id  text COLLATE "C" NOT NULL,
		node     text COLLATE "C" NOT NULL,
		sessions integer NOT NULL,
		PRIMARY KEY (user_id, node)
	);
	CREATE TABLE presence_users (
		user_id   text COLLATE "C" PRIMARY KEY,
		status    bytea NOT NULL DEFAULT '',
		last_seen bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE presence_subs (
		subscriber text COLLATE "C" NOT NULL,
		target     text COLLATE "C" NOT NULL,
		expires    bigint NOT NULL,
		PRIMARY KEY (subscriber, target)
	);
	CREATE INDEX presence_subs_target ON presence_subs(target, expires);
	CREATE TABLE profiles (
		user_id    text COLLATE "C" PRIMARY KEY,
		nickname   bytea NOT NULL DEFAULT '',
		avatar     bytea NOT NULL DEFAULT '',
		custom     bytea NOT NULL DEFAULT '',
		updated_at bigint NOT NULL
	);`

// presenceKey and subsKey name the advisory locks that make a user's
// presence change, and a subscriber's count-then-insert, one at a time
// across relays.
func (s *PostgresStore) presenceKey(user string) int64 { return s.lockKey("p", user) }
func (s *PostgresStore) subsKey(user string) int64     { return s.lockKey("s", user) }

const pgPresenceSQL = `SELECT EXISTS (SELECT 1 FROM presence_nodes WHERE user_id = $1 AND sessions > 0),
	coalesce((SELECT status FROM presence_users WHERE user_id = $1), ''),
	coalesce((SELECT last_seen FROM presence_users WHERE user_id = $1), 0)`

type pgQueryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgPresence(ctx context.Context, q pgQueryer, user string) (proto.Presence, error) {
	p := proto.Presence{User: user}
	var status []byte
	if err := q.QueryRow(ctx, pgPresenceSQL, user).Scan(&p.Online, &status, &p.LastSeen); err != nil {
		return p, err
	}
	p.Status = string(status)
	if p.Online {
		p.LastSeen = 0
	}
	return p, nil
}

// SetSessions implements PresenceWriter. Each user's advisory lock orders
// the changes of several relays: each sees the others' counts as
// committed, so exactly one of them reports the flip. The locks are taken
// in user order, in one statement, as reclaimNodes takes them, so two
// transactions never wait on each other in a cycle.
func (s *PostgresStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) (changed []proto.Presence, err error) {
	users := make([]string, len(counts))
	for i, c := range counts {
		users[i] = c.User
	}
	slices.Sort(users)
	keys := make([]int64, len(users))
	for i, u := range users {
		keys[i] = s.presenceKey(u)
	}
	flips := make([]*proto.Presence, len(counts))
	err = s.write(ctx, func(tx pgx.Tx) error {
		clear(flips)
		if _, err := tx.Exec(ctx, lockSQL, keys); err != nil {
			return err
		}
		for i, c := range counts {
			before, err := pgPresence(ctx, tx, c.User)
			if err != nil {
				return err
			}
			if c.Sessions > 0 {
				_, err = tx.Exec(ctx, `INSERT INTO presence_nodes(user_id, node, sessions) VALUES ($1, $2, $3)
					ON CONFLICT (user_id, node) DO UPDATE SET sessions = excluded.sessions`, c.User, node, c.Sessions)
			} else {
				_, err = tx.Exec(ctx, `DELETE FROM presence_nodes WHERE user_id = $1 AND node = $2`, c.User, node)
			}
			if err != nil {
				return err
			}
			p, err := pgPresence(ctx, tx, c.User)
			if err != nil {
				return err
			}
			if before.Online == p.Online {
				continue
			}
			if !p.Online {
				p.LastSeen = now
				if _, err := tx.Exec(ctx, `INSERT INTO presence_users(user_id, last_seen) VALUES ($1, $2)
					ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen`, c.User, now); err != nil {
					return err
				}
			}
			flips[i] = &p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: presence: %w", err)
	}
	for _, p := range flips {
		if p != nil {
			changed = append(changed, *p)
		}
	}
	return changed, nil
}

// SetStatus implements PresenceWriter.
func (s *PostgresStore) SetStatus(ctx context.Context, user, status string) (p proto.Presence, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.presenceKey(user)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO presence_users(user_id, status) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET status = excluded.status`, user, []byte(status)); err != nil {
			return err
		}
		p, err = pgPresence(ctx, tx, user)
		return err
	})
	if err != nil {
		return proto.Presence{}, fmt.Errorf("relay: status: %w", err)
	}
	return p, nil
}

// Presence implements PresenceWriter.
func (s *PostgresStore) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	out := make([]proto.Presence, len(users))
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		for i, u := range users {
			p, err := pgPresence(ctx, s.pool, u)
			if err != nil {
				return false, err
			}
			out[i] = p
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: presence: %w", err)
	}
	return out, nil
}

// Subscribe implements PresenceSubs. Each subscriber's advisory lock
// orders the subscriptions of several relays; the locks are taken in key
// order, in one statement, so two transactions never wait on each other
// in a cycle.
func (s *PostgresStore) Subscribe(ctx context.Context, batch []PresenceSub, max int) (refused []*proto.Error, err error) {
	keys := make([]int64, len(batch))
	for i, b := range batch {
		keys[i] = s.subsKey(b.Subscriber)
	}
	keys = sortedKeys(keys)
	err = s.write(ctx, func(tx pgx.Tx) error {
		refused = nil
		if _, err := tx.Exec(ctx, lockSQL, keys); err != nil {
			return err
		}
		for i, b := range batch {
			if _, err := tx.Exec(ctx, `DELETE FROM presence_subs WHERE subscriber = $1 AND expires <= $2`, b.Subscriber, b.Now); err != nil {
				return err
			}
			var live, held int
			if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE target = ANY($2)) FROM presence_subs WHERE subscriber = $1`,
				b.Subscriber, b.Targets).Scan(&live, &held); err != nil {
				return err
			}
			if perr := rules.AdmitPresenceSubs(live, len(b.Targets)-held, max); perr != nil {
				refused = refusedAt(refused, len(batch), i, perr)
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO presence_subs(subscriber, target, expires)
				SELECT $1, t, $3 FROM unnest($2::text[]) AS t
				ON CONFLICT (subscriber, target) DO UPDATE SET expires = excluded.expires`, b.Subscriber, b.Targets, b.Expires); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	return refused, nil
}

// Unsubscribe implements PresenceSubs.
func (s *PostgresStore) Unsubscribe(ctx context.Context, subscriber string, targets []string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM presence_subs WHERE subscriber = $1 AND target = ANY($2)`, subscriber, targets)
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: unsubscribe: %w", err)
	}
	return nil
}

// Watchers implements PresenceSubs.
func (s *PostgresStore) Watchers(ctx context.Context, target string, now int64) ([]string, error) {
	out, err := s.queryStrings(ctx, `SELECT subscriber FROM presence_subs WHERE target = $1 AND expires > $2 ORDER BY subscriber`, target, now)
	if err != nil {
		return nil, fmt.Errorf("relay: watchers: %w", err)
	}
	return out, nil
}

func pgProfile(ctx context.Context, q pgQueryer, user string) (proto.Profile, error) {
	p := proto.Profile{User: user}
	var nick, avatar, custom []byte
	err := q.QueryRow(ctx, `SELECT nickname, avatar, custom, updated_at, deleted FROM profiles WHERE user_id = $1`, user).
		Scan(&nick, &avatar, &custom, &p.UpdatedAt, &p.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	p.Nickname, p.Avatar, p.Custom = string(nick), string(avatar), string(custom)
	return p, err
}

// SetProfile implements ProfileStore.
func (s *PostgresStore) SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (p proto.Profile, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey("f", user)); err != nil {
			return err
		}
		old, err := pgProfile(ctx, tx, user)
		if err != nil {
			return err
		}
		p = rules.MergeProfile(old, set, now)
		return pgPutProfile(ctx, tx, p)
	})
	if err != nil {
		return proto.Profile{}, fmt.Errorf("relay: profile: %w", err)
	}
	return p, nil
}

// Profiles implements ProfileStore.
func (s *PostgresStore) Profiles(ctx context.Context, users []string) ([]proto.Profile, error) {
	out := make([]proto.Profile, len(users))
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		for i, u := range users {
			p, err := pgProfile(ctx, s.pool, u)
			if err != nil {
				return false, err
			}
			out[i] = p
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: profiles: %w", err)
	}
	return out, nil
}

var _ NodeLeases = (*PostgresStore)(nil)

// postgresLeaseSchema is migration 7 of the PostgreSQL store: the
// liveness leases of relay nodes (NodeLeases).
const postgresLeaseSchema = `CREATE TABLE node_leases (
		node    text COLLATE "C" PRIMARY KEY,
		expires bigint NOT NULL
	);`

// RenewLease implements NodeLeases.
func (s *PostgresStore) RenewLease(ctx context.Context, node string, expires, now int64) (held bool, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		var old int64
		switch err := tx.QueryRow(ctx, `SELECT expires FROM node_leases WHERE node = $1 FOR UPDATE`, node).Scan(&old); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		}
		held = old > now
		_, err := tx.Exec(ctx, `INSERT INTO node_leases(node, expires) VALUES ($1, $2)
			ON CONFLICT (node) DO UPDATE SET expires = excluded.expires`, node, expires)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("relay: node lease: %w", err)
	}
	return held, nil
}

// pgDeadNodes is the condition on presence_nodes of ReclaimNodes: $1 is
// self, $2 now.
const pgDeadNodes = `(node = $1 OR node NOT IN (SELECT node FROM node_leases WHERE expires > $2))`

// ReclaimNodes implements NodeLeases. Each user's advisory lock, taken in
// user order, orders the reclaim with that user's SetSessions on live
// nodes, and the rows each of several reclaiming relays deletes are its
// own (DELETE … RETURNING), so each user going offline is reported once.
func (s *PostgresStore) ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(ctx, self, nil, false, now)
}

var _ NodeRestarter = (*PostgresStore)(nil)

// RestartNode implements NodeRestarter.
func (s *PostgresStore) RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(ctx, node, counts, true, now)
}

// reclaimNodes removes the counts of self and of the nodes without a live
// lease, then gives self the counts of keep, in one transaction that holds
// the presence lock of every user it touches (taken in user order). It
// drops the expired leases, and self's when reclaiming (ReclaimNodes,
// whose caller takes a new one); a restarting node
// (RestartNode) keeps a live lease of its own.
func (s *PostgresStore) reclaimNodes(ctx context.Context, self string, keep map[string]int, restart bool, now int64) (out []proto.Presence, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT DISTINCT user_id FROM presence_nodes WHERE `+pgDeadNodes+` ORDER BY user_id`, self, now)
		if err != nil {
			return err
		}
		users, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		locks := slices.Clone(users)
		for u, n := range keep {
			if n > 0 {
				locks = append(locks, u)
			}
		}
		slices.Sort(locks)
		locks = slices.Compact(locks)
		if len(locks) == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM node_leases WHERE (node = $1 AND $3) OR expires <= $2`, self, now, !restart)
			return err
		}
		for _, u := range locks {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.presenceKey(u)); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, `DELETE FROM presence_nodes WHERE user_id = ANY($3) AND `+pgDeadNodes+`
			RETURNING user_id`, self, now, users)
		if err != nil {
			return err
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for u, n := range keep {
			if n <= 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO presence_nodes(user_id, node, sessions) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, node) DO UPDATE SET sessions = excluded.sessions`, u, self, n); err != nil {
				return err
			}
		}
		slices.Sort(gone)
		for _, u := range slices.Compact(gone) {
			p, err := pgPresence(ctx, tx, u)
			if err != nil {
				return err
			}
			if p.Online {
				continue // still connected through a live node
			}
			p.LastSeen = now
			if _, err := tx.Exec(ctx, `INSERT INTO presence_users(user_id, last_seen) VALUES ($1, $2)
				ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen`, u, now); err != nil {
				return err
			}
			out = append(out, p)
		}
		_, err = tx.Exec(ctx, `DELETE FROM node_leases WHERE (node = $1 AND $3) OR expires <= $2`, self, now, !restart)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: reclaim nodes: %w", err)
	}
	return out, nil
}

// DropLease implements NodeLeases.
func (s *PostgresStore) DropLease(ctx context.Context, node string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM node_leases WHERE node = $1`, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("relay: node lease: %w", err)
	}
	return nil
}

// pgPutProfile writes p as user p.User's profile.
func pgPutProfile(ctx context.Context, tx pgx.Tx, p proto.Profile) error {
	_, err := tx.Exec(ctx, `INSERT INTO profiles(user_id, nickname, avatar, custom, updated_at, deleted) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE SET nickname = excluded.nickname, avatar = excluded.avatar,
			custom = excluded.custom, updated_at = excluded.updated_at, deleted = excluded.deleted`,
		p.User, []byte(p.Nickname), []byte(p.Avatar), []byte(p.Custom), p.UpdatedAt, p.Deleted)
	return err
}

var _ UserEraser = (*PostgresStore)(nil)

// RelationsTo implements UserEraser. No index leads from an entry's key to
// its owner: it reads the whole feed table, which an admin deletion can
// afford.
func (s *PostgresStore) RelationsTo(ctx context.Context, user string) (out []string, err error) {
	err = s.run(ctx, func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, `SELECT user_id FROM user_feed WHERE kind = $1 AND key = $2 ORDER BY user_id`, rules.FeedRelation, user)
		if err != nil {
			return false, err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return false, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: relations: %w", err)
	}
	return out, nil
}

// EraseUser implements UserEraser, under the locks of the user's presence,
// subscriptions and profile.
func (s *PostgresStore) EraseUser(ctx context.Context, user string, now int64) (p proto.Profile, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		for _, k := range []int64{s.presenceKey(user), s.subsKey(user), s.lockKey("f", user)} {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, k); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM presence_nodes WHERE user_id = $1`,
			`DELETE FROM presence_users WHERE user_id = $1`,
			`DELETE FROM presence_subs WHERE subscriber = $1 OR target = $1`,
			`DELETE FROM user_feed WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, user); err != nil {
				return err
			}
		}
		old, err := pgProfile(ctx, tx, user)
		if err != nil {
			return err
		}
		p = deletedProfile(old, now)
		return pgPutProfile(ctx, tx, p)
	})
	if err != nil {
		return proto.Profile{}, fmt.Errorf("relay: erase user: %w", err)
	}
	return p, nil
}
