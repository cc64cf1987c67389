//go:build !js

package client

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/parley-im/parley/sdk-wasm/core"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLiteStore is a Store in a SQLite file, for native devices, bots and
// tests that restart a client. Every Batch is one transaction.
type SQLiteStore struct {
	db *sql.DB
}

var (
	_ Store    = (*SQLiteStore)(nil)
	_ Searcher = (*SQLiteStore)(nil)
)

const clientSchema = `
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
	conv_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
	PRIMARY KEY (conv_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (client_id TEXT PRIMARY KEY, ord INTEGER NOT NULL, data TEXT NOT NULL);
`

// migrations bring a store up to the current schema; PRAGMA user_version
// counts those applied. A new file runs them all after clientSchema.
var migrations = []func(tx *sql.Tx) error{
	// 1: search. Every message keeps its creation time and its text folded
	// by the core (core.Fold), filled in here for the messages of an older
	// store; the indexes give the search order, newest first, over all
	// conversations and within one.
	func(tx *sql.Tx) error {
		if _, err := tx.Exec(`
ALTER TABLE messages ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN fold TEXT NOT NULL DEFAULT '';`); err != nil {
			return err
		}
		type row struct {
			conv    string
			seq     int64
			created int64
			fold    string
		}
		var rows []row
		if err := scanRows(tx, `SELECT conv_id, seq, data FROM messages`, func(r *sql.Rows) error {
			var w row
			var data []byte
			if err := r.Scan(&w.conv, &w.seq, &data); err != nil {
				return err
			}
			var m core.Message
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			w.created, w.fold = m.CreatedAt, core.Fold(m.Text)
			rows = append(rows, w)
			return nil
		}); err != nil {
			return err
		}
		for _, w := range rows {
			if _, err := tx.Exec(`UPDATE messages SET created_at = ?, fold = ? WHERE conv_id = ? AND seq = ?`, w.created, w.fold, w.conv, w.seq); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`
CREATE INDEX messages_time ON messages (created_at, conv_id, seq);
CREATE INDEX messages_conv_time ON messages (conv_id, created_at, seq);`)
		return err
	},
}

// migrate runs the migrations the store has not had yet, each in a
// transaction of its own.
func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	for ; version < len(migrations); version++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if err := migrations[version](tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", version+1, err)
		}
		// PRAGMA takes no parameters; version is our own integer.
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, version+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// OpenSQLiteStore opens (creating if needed) the store at path.
func OpenSQLiteStore(path string) (*SQLiteStore, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("client: open store: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(clientSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("client: create store schema: %w", err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("client: upgrade store schema: %w", err)
	}
	return &SQLiteStore{db: db}, nil
}

// Load implements Store.
func (s *SQLiteStore) Load() (core.Snapshot, error) {
	var snap core.Snapshot
	var meta string
	switch err := s.db.QueryRow(`SELECT data FROM meta WHERE id = 1`).Scan(&meta); err {
	case nil:
		if err := json.Unmarshal([]byte(meta), &snap.Meta); err != nil {
			return snap, fmt.Errorf("client: store meta: %w", err)
		}
	case sql.ErrNoRows:
	default:
		return snap, err
	}
	if err := scanJSON(s.db, `SELECT data FROM conversations`, func(b []byte) error {
		var cv core.Conversation
		err := json.Unmarshal(b, &cv)
		snap.Conversations = append(snap.Conversations, cv)
		return err
	}); err != nil {
		return snap, err
	}
	err := scanJSON(s.db, `SELECT data FROM outbox ORDER BY ord`, func(b []byte) error {
		var e core.OutboxEntry
		err := json.Unmarshal(b, &e)
		snap.Outbox = append(snap.Outbox, e)
		return err
	})
	return snap, err
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	Query(q string, args ...any) (*sql.Rows, error)
}

