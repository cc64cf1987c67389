package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

const (
	sqliteFeedGet = `SELECT data, pos FROM user_feed WHERE user_id = ? AND kind = ? AND key = ?`
	sqliteFeedPut = `INSERT INTO user_feed(user_id, kind, key, data, pos) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(user_id, kind, key) DO UPDATE SET data = excluded.data, pos = excluded.pos`
)

// decodeFeed turns a stored row into its entry.
func decodeFeed(data []byte, pos int64) (proto.UserEntry, error) {
	e, err := proto.DecodeEntry(data)
	if err != nil {
		return e, fmt.Errorf("stored feed entry: %w", err)
	}
	e.Pos = uint64(pos)
	return e, nil
}

// encodeFeed is the stored form of e, without its position (a column).
func encodeFeed(e *proto.UserEntry) []byte {
	c := *e
	c.Pos = 0
	return proto.EncodeEntry(&c)
}

// Feed implements UserFeed, on the readers.
func (s *SQLiteStore) Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data, pos FROM user_feed WHERE user_id = ? AND pos > ? ORDER BY pos LIMIT ?`,
		user, clampInt64(cursor), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("relay: feed: %w", err)
	}
	defer rows.Close()
	var out []proto.UserEntry
	for rows.Next() {
		var data []byte
		var pos int64
		if err := rows.Scan(&data, &pos); err != nil {
			return nil, false, fmt.Errorf("relay: feed: %w", err)
		}
		e, err := decodeFeed(data, pos)
		if err != nil {
			return nil, false, fmt.Errorf("relay: feed: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("relay: feed: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// Relations implements RelationCounter.
func (s *SQLiteStore) Relations(ctx context.Context, user string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM user_feed WHERE user_id = ? AND kind = ?`, user, rules.FeedRelation).Scan(&n)
	return n, wrapStoreErr("count relations", err)
}

var _ RelationCounter = (*SQLiteStore)(nil)

// sqliteFeedEntries reads the feed entries named by a JSON array of
// [user, kind, key] triples, each with its index in the array.
const sqliteFeedEntries = `SELECT j.key, f.data, f.pos FROM json_each(?) j
	JOIN user_feed f ON f.user_id = j.value ->> 0 AND f.kind = j.value ->> 1 AND f.key = j.value ->> 2`

// FeedEntries implements UserFeed, on the readers, in one statement: the
// keys go in as a JSON array of [user, kind, key] triples.
func (s *SQLiteStore) FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error) {
	triples := make([][3]string, len(keys))
	for i, k := range keys {
		triples[i] = [3]string{k.User, k.Kind, k.Key}
	}
	list, err := json.Marshal(triples)
	if err != nil {
		return nil, fmt.Errorf("relay: feed entries: %w", err)
	}
	rows, err := s.rs.feedEntries.QueryContext(ctx, string(list))
	if err != nil {
		return nil, fmt.Errorf("relay: feed entries: %w", err)
	}
	defer rows.Close()
	out := make([]proto.UserEntry, len(keys))
	for rows.Next() {
		var i, pos int64
		var data []byte
		if err := rows.Scan(&i, &data, &pos); err != nil {
			return nil, fmt.Errorf("relay: feed entries: %w", err)
		}
		if i < 0 || int(i) >= len(out) {
			return nil, fmt.Errorf("relay: feed entries: row for key %d of %d", i, len(out))
		}
		if out[i], err = decodeFeed(data, pos); err != nil {
			return nil, fmt.Errorf("relay: feed entries: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: feed entries: %w", err)
	}
	return out, nil
}

// UpdateFeed implements UserFeed on the writer: the single writer is what
// keeps other updates out between the read and the write.
func (s *SQLiteStore) UpdateFeed(ctx context.Context, keys []FeedKey, plan func([]proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	var out []*proto.UserEntry
	err := s.writeTx(ctx, func(bump func() uint64) error {
		var err error
		out, err = s.updateFeed(keys, plan, bump)
		return err
	})
	if err != nil {
		return nil, wrapStoreErr("update feed", err)
	}
	return out, nil
}

// updateFeed is UpdateFeed inside the caller's write transaction.
func (s *SQLiteStore) updateFeed(keys []FeedKey, plan func([]proto.UserEntry) ([]*proto.UserEntry, error), bump func() uint64) ([]*proto.UserEntry, error) {
	var out []*proto.UserEntry
	err := func() error {
		st := s.ws
		cur := make([]proto.UserEntry, len(keys))
		for i, k := range keys {
			var data []byte
			var pos int64
			switch err := st.feedGet.queryRow(k.User, k.Kind, k.Key).Scan(&data, &pos); {
			case errors.Is(err, sql.ErrNoRows):
				continue
			case err != nil:
				return err
			}
			var err error
			if cur[i], err = decodeFeed(data, pos); err != nil {
				return err
			}
		}
		var err error
		if out, err = plan(cur); err != nil {
			return err
		}
		for i, e := range out {
			if e == nil {
				continue
			}
			e.Pos = bump()
			k := keys[i]
			if err := st.feedPut.exec(k.User, k.Kind, k.Key, encodeFeed(e), int64(e.Pos)); err != nil {
				return err
			}
		}
		return nil
	}()
	return out, err
}
