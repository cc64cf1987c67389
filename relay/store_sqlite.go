//go:build !js

package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ Store = (*SQLiteStore)(nil)

// SQLiteStore is the embedded Store: one SQLite file in WAL mode. SQLite has
// a single writer, so every write goes through one connection (and the group
// committer batches sends into one transaction); reads use a separate pool
// that WAL lets run beside the writer.
type SQLiteStore struct {
	w, r  *sql.DB
	epoch string

	wmu     sync.Mutex // one write transaction at a time; guards counter
	counter uint64     // store-wide change counter, mirrored in the counters table
	closed  bool
}

// SQLiteOptions tune OpenSQLite.
type SQLiteOptions struct {
	// Synchronous is "FULL" (every commit reaches the disk before it is
	// acknowledged) or "NORMAL" (survives a crash of the process, not of the
	// machine). Defaults to "FULL".
	Synchronous string
	// ReadConns is the size of the read pool. Defaults to 4.
	ReadConns int
}

// schemaVersion is the version of the schema this build writes. migrations[i]
// takes a database from version i to i+1.
const schemaVersion = 1

var migrations = []string{
	`CREATE TABLE conversations (
		id         TEXT PRIMARY KEY,
		kind       TEXT NOT NULL,
		name       TEXT NOT NULL DEFAULT '',
		creator    TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		last_seq   INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE TABLE members (
		conv_id  TEXT NOT NULL REFERENCES conversations(id),
		user_id  TEXT NOT NULL,
		read_seq INTEGER NOT NULL DEFAULT 0,
		version  INTEGER NOT NULL,
		PRIMARY KEY (conv_id, user_id)
	) WITHOUT ROWID;
	CREATE INDEX members_user_version ON members(user_id, version);
	CREATE TABLE messages (
		conv_id    TEXT NOT NULL REFERENCES conversations(id),
		seq        INTEGER NOT NULL,
		sender     TEXT NOT NULL,
		client_id  TEXT NOT NULL,
		device     TEXT NOT NULL DEFAULT '',
		msg_type   TEXT NOT NULL,
		text       TEXT NOT NULL DEFAULT '',
		body       BLOB,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (conv_id, seq)
	) WITHOUT ROWID;
	CREATE UNIQUE INDEX messages_sender_client ON messages(sender, client_id);
	CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	) WITHOUT ROWID;
	INSERT INTO counters(name, value) VALUES ('changes', 0);`,
}

// openDefaultStore opens the store a relay uses when Options.Store is nil:
// SQLite in Options.Data.
func openDefaultStore(o Options) (Store, error) {
	return OpenSQLite(o.Data, SQLiteOptions{Synchronous: o.Synchronous})
}

// OpenSQLite opens (creating or migrating) the store in dir/parley.db.
func OpenSQLite(dir string, o SQLiteOptions) (*SQLiteStore, error) {
	syncMode := strings.ToUpper(o.Synchronous)
	switch syncMode {
	case "":
		syncMode = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("relay: sqlite synchronous %q is not FULL or NORMAL", o.Synchronous)
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	path := filepath.Join(dir, "parley.db")
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_pragma", "journal_mode(WAL)", "_pragma", "synchronous("+syncMode+")", "_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &SQLiteStore{w: w}
	if err := s.migrate(); err != nil {
		w.Close()
		return nil, fmt.Errorf("relay: open store %s: %w", path, err)
	}
	// Opened after migrate so the file is already in WAL mode and has its
	// schema: a query_only connection could do neither.
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	s.r = r
	return s, nil
}

// migrate brings the schema to schemaVersion and loads the epoch and counter.
func (s *SQLiteStore) migrate() error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	version := 0
	var v string
	switch err := tx.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if version, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("bad schema_version %q", v)
		}
	}
	if version > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this relay (%d)", version, schemaVersion)
	}
	for ; version < schemaVersion; version++ {
		if _, err := tx.Exec(migrations[version]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", version+1, err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta(key, value) VALUES ('schema_version', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	// The epoch is born with the database: a restored or recreated file gets
	// a new one unless it is the very same data.
	if _, err := tx.Exec(`INSERT INTO meta(key, value) VALUES ('epoch', ?) ON CONFLICT(key) DO NOTHING`, randomHex(8)); err != nil {
		return err
	}
	if err := tx.QueryRow(`SELECT value FROM meta WHERE key = 'epoch'`).Scan(&s.epoch); err != nil {
		return err
	}
	var counter int64
	if err := tx.QueryRow(`SELECT value FROM counters WHERE name = 'changes'`).Scan(&counter); err != nil {
		return err
	}
	s.counter = uint64(counter)
	return tx.Commit()
}

// Epoch implements Lifecycle.
func (s *SQLiteStore) Epoch() string { return s.epoch }

// Ping implements Lifecycle.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Close implements Lifecycle.
func (s *SQLiteStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return errors.Join(s.r.Close(), s.w.Close())
}

// queryer is what both *sql.Tx and *sql.DB offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx runs fn in a write transaction. fn gets the next free change
// version through bump; the counter is persisted with the transaction and
// adopted only if it commits.
func (s *SQLiteStore) writeTx(ctx context.Context, fn func(tx *sql.Tx, bump func() uint64) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	counter := s.counter
	bump := func() uint64 { counter++; return counter }
	if err := fn(tx, bump); err != nil {
		return err
	}
	if counter != s.counter {
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'changes'`, int64(counter)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.counter = counter
	return nil
}

// appendStmts are the statements of one Append transaction.
type appendStmts struct {
	dedup, conv, member, insConv, insMember, insMsg, setLast, setRead, bumpAll, members *sql.Stmt
}

func prepareAppend(ctx context.Context, tx *sql.Tx) (*appendStmts, error) {
	var st appendStmts
	for _, p := range []struct {
		dst *(*sql.Stmt)
		sql string
	}{
		{&st.dedup, `SELECT conv_id, seq, device, msg_type, text, body, created_at FROM messages WHERE sender = ? AND client_id = ?`},
		{&st.conv, `SELECT last_seq FROM conversations WHERE id = ?`},
		{&st.member, `SELECT 1 FROM members WHERE conv_id = ? AND user_id = ?`},
		{&st.insConv, `INSERT INTO conversations(id, kind, name, creator, created_at, last_seq) VALUES (?, ?, ?, ?, ?, 0)`},
		{&st.insMember, `INSERT INTO members(conv_id, user_id, read_seq, version) VALUES (?, ?, 0, ?)`},
		{&st.insMsg, `INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.setLast, `UPDATE conversations SET last_seq = ? WHERE id = ?`},
		{&st.setRead, `UPDATE members SET read_seq = ? WHERE conv_id = ? AND user_id = ? AND read_seq < ?`},
		{&st.bumpAll, `UPDATE members SET version = ? WHERE conv_id = ?`},
		{&st.members, `SELECT user_id FROM members WHERE conv_id = ? ORDER BY user_id`},
	} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, err
		}
		*p.dst = stmt
	}
	return &st, nil
}

// Append implements Appender.
func (s *SQLiteStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	var out []AppendResult
	err := s.writeTx(ctx, func(tx *sql.Tx, bump func() uint64) error {
		st, err := prepareAppend(ctx, tx)
		if err != nil {
			return err
		}
		out = make([]AppendResult, len(batch))
		members := make(map[string][]string) // per conversation, for this batch
		for i := range batch {
			if out[i], err = s.appendOne(ctx, st, &batch[i], bump, members); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: append: %w", err)
	}
	return out, nil
}

func (s *SQLiteStore) appendOne(ctx context.Context, st *appendStmts, req *AppendRequest, bump func() uint64, members map[string][]string) (AppendResult, error) {
	send := &req.Send
	orig := proto.Message{Sender: req.Sender, ClientID: send.ClientID}
	var seq int64
	err := st.dedup.QueryRowContext(ctx, req.Sender, send.ClientID).Scan(
		&orig.ConvID, &seq, &orig.Device, &orig.MsgType, &orig.Text, &orig.Body, &orig.CreatedAt)
	switch {
	case err == nil:
		if perr := rules.DedupOutcome(send.ConvID, orig.ConvID); perr != nil {
			return AppendResult{Err: perr}, nil
		}
		orig.Seq = uint64(seq)
		return AppendResult{Message: orig, Duplicate: true}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return AppendResult{}, err
	}

	var last int64
	exists, isMember := true, false
	switch err := st.conv.QueryRowContext(ctx, send.ConvID).Scan(&last); {
	case errors.Is(err, sql.ErrNoRows):
		exists = false
	case err != nil:
		return AppendResult{}, err
	default:
		var one int
		switch err := st.member.QueryRowContext(ctx, send.ConvID, req.Sender).Scan(&one); {
		case err == nil:
			isMember = true
		case !errors.Is(err, sql.ErrNoRows):
			return AppendResult{}, err
		}
	}
	create, perr := rules.AdmitSend(req.Sender, send.ConvID, exists, isMember)
	if perr != nil {
		return AppendResult{Err: perr}, nil
	}
	if create != nil {
		if _, err := st.insConv.ExecContext(ctx, send.ConvID, proto.KindP2P, "", req.Sender, req.CreatedAt); err != nil {
			return AppendResult{}, err
		}
		for _, u := range create {
			if _, err := st.insMember.ExecContext(ctx, send.ConvID, u, 0); err != nil {
				return AppendResult{}, err
			}
		}
		members[send.ConvID] = create
	}
	m := proto.Message{
		ConvID: send.ConvID, Seq: uint64(last) + 1, Sender: req.Sender, ClientID: send.ClientID,
		MsgType: send.MsgType, Text: send.Text, Body: send.Body, CreatedAt: req.CreatedAt, Device: req.Device,
	}
	var body any // NULL, not an empty blob, when there is none
	if len(m.Body) > 0 {
		body = m.Body
	}
	if _, err := st.insMsg.ExecContext(ctx, m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
		m.MsgType, m.Text, body, m.CreatedAt); err != nil {
		return AppendResult{}, err
	}
	if _, err := st.setLast.ExecContext(ctx, int64(m.Seq), m.ConvID); err != nil {
		return AppendResult{}, err
	}
	// What a user sent, they have read: own messages never count as unread,
	// on any of the sender's devices.
	if _, err := st.setRead.ExecContext(ctx, int64(m.Seq), m.ConvID, m.Sender, int64(m.Seq)); err != nil {
		return AppendResult{}, err
	}
	if _, err := st.bumpAll.ExecContext(ctx, int64(bump()), m.ConvID); err != nil {
		return AppendResult{}, err
	}
	list, ok := members[m.ConvID]
	if !ok {
		var err error
		if list, err = scanStrings(st.members.QueryContext(ctx, m.ConvID)); err != nil {
			return AppendResult{}, err
		}
		members[m.ConvID] = list
	}
	return AppendResult{Message: m, Members: list}, nil
}

// scanStrings collects a one-column result.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// view reads user's view of conv; ok is false when user is not a member or
// conv does not exist.
func (s *SQLiteStore) view(ctx context.Context, q queryer, user, conv string) (c proto.Conversation, ok bool, err error) {
	var (
		kind, name                string
		createdAt                 int64
		lastSeq, readSeq, version int64
	)
	err = q.QueryRowContext(ctx, `SELECT c.kind, c.name, c.created_at, c.last_seq, m.read_seq, m.version
		FROM members m JOIN conversations c ON c.id = m.conv_id
		WHERE m.conv_id = ? AND m.user_id = ?`, conv, user).Scan(&kind, &name, &createdAt, &lastSeq, &readSeq, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	c, err = s.assemble(ctx, q, conv, kind, name, createdAt, uint64(lastSeq), uint64(readSeq), uint64(version))
	return c, err == nil, err
}

// assemble adds the last message and, for groups, the members to a view.
func (s *SQLiteStore) assemble(ctx context.Context, q queryer, conv, kind, name string, createdAt int64, lastSeq, readSeq, version uint64) (proto.Conversation, error) {
	var last *proto.Message
	if lastSeq > 0 {
		m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE conv_id = ? AND seq = ?`, conv, int64(lastSeq)))
		if err != nil {
			return proto.Conversation{}, fmt.Errorf("last message of %s: %w", conv, err)
		}
		last = &m
	}
	var members []string
	if kind == proto.KindGroup {
		var err error
		if members, err = scanStrings(q.QueryContext(ctx, `SELECT user_id FROM members WHERE conv_id = ? ORDER BY user_id`, conv)); err != nil {
			return proto.Conversation{}, err
		}
	}
	return convView(conv, kind, name, createdAt, lastSeq, readSeq, version, members, last), nil
}

const messageCols = `conv_id, seq, sender, client_id, device, msg_type, text, body, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanMessage(r scanner) (proto.Message, error) {
	var m proto.Message
	var seq int64
	err := r.Scan(&m.ConvID, &seq, &m.Sender, &m.ClientID, &m.Device, &m.MsgType, &m.Text, &m.Body, &m.CreatedAt)
	m.Seq = uint64(seq)
	return m, err
}

// Sync implements Querier. It walks the (user_id, version) index from the
// cursor, so its cost follows what changed.
func (s *SQLiteStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("relay: sync: %w", err)
	}
	defer tx.Rollback()
	type row struct {
		conv, kind, name          string
		createdAt                 int64
		lastSeq, readSeq, version int64
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.conv_id, c.kind, c.name, c.created_at, c.last_seq, m.read_seq, m.version
		FROM members m JOIN conversations c ON c.id = m.conv_id
		WHERE m.user_id = ? AND m.version > ?
		ORDER BY m.version LIMIT ?`, user, int64(cursor), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("relay: sync: %w", err)
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.conv, &r.kind, &r.name, &r.createdAt, &r.lastSeq, &r.readSeq, &r.version); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("relay: sync: %w", err)
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("relay: sync: %w", err)
	}
	more := len(found) > limit
	if more {
		found = found[:limit]
	}
	out := make([]proto.Conversation, 0, len(found))
	for _, r := range found {
		c, err := s.assemble(ctx, tx, r.conv, r.kind, r.name, r.createdAt, uint64(r.lastSeq), uint64(r.readSeq), uint64(r.version))
		if err != nil {
			return nil, false, fmt.Errorf("relay: sync: %w", err)
		}
		out = append(out, c)
	}
	return out, more, nil
}

// History implements Querier.
func (s *SQLiteStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	page := proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	defer tx.Rollback()
	var last int64
	var isMember bool
	exists := true
	err = tx.QueryRowContext(ctx, `SELECT c.last_seq, EXISTS(SELECT 1 FROM members WHERE conv_id = c.id AND user_id = ?)
		FROM conversations c WHERE c.id = ?`, user, q.ConvID).Scan(&last, &isMember)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		exists = false
	case err != nil:
		return page, fmt.Errorf("relay: history: %w", err)
	}
	empty, perr := rules.AdmitRead(user, q.ConvID, exists, isMember)
	if perr != nil {
		return page, perr
	}
	if empty {
		return page, nil
	}
	page.LastSeq = uint64(last)
	var rows *sql.Rows
	if q.Before > 0 {
		rows, err = tx.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
			WHERE conv_id = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
			q.ConvID, int64(q.After), int64(q.Before), int64(q.Limit)+1)
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
			WHERE conv_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
			q.ConvID, int64(q.After), int64(q.Limit)+1)
	}
	if err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return page, fmt.Errorf("relay: history: %w", err)
		}
		page.Messages = append(page.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	if len(page.Messages) > int(q.Limit) {
		page.More = true
		page.Messages = page.Messages[:q.Limit]
	}
	if q.Before > 0 {
		slices.Reverse(page.Messages)
	}
	return page, nil
}

// MarkRead implements ConvWriter.
func (s *SQLiteStore) MarkRead(ctx context.Context, user, conv string, seq uint64) (proto.Conversation, bool, error) {
	var view proto.Conversation
	var moved bool
	err := s.writeTx(ctx, func(tx *sql.Tx, bump func() uint64) error {
		var last int64
		var readSeq sql.NullInt64
		exists := true
		err := tx.QueryRowContext(ctx, `SELECT c.last_seq, m.read_seq FROM conversations c
			LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = ? WHERE c.id = ?`, user, conv).Scan(&last, &readSeq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			exists = false
		case err != nil:
			return err
		}
		empty, perr := rules.AdmitRead(user, conv, exists, readSeq.Valid)
		if perr != nil {
			return perr
		}
		if empty {
			view = proto.Conversation{ID: conv, Kind: proto.KindP2P}
			return nil
		}
		old := uint64(readSeq.Int64)
		if next := rules.NextReadSeq(old, seq, uint64(last)); next != old {
			moved = true
			if _, err := tx.ExecContext(ctx, `UPDATE members SET read_seq = ?, version = ? WHERE conv_id = ? AND user_id = ?`,
				int64(next), int64(bump()), conv, user); err != nil {
				return err
			}
		}
		view, _, err = s.view(ctx, tx, user, conv)
		return err
	})
	return view, moved, wrapStoreErr("mark read", err)
}

// CreateGroup implements ConvWriter.
func (s *SQLiteStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	var view proto.Conversation
	var created bool
	err := s.writeTx(ctx, func(tx *sql.Tx, bump func() uint64) error {
		var kind, creator string
		err := tx.QueryRowContext(ctx, `SELECT kind, creator FROM conversations WHERE id = ?`, spec.ID).Scan(&kind, &creator)
		switch {
		case err == nil:
			members, err := scanStrings(tx.QueryContext(ctx, `SELECT user_id FROM members WHERE conv_id = ? ORDER BY user_id`, spec.ID))
			if err != nil {
				return err
			}
			if perr := rules.SameGroup(kind, creator, members, spec); perr != nil {
				return perr
			}
		case errors.Is(err, sql.ErrNoRows):
			created = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO conversations(id, kind, name, creator, created_at, last_seq) VALUES (?, ?, ?, ?, ?, 0)`,
				spec.ID, proto.KindGroup, spec.Name, spec.Creator, spec.CreatedAt); err != nil {
				return err
			}
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO members(conv_id, user_id, read_seq, version) VALUES (?, ?, 0, ?)`)
			if err != nil {
				return err
			}
			version := int64(bump())
			for _, u := range spec.Members {
				if _, err := stmt.ExecContext(ctx, spec.ID, u, version); err != nil {
					return err
				}
			}
		default:
			return err
		}
		view, _, err = s.view(ctx, tx, spec.Creator, spec.ID)
		return err
	})
	return view, created, wrapStoreErr("create group", err)
}