func scanRows(db querier, q string, f func(*sql.Rows) error, args ...any) error {
	rows, err := db.Query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanJSON(db querier, q string, f func([]byte) error, args ...any) error {
	return scanRows(db, q, func(r *sql.Rows) error {
		var b []byte
		if err := r.Scan(&b); err != nil {
			return err
		}
		return f(b)
	}, args...)
}

// Apply implements Store.
func (s *SQLiteStore) Apply(b *core.Batch) (err error) {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if b.Reset {
		if _, err = tx.Exec(`DELETE FROM conversations; DELETE FROM messages;`); err != nil {
			return err
		}
	}
	put := func(q string, v any, args ...any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = tx.Exec(q, append(args, string(data))...)
		return err
	}
	if b.Meta != nil {
		if err = put(`INSERT OR REPLACE INTO meta (id, data) VALUES (1, ?)`, b.Meta); err != nil {
			return err
		}
	}
	for i := range b.Conversation {
		cv := &b.Conversation[i]
		if err = put(`INSERT OR REPLACE INTO conversations (id, data) VALUES (?, ?)`, cv, cv.ID); err != nil {
			return err
		}
	}
	for i := range b.Messages {
		m := &b.Messages[i]
		if err = put(`INSERT OR REPLACE INTO messages (conv_id, seq, created_at, fold, data) VALUES (?, ?, ?, ?, ?)`,
			m, m.ConvID, m.Seq, m.CreatedAt, core.Fold(m.Text)); err != nil {
			return err
		}
	}
	for i := range b.OutboxPut {
		e := &b.OutboxPut[i]
		if err = put(`INSERT OR REPLACE INTO outbox (client_id, ord, data) VALUES (?, ?, ?)`, e, e.Message.ClientID, e.Order); err != nil {
			return err
		}
	}
	for _, id := range b.OutboxDelete {
		if _, err = tx.Exec(`DELETE FROM outbox WHERE client_id = ?`, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Messages implements Store.
func (s *SQLiteStore) Messages(conv string, before uint64, limit int) ([]core.Message, error) {
	if before == 0 {
		before = 1<<63 - 1
	}
	if limit <= 0 {
		limit = 50
	}
	var out []core.Message
	err := scanJSON(s.db, `SELECT data FROM (SELECT seq, data FROM messages WHERE conv_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
		func(b []byte) error {
			var m core.Message
			err := json.Unmarshal(b, &m)
			out = append(out, m)
			return err
		}, conv, int64(before), limit)
	return out, err
}

// Search implements Searcher: a walk down the time index (of one
// conversation, when q has one), testing each folded text with instr, until
// q.Limit matched. instr compares the folded texts exactly, where LIKE
// would fold ASCII only and treat % and _ in a query as wildcards.
func (s *SQLiteStore) Search(q *core.SearchQuery) ([]core.Message, error) {
	// Without a cursor, start above every message.
	t, conv, seq := int64(1<<63-1), "", int64(0)
	if b := q.Before; b != nil {
		t, conv, seq = b.CreatedAt, b.ConvID, int64(b.Seq)
	}
	var query string
	args := []any{q.Text}
	if q.ConvID != "" {
		// Within one conversation the order is (created_at, seq); the
		// cursor's conversation decides ties of created_at.
		query = `SELECT data FROM messages INDEXED BY messages_conv_time
WHERE instr(fold, ?) > 0 AND conv_id = ? AND (created_at < ? OR (created_at = ? AND (? > conv_id OR (? = conv_id AND seq < ?))))
ORDER BY created_at DESC, seq DESC LIMIT ?`
		args = append(args, q.ConvID, t, t, conv, conv, seq, q.Limit)
	} else {
		query = `SELECT data FROM messages INDEXED BY messages_time
WHERE instr(fold, ?) > 0 AND (created_at, conv_id, seq) < (?, ?, ?)
ORDER BY created_at DESC, conv_id DESC, seq DESC LIMIT ?`
		args = append(args, t, conv, seq, q.Limit)
	}
	var out []core.Message
	err := scanJSON(s.db, query, func(b []byte) error {
		var m core.Message
		err := json.Unmarshal(b, &m)
		out = append(out, m)
		return err
	}, args...)
	return out, err
}

// Close implements Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }
