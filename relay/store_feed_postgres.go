//go:build !js

package relay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// feedKey is the advisory lock of one feed entry.
func (s *PostgresStore) feedKey(k FeedKey) int64 { return s.lockKey("f", k.User, k.Kind, k.Key) }

// pgFeedEntries reads the entries of keys, in their order.
const pgFeedEntries = `SELECT t.i, f.data, f.pos
	FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(u, k, key, i)
	JOIN user_feed f ON f.user_id = t.u AND f.kind = t.k AND f.key = t.key`

func feedArrays(keys []FeedKey) (users, kinds, ks []string) {
	for _, k := range keys {
		users, kinds, ks = append(users, k.User), append(kinds, k.Kind), append(ks, k.Key)
	}
	return users, kinds, ks
}

// scanFeedEntries fills out from rows of pgFeedEntries.
func scanFeedEntries(rows pgx.Rows, out []proto.UserEntry) error {
	defer rows.Close()
	for rows.Next() {
		var i, pos int64
		var data []byte
		if err := rows.Scan(&i, &data, &pos); err != nil {
			return err
		}
		e, err := decodeFeed(data, pos)
		if err != nil {
			return err
		}
		out[i-1] = e
	}
	return rows.Err()
}

// Feed implements UserFeed.
func (s *PostgresStore) Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error) {
	var out []proto.UserEntry
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT data, pos FROM user_feed WHERE user_id = $1 AND pos > $2 ORDER BY pos LIMIT $3`,
			user, clampInt64(cursor), limit+1)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var data []byte
			var pos int64
			if err := rows.Scan(&data, &pos); err != nil {
				return false, err
			}
			e, err := decodeFeed(data, pos)
			if err != nil {
				return false, err
			}
			out = append(out, e)
		}
		return false, rows.Err()
	})
	if err != nil {
		return nil, false, fmt.Errorf("relay: feed: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// Relations implements RelationCounter.
func (s *PostgresStore) Relations(ctx context.Context, user string) (int, error) {
	var n int
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		return false, s.pool.QueryRow(ctx, `SELECT count(*) FROM user_feed WHERE user_id = $1 AND kind = $2`, user, rules.FeedRelation).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("relay: count relations: %w", err)
	}
	return n, nil
}

var _ RelationCounter = (*PostgresStore)(nil)

// FeedEntries implements UserFeed.
func (s *PostgresStore) FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error) {
	out := make([]proto.UserEntry, len(keys))
	users, kinds, ks := feedArrays(keys)
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		clear(out)
		rows, err := s.pool.Query(ctx, pgFeedEntries, users, kinds, ks)
		if err != nil {
			return false, err
		}
		return false, scanFeedEntries(rows, out)
	})
	if err != nil {
		return nil, fmt.Errorf("relay: feed entries: %w", err)
	}
	return out, nil
}

// UpdateFeed implements UserFeed: the entries' advisory locks, then the
// reads, the plan, and — the counter being the last lock, as everywhere —
// the positions and the writes.
func (s *PostgresStore) UpdateFeed(ctx context.Context, keys []FeedKey, plan func([]proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	var out []*proto.UserEntry
	err := s.write(ctx, func(tx pgx.Tx) error {
		cur, err := s.feedRead(ctx, tx, keys)
		if err != nil {
			return err
		}
		if out, err = plan(cur); err != nil {
			return err
		}
		return s.feedWrite(ctx, tx, keys, out)
	})
	if err != nil {
		return nil, wrapStoreErr("update feed", err)
	}
	return out, nil
}

// feedRead takes the advisory locks of keys in tx and reads their entries
// (the first half of UpdateFeed: before the counter, the last lock).
func (s *PostgresStore) feedRead(ctx context.Context, tx pgx.Tx, keys []FeedKey) ([]proto.UserEntry, error) {
	users, kinds, ks := feedArrays(keys)
	locks := make([]int64, len(keys))
	for i, k := range keys {
		locks[i] = s.feedKey(k)
	}
	if _, err := tx.Exec(ctx, lockSQL, sortedKeys(locks)); err != nil {
		return nil, err
	}
	cur := make([]proto.UserEntry, len(keys))
	rows, err := tx.Query(ctx, pgFeedEntries, users, kinds, ks)
	if err != nil {
		return nil, err
	}
	return cur, scanFeedEntries(rows, cur)
}

// feedWrite writes the entries out of keys (nil: unchanged) in tx, with
// positions from the counter (the second half of UpdateFeed).
func (s *PostgresStore) feedWrite(ctx context.Context, tx pgx.Tx, keys []FeedKey, out []*proto.UserEntry) error {
	n := 0
	for _, e := range out {
		if e != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + $1 WHERE name = 'changes' RETURNING value`, n).Scan(&last); err != nil {
		return err
	}
	b := &pgx.Batch{}
	pos := uint64(last) - uint64(n)
	for i, e := range out {
		if e == nil {
			continue
		}
		pos++
		e.Pos = pos
		k := keys[i]
		b.Queue(`INSERT INTO user_feed(user_id, kind, key, data, pos) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, kind, key) DO UPDATE SET data = excluded.data, pos = excluded.pos`,
			k.User, k.Kind, k.Key, encodeFeed(e), int64(e.Pos))
	}
	return tx.SendBatch(ctx, b).Close()
}
