package client

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/parley-im/parley/sdk-wasm/core"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLiteStore is a core.Store in a SQLite file, for native devices, bots and
// tests that restart a client. Every Batch is one transaction.
type SQLiteStore struct {
	db *sql.DB
}

var _ core.Store = (*SQLiteStore)(nil)

const clientSchema = `
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
	conv_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
	PRIMARY KEY (conv_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (client_id TEXT PRIMARY KEY, ord INTEGER NOT NULL, data TEXT NOT NULL);
`

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
	return &SQLiteStore{db: db}, nil
}

// Load implements core.Store.
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

func scanJSON(db *sql.DB, q string, f func([]byte) error, args ...any) error {
	rows, err := db.Query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if err := f(b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Apply implements core.Store.
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
		if err = put(`INSERT OR REPLACE INTO messages (conv_id, seq, data) VALUES (?, ?, ?)`, m, m.ConvID, m.Seq); err != nil {
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

// Messages implements core.Store.
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

// Close implements core.Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }
