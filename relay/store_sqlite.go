package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Store = (*SQLiteStore)(nil)

// SQLiteStore is the embedded Store: one SQLite file in WAL mode. SQLite has
// a single writer, so every write goes through one connection (and the group
// committer batches sends into one transaction); reads use a separate pool
// that WAL lets run beside the writer.
//
// The write path is built for the committer's rate. The writer connection
// is held for the store's life, every statement it runs is prepared on it
// once, and transactions are BEGIN IMMEDIATE and COMMIT statements on it
// rather than database/sql transactions, whose queries each start a
// goroutine to watch the transaction's context. Writes run with
// context.Background(), so the driver arms no interrupt watcher either: a
// write is short and the committer never abandons one.
type SQLiteStore struct {
	w, r  *sql.DB
	wc    *sql.Conn // the writer connection, held until Close
	ws    *sqliteStmts
	rs    *sqliteReadStmts
	epoch string

	wmu     sync.Mutex // one write transaction at a time; guards what follows
	counter uint64     // store-wide change counter, mirrored in the counters table
	pos     positions  // how counter moves (SetPartition)
	closed  bool
	// lists caches member lists the writer read or wrote, for the batches
	// to come: a 1,000-member list costs more to read than a batch's
	// messages to write. A list changes only through the writer (today
	// never, once created), so an entry stays true; pending holds what the
	// open transaction read or wrote and joins lists when it commits.
	lists, pending map[string][]string

	// gates caches what decides whether a group member may send; a group
	// change drops its entry.
	gates map[string]*speechGate

	scanned atomic.Uint64 // messages History read (see messagesRead)
	listIDs int
}

// memberCacheIDs bounds the member ids the writer keeps cached (at 10
// bytes each, some 5 MB): past it the cache starts over.
const memberCacheIDs = 1 << 18

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
// takes a database from version i to i+1; never edit one that has shipped.
const schemaVersion = 11

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

	// Version 2: change positions instead of a version per member row (see
	// syncCand). members.version becomes members.pos, now only the user's
	// own state. A message no longer rewrites it: a conversation-level
	// position (conversations.pos) says what every member sees.
	//
	// Old data keeps its meaning: every change a client has not synced yet
	// is a members.pos above its cursor, as before, and new positions
	// continue the same counter, above every old cursor. Member lists now
	// travel only when they changed after the cursor; before, they came
	// with every change, so whether a client has a group's list depends on
	// the user (their old version against the client's cursor) while
	// members_pos is one per group. Each group therefore gets a fresh
	// position, as though its members had just been listed: every client
	// is sent each of its groups' lists once more, then only on changes.
	//
	// Where the next features go, without a new table: a member's role and
	// mute (members columns, changes of members.pos); a member who left
	// keeps the row with the last seq they may read (members.left_seq) so
	// history stays theirs up to the removal, and the change is a
	// members.pos for them and a members_pos for the others; per-user
	// conversation settings are members columns too.
	`ALTER TABLE conversations ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE conversations ADD COLUMN members_pos INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE conversations ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE members RENAME COLUMN version TO pos;
	DROP INDEX members_user_version;
	CREATE INDEX members_user_pos ON members(user_id, pos);
	UPDATE conversations SET member_count = (SELECT count(*) FROM members WHERE conv_id = conversations.id);
	WITH n AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM conversations WHERE kind = 'group'),
		base AS (SELECT value AS v FROM counters WHERE name = 'changes')
	UPDATE conversations SET pos = base.v + n.k, members_pos = base.v + n.k FROM n, base WHERE conversations.id = n.id;
	UPDATE counters SET value = value + (SELECT count(*) FROM conversations WHERE kind = 'group') WHERE name = 'changes';
	CREATE INDEX conversations_pos ON conversations(pos);`,

	// Version 3: the per-user feed of contacts, block list, conversation
	// settings and preferences (store_feed_sqlite.go). data is the
	// entry's CBOR (proto.EncodeEntry); pos comes from the change counter.
	`CREATE TABLE user_feed (
		user_id TEXT NOT NULL,
		kind    TEXT NOT NULL,
		key     TEXT NOT NULL,
		data    BLOB NOT NULL,
		pos     INTEGER NOT NULL,
		PRIMARY KEY (user_id, kind, key)
	) WITHOUT ROWID;
	CREATE INDEX user_feed_pos ON user_feed(user_id, pos);`,

	// Version 4: presence and profiles (store_sqlite_presence.go).
	sqlitePresenceSchema,

	// Version 5: groups with roles. A member row gains its role, when it
	// joined, until when it is muted, and left_seq: 0 for a member, or the
	// seq of the system message that ended the membership (removed, left,
	// dismissed), the last one the user may read. A group gains its
	// information (JSON, see rules.GroupInfo), and pending invitations and
	// join requests get a table. The creator of each existing group is its
	// owner.
	`ALTER TABLE conversations ADD COLUMN info TEXT NOT NULL DEFAULT '';
	ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
	ALTER TABLE members ADD COLUMN joined_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE members ADD COLUMN muted_until INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE members ADD COLUMN left_seq INTEGER NOT NULL DEFAULT 0;
	UPDATE members SET role = 'owner' WHERE EXISTS (SELECT 1 FROM conversations c
		WHERE c.id = members.conv_id AND c.kind = 'group' AND c.creator = members.user_id);
	UPDATE members SET joined_at = (SELECT created_at FROM conversations c WHERE c.id = members.conv_id);
	CREATE TABLE group_pending (
		conv_id    TEXT NOT NULL REFERENCES conversations(id),
		user_id    TEXT NOT NULL,
		kind       TEXT NOT NULL,
		by_user    TEXT NOT NULL DEFAULT '',
		note       TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		PRIMARY KEY (conv_id, user_id)
	) WITHOUT ROWID;
	CREATE INDEX group_pending_user ON group_pending(user_id);`,

	// Version 6: the message lifecycle. A message's reply, mentions,
	// recall, edit time, reactions and (for a lifecycle event) target are
	// one CBOR value, NULL when it has none (see msgExtras).
	`ALTER TABLE messages ADD COLUMN ext BLOB;`,

	// Version 7: the liveness leases of relay nodes (store_sqlite_presence.go).
	sqliteLeaseSchema,

	// Version 8: history visibility (group_spans.go). A member row gains
	// from_seq, the first seq of the latest membership (0: from the
	// group's start), and earlier memberships get a table. Old data: a
	// member who joined after the group was created reads from the first
	// message sent at or after joined_at; a former member's membership
	// ends at left_seq, as before. Earlier memberships of a member added
	// again were not recorded, so they are not readable any more.
	`ALTER TABLE members ADD COLUMN from_seq INTEGER NOT NULL DEFAULT 0;
	UPDATE members SET from_seq = (SELECT coalesce((SELECT min(m.seq) FROM messages m
			WHERE m.conv_id = c.id AND m.created_at >= members.joined_at), c.last_seq + 1)
		FROM conversations c WHERE c.id = members.conv_id)
	WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.id = members.conv_id AND c.kind = 'group'
		AND members.joined_at > c.created_at);
	CREATE TABLE member_spans (
		conv_id  TEXT NOT NULL REFERENCES conversations(id),
		user_id  TEXT NOT NULL,
		from_seq INTEGER NOT NULL,
		to_seq   INTEGER NOT NULL,
		PRIMARY KEY (conv_id, user_id, from_seq)
	) WITHOUT ROWID;`,

	// Version 9: a profile marks a user the admin API deleted (store_erase.go).
	`ALTER TABLE profiles ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;`,

	// Version 10: attachment blobs a recall or delete for everyone is to
	// delete, until the relay has (store_blob_release.go).
	`CREATE TABLE blob_releases (
		token      TEXT PRIMARY KEY,
		attachment TEXT NOT NULL
	) WITHOUT ROWID;`,

	// Version 11: a one-to-one message no longer writes its sender's read
	// cursor (members.read_seq), a page of its own in every commit. The
	// conversation row, written anyway, keeps each member's latest own
	// seq — sent_a for the member whose id comes first in the
	// conversation's id (proto.P2PID), sent_b for the other — and a
	// member's read cursor is the later of the stored one and their own
	// latest message (sqliteReadSeq). Old data has every such cursor
	// stored already; the new columns start at 0 and imply none. A group's
	// stay 0: its messages store their sender's cursor as before.
	`ALTER TABLE conversations ADD COLUMN sent_a INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE conversations ADD COLUMN sent_b INTEGER NOT NULL DEFAULT 0;`,
}

// sqliteReadSeq is the read cursor of member m of conversation c: the one
// stored, or the member's own latest message in a one-to-one conversation
// when that is later (what a user sent, they have read). A p2p id is
// "p:" a ":" b and names hold no colon, so m is a when the id starts with
// "p:" m ":".
const sqliteReadSeq = `max(m.read_seq, CASE WHEN substr(c.id, 1, length(m.user_id) + 3) = 'p:' || m.user_id || ':'
	THEN c.sent_a ELSE c.sent_b END)`

// walCheckpointPages is how many pages the WAL holds before a commit
// copies them into the database file: SQLite's default. A longer WAL
// (10,000 pages) spent less CPU per message in the store benchmark, but in
// the relay benchmark the commit that runs the larger checkpoint holds up
// every ack behind it, and one-to-one traffic near the knee delivered less
// (docs/benchmarks.md, "p2p: the relay's cost per message").
const walCheckpointPages = 1000

// writerCacheKiB is the writer connection's page cache (SQLite's default
// is 2,000 KiB). Every message writes a page of its conversation's
// messages and one of the sender's dedup index, scattered over the file:
// with 2 MB most of them had to be read back with a system call first.
const writerCacheKiB = 64 << 10

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
	// SQLite creates the database with the process's umask (0644, mostly)
	// and its -wal and -shm files with the database's mode: created here
	// first, all three are the relay's alone. An existing file keeps its
	// mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + path + "?" + q.Encode()
	}
	writer := []string{"_pragma", "journal_mode(WAL)", "_pragma", "synchronous(" + syncMode + ")", "_txlock", "immediate",
		"_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages), "_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB)}
	if syncMode == "FULL" {
		// One pwrite per commit instead of two per WAL page
		// (store_sqlite_walvfs.go); it relies on every commit syncing.
		vfs, err := writerVFS()
		if err != nil {
			return nil, err
		}
		if vfs != "" {
			writer = append(writer, "vfs", vfs)
		}
	}
	w, err := sql.Open("sqlite", dsn(writer...))
	if err != nil {
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	// Opened after migrate so the file is already in WAL mode and has its
	// schema: a query_only connection could do neither.
	return openSQLiteDBs(path, w, func() (*sql.DB, error) { return sql.Open("sqlite", dsn("_pragma", "query_only(1)")) }, o.ReadConns)
}

// openSQLiteDBs builds the store on the writer w (migrating it) and the
// read pool that read opens once the schema is in place; name is for
// errors.
func openSQLiteDBs(name string, w *sql.DB, read func() (*sql.DB, error), readConns int) (*SQLiteStore, error) {
	path := name
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &SQLiteStore{w: w, lists: make(map[string][]string), pending: make(map[string][]string), gates: make(map[string]*speechGate)}
	fail := func(err error) (*SQLiteStore, error) {
		if s.wc != nil {
			s.wc.Close()
		}
		w.Close()
		return nil, fmt.Errorf("relay: open store %s: %w", path, err)
	}
	ctx := context.Background()
	var err error
	if s.wc, err = w.Conn(ctx); err != nil {
		return fail(err)
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	if err := s.wc.Raw(func(dc any) (err error) {
		s.ws, err = prepareSQLite(dc)
		return err
	}); err != nil {
		return fail(err)
	}
	r, err := read()
	if err != nil {
		return fail(err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	s.r = r
	if s.rs, err = prepareSQLiteReads(r); err != nil {
		r.Close()
		return fail(err)
	}
	return s, nil
}

// migrate brings the schema to schemaVersion and loads the epoch and counter.
func (s *SQLiteStore) migrate(ctx context.Context) error {
	tx, err := s.wc.BeginTx(ctx, nil)
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

// sqliteStmts are the writer's statements, prepared once on its driver
// connection (see store_sqlite_raw.go).
type sqliteStmts struct {
	begin, commit, rollback, setCounter rawStmt
	// Append
	dedup, conv, members, insConv, insMember, insMsg, setConv, setRead rawStmt
	// MarkReads, CreateGroup
	readState, markRead, group, view, lastMsg rawStmt
	feedGet, feedPut                          rawStmt // store_feed_sqlite.go
	blobAdd, blobDone                         rawStmt // store_blob_release.go
	sqliteGroupStmts
	life sqliteLifeStmts // store_sqlite_lifecycle.go
	all  []rawStmt
}

func prepareSQLite(dc any) (*sqliteStmts, error) {
	st := &sqliteStmts{}
	for _, p := range append([]rawSQL{
		{&st.begin, `BEGIN IMMEDIATE`},
		{&st.commit, `COMMIT`},
		{&st.rollback, `ROLLBACK`},
		{&st.setCounter, `UPDATE counters SET value = ? WHERE name = 'changes'`},
		{&st.dedup, `SELECT m.sender, m.client_id, m.conv_id, m.seq, m.device, m.msg_type, m.text, m.body, m.created_at
			FROM json_each(?) j CROSS JOIN messages m ON m.sender = j.value ->> 0 AND m.client_id = j.value ->> 1`},
		{&st.conv, `SELECT kind, last_seq, sent_a, sent_b FROM conversations WHERE id = ?`},
		{&st.members, sqliteMembers},
		{&st.insConv, `INSERT INTO conversations(id, kind, name, creator, created_at, last_seq, pos, members_pos, member_count)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`},
		{&st.insMember, `INSERT INTO members(conv_id, user_id, read_seq, pos) VALUES (?, ?, 0, 0)`},
		{&st.insMsg, `INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.setConv, `UPDATE conversations SET last_seq = ?, pos = ?, sent_a = ?, sent_b = ? WHERE id = ?`},
		{&st.setRead, `UPDATE members SET read_seq = ? WHERE conv_id = ? AND user_id = ? AND read_seq < ?`},
		{&st.readState, `SELECT CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END, ` + sqliteReadSeq + ` FROM conversations c
			LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = ? WHERE c.id = ?`},
		{&st.markRead, `UPDATE members SET read_seq = ?, pos = ? WHERE conv_id = ? AND user_id = ?`},
		{&st.group, `SELECT kind, creator FROM conversations WHERE id = ?`},
		{&st.view, `SELECT c.kind, c.name, c.created_at, c.last_seq, c.pos, ` + sqliteReadSeq + `, m.pos,
			m.left_seq, m.role, m.muted_until, c.info
			FROM members m JOIN conversations c ON c.id = m.conv_id
			WHERE m.conv_id = ? AND m.user_id = ?`},
		{&st.lastMsg, `SELECT ` + messageCols + ` FROM messages WHERE conv_id = ? AND seq = ?`},
		{&st.feedGet, sqliteFeedGet},
		{&st.feedPut, sqliteFeedPut},
		{&st.blobAdd, `INSERT OR IGNORE INTO blob_releases(token, attachment) VALUES (?, ?)`},
		{&st.blobDone, `DELETE FROM blob_releases WHERE token = ?`},
	}, st.groupStmts()...) {
		stmt, err := prepareRaw(dc, p.sql)
		if err != nil {
			st.close()
			return nil, err
		}
		*p.dst = stmt
		st.all = append(st.all, stmt)
	}
	if err := st.life.prepare(dc, &st.all); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (st *sqliteStmts) close() {
	for _, s := range st.all {
		s.s.Close()
	}
}

// sqliteReadStmts are the statements of Sync on the read pool: database/sql
// prepares each once per connection and keeps it.
type sqliteReadStmts struct {
	syncProbe, syncByChanges, syncByMember, syncMembers, syncLastBodies *sql.Stmt
	// feedEntries is FeedEntries, which the committer runs for every
	// batch of one-to-one sends (the block lists): prepared per call, its
	// parsing cost as much as running it.
	feedEntries *sql.Stmt
}

func prepareSQLiteReads(r *sql.DB) (*sqliteReadStmts, error) {
	rs := &sqliteReadStmts{}
	for _, p := range []struct {
		dst *(*sql.Stmt)
		sql string
	}{
		{&rs.syncProbe, sqliteSyncProbe},
		{&rs.syncByChanges, sqliteSyncByChanges},
		{&rs.syncByMember, sqliteSyncByMember},
		{&rs.syncMembers, sqliteSyncMembers},
		{&rs.syncLastBodies, sqliteSyncLastBodies},
		{&rs.feedEntries, sqliteFeedEntries},
	} {
		var err error
		if *p.dst, err = r.Prepare(p.sql); err != nil {
			return nil, err
		}
	}
	return rs, nil
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
	s.wc.Raw(func(any) error { s.ws.close(); return nil })
	return errors.Join(s.r.Close(), s.wc.Close(), s.w.Close())
}

// queryer is what both *sql.Tx and *sql.DB offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx runs fn in a write transaction on the writer connection. fn gets
// the next free change position through bump; the counter is persisted
// with the transaction and adopted only if it commits. ctx is checked
// before the transaction starts, not during it.
func (s *SQLiteStore) writeTx(ctx context.Context, fn func(bump func() uint64) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeTxAbove(ctx, 0, fn)
}

// writeTxAbove is writeTx, with the writer held, for a transaction whose
// positions are above floor (Advance).
func (s *SQLiteStore) writeTxAbove(ctx context.Context, floor uint64, fn func(bump func() uint64) error) error {
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	counter := max(s.counter, floor)
	clear(s.pending)
	err := s.wc.Raw(func(dc any) error {
		st := s.ws
		if r, isRunner := dc.(txRunner); isRunner {
			return r.RunTx(func() error {
				err := fn(func() uint64 { counter = s.pos.next(counter); return counter })
				if err == nil && counter != s.counter {
					err = st.setCounter.exec(int64(counter))
				}
				return err
			})
		}
		if err := st.begin.exec(); err != nil {
			return err
		}
		err := fn(func() uint64 { counter = s.pos.next(counter); return counter })
		if err == nil && counter != s.counter {
			err = st.setCounter.exec(int64(counter))
		}
		if err == nil {
			err = st.commit.exec()
		}
		if err != nil {
			// After a failed COMMIT SQLite may have rolled back already;
			// the error of a ROLLBACK with no transaction is of no
			// interest.
			st.rollback.exec()
		}
		return err
	})
	if err != nil {
		return err
	}
	s.counter = counter
	for conv, list := range s.pending {
		if s.listIDs+len(list) > memberCacheIDs {
			clear(s.lists)
			s.listIDs = 0
		}
		if old, had := s.lists[conv]; !had || !slices.Equal(old, list) {
			s.lists[conv] = list // a group's list changes only through the writer
			s.listIDs += len(list)
		}
	}
	return nil
}

// sqliteConv is a conversation an Append batch writes to.
type sqliteConv struct {
	kind    string
	read    uint64      // last_seq as read
	last    uint64      // last_seq after this batch's messages so far
	members []string    // sorted
	at      int         // index in the batch of its last message
	gate    *speechGate // groups only
	// sent is the latest own seq of each member of a one-to-one
	// conversation, in the order of its id: their read cursors, implied
	// (sqliteReadSeq). A group's stays zero.
	sent [2]uint64
}

// noteSent records that sender sent seq in c, when c is a one-to-one
// conversation whose row then carries the sender's read cursor; false
// when the cursor is to be stored in the sender's member row.
func (c *sqliteConv) noteSent(conv, sender string, seq uint64) bool {
	if c.kind != proto.KindP2P {
		return false
	}
	a, b, ok := proto.P2PMembers(conv)
	switch {
	case !ok:
		return false
	case sender == a:
		c.sent[0] = seq
	case sender == b:
		c.sent[1] = seq
	default:
		return false
	}
	return true
}

// Append implements Appender.
func (s *SQLiteStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	var out []AppendResult
	err := s.writeTx(ctx, func(bump func() uint64) error {
		var err error
		out, err = s.appendBatch(batch, bump)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: append: %w", err)
	}
	return out, nil
}

// appendBatch stores batch item by item. What is already stored is read
// in one statement, and a conversation once per batch; its row, and each
// sender's read cursor, are written once at the end, the conversations in
// the order of their last message.
func (s *SQLiteStore) appendBatch(batch []AppendRequest, bump func() uint64) ([]AppendResult, error) {
	st := s.ws
	stored, err := s.stored(batch)
	if err != nil {
		return nil, err
	}
	out := make([]AppendResult, len(batch))
	convs := make(map[string]*sqliteConv) // nil: no such conversation
	reads := make(map[change]uint64)      // sender's read cursor, per conversation
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
		c, seen := convs[send.ConvID]
		if !seen {
			if c, err = s.loadConv(send.ConvID); err != nil {
				return nil, err
			}
			convs[send.ConvID] = c
		}
		isMember := false
		if c != nil {
			_, isMember = slices.BinarySearch(c.members, req.Sender)
		}
		create, perr := rules.AdmitSend(req.Sender, send.ConvID, c != nil, isMember)
		if perr == nil && c != nil && c.gate != nil {
			perr = c.gate.admit(req.Sender, req.CreatedAt)
		}
		if perr == nil {
			perr, err = s.admitLifecycle(c, req)
			if err != nil {
				return nil, err
			}
		}
		if perr != nil {
			out[i] = AppendResult{Err: perr}
			continue
		}
		if create != nil {
			if err := st.insConv.exec(send.ConvID, proto.KindP2P, "", req.Sender, req.CreatedAt, 0, 0, len(create)); err != nil {
				return nil, err
			}
			for _, u := range create {
				if err := st.insMember.exec(send.ConvID, u); err != nil {
					return nil, err
				}
			}
			c = &sqliteConv{kind: proto.KindP2P, members: s.remember(send.ConvID, create)}
			convs[send.ConvID] = c
		}
		c.last++
		c.at = i
		m := proto.Message{
			ConvID: send.ConvID, Seq: c.last, Sender: req.Sender, ClientID: send.ClientID,
			MsgType: send.MsgType, Text: send.Text, Body: send.Body, CreatedAt: req.CreatedAt, Device: req.Device,
			ReplyTo: send.ReplyTo, Mentions: send.Mentions, Target: req.Target,
		}
		var body any // NULL, not an empty blob, when there is none
		if len(m.Body) > 0 {
			body = m.Body
		}
		if err := st.insMsg.exec(m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
			m.MsgType, m.Text, body, m.CreatedAt); err != nil {
			return nil, err
		}
		released, err := s.applyLifecycle(c, &m, req.Release)
		if err != nil {
			return nil, err
		}
		// What a user sent, they have read: own messages never count as
		// unread, on any of the sender's devices. The conversation's new
		// position covers this change of the sender's state too. In a
		// one-to-one conversation the conversation row carries it.
		if !c.noteSent(m.ConvID, req.Sender, m.Seq) {
			reads[change{req.Sender, m.ConvID}] = m.Seq
		}
		stored[key] = m
		out[i] = AppendResult{Message: m, Members: c.members, Released: released}
	}
	changed := make([]string, 0, len(convs))
	for id, c := range convs {
		if c != nil && c.last != c.read {
			changed = append(changed, id)
		}
	}
	slices.SortFunc(changed, func(a, b string) int { return convs[a].at - convs[b].at })
	for _, id := range changed {
		c := convs[id]
		if err := st.setConv.exec(int64(c.last), int64(bump()), int64(c.sent[0]), int64(c.sent[1]), id); err != nil {
			return nil, err
		}
	}
	for k, seq := range reads {
		if err := st.setRead.exec(int64(seq), k.conv, k.user, int64(seq)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stored reads the messages already stored under the (sender, client id)
// pairs of batch.
func (s *SQLiteStore) stored(batch []AppendRequest) (map[senderClient]proto.Message, error) {
	keys := make([][2]string, len(batch))
	for i := range batch {
		keys[i] = [2]string{batch[i].Sender, batch[i].Send.ClientID}
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	stored := make(map[senderClient]proto.Message)
	var m proto.Message
	var seq int64
	err = s.ws.dedup.each([]any{string(list)},
		[]any{&m.Sender, &m.ClientID, &m.ConvID, &seq, &m.Device, &m.MsgType, &m.Text, &m.Body, &m.CreatedAt},
		func() error {
			m.Seq = uint64(seq)
			stored[senderClient{m.Sender, m.ClientID}] = m
			return nil
		})
	return stored, err
}

// loadConv reads conv and its members on the writer; nil when there is no
// such conversation.
func (s *SQLiteStore) loadConv(conv string) (*sqliteConv, error) {
	c := &sqliteConv{}
	var last, sentA, sentB int64
	switch err := s.ws.conv.queryRow(conv).Scan(&c.kind, &last, &sentA, &sentB); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	c.read, c.last = uint64(last), uint64(last)
	c.sent = [2]uint64{uint64(sentA), uint64(sentB)}
	var err error
	if c.members, err = s.members(conv); err != nil {
		return nil, err
	}
	if c.kind == proto.KindGroup {
		c.gate, err = s.gate(conv)
	}
	return c, err
}

// view reads user's view of conv on the writer, inside its transaction:
// the state as of its latest change for user, with the member list of a
// group (pushes carry it whole).
func (s *SQLiteStore) view(user, conv string) (proto.Conversation, error) {
	var (
		kind, name, role, info             string
		createdAt, leftSeq, mutedUntil     int64
		lastSeq, convPos, readSeq, userPos int64
	)
	if err := s.ws.view.queryRow(conv, user).Scan(&kind, &name, &createdAt, &lastSeq, &convPos, &readSeq, &userPos,
		&leftSeq, &role, &mutedUntil, &info); err != nil {
		return proto.Conversation{}, err
	}
	if leftSeq > 0 {
		// A former member sees the group as of the end of the membership.
		lastSeq, convPos, role, mutedUntil, readSeq = leftSeq, 0, "", 0, min(readSeq, leftSeq)
	}
	var last *proto.Message
	if lastSeq > 0 {
		m, err := scanMessage(s.ws.lastMsg.queryRow(conv, lastSeq))
		if err != nil {
			return proto.Conversation{}, fmt.Errorf("last message of %s: %w", conv, err)
		}
		last = &m
	}
	var members []string
	if kind == proto.KindGroup && leftSeq == 0 {
		var err error
		if members, err = s.members(conv); err != nil {
			return proto.Conversation{}, err
		}
	}
	v := convView(conv, kind, name, createdAt, uint64(lastSeq), uint64(readSeq),
		max(uint64(convPos), uint64(userPos)), members, last)
	groupView(&v, decodeInfo(info), rules.GroupMember{Role: role, MutedUntil: mutedUntil})
	if kind == proto.KindP2P {
		var peer int64
		err := s.ws.life.peerRead.queryRow(conv, user).Scan(&peer)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return proto.Conversation{}, err
		}
		v.PeerReadSeq = uint64(peer)
	}
	return v, nil
}

const messageCols = `conv_id, seq, sender, client_id, device, msg_type, text, body, created_at, ext`

type scanner interface{ Scan(dest ...any) error }

func scanMessage(r scanner) (proto.Message, error) {
	var m proto.Message
	var seq int64
	var ext []byte
	err := r.Scan(&m.ConvID, &seq, &m.Sender, &m.ClientID, &m.Device, &m.MsgType, &m.Text, &m.Body, &m.CreatedAt, &ext)
	m.Seq = uint64(seq)
	if err == nil {
		err = decodeExtras(ext, &m)
	}
	return m, err
}

// The two shapes of the Sync query (?1 cursor, ?2 user, ?3 rows); both
// list the candidates with their positions and last message, in key order.
const (
	// A former member's row (left_seq > 0) is listed at its own position
	// only, with the group as of the end of the membership.
	sqliteSyncCols = `c.id, c.kind, c.name, c.created_at,
		CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END AS last_seq,
		CASE WHEN m.left_seq > 0 THEN 0 ELSE c.pos END AS conv_pos,
		CASE WHEN m.left_seq > 0 THEN 0 ELSE c.members_pos END AS members_pos,
		c.member_count, ` + sqliteReadSeq + ` AS read_seq, m.pos AS user_pos,
		CASE WHEN m.left_seq > 0 THEN m.pos
			WHEN c.kind = '` + proto.KindGroup + `' AND c.members_pos > ?1 THEN c.members_pos ELSE max(c.pos, m.pos) END AS k,
		c.info, m.role, m.muted_until, m.left_seq`
	// The page reads its last messages' sizes, not their contents (SQLite
	// takes a length from the record header): the contents of the ones the
	// byte budget keeps are read by sqliteSyncLastBodies.
	sqliteSyncLast = `SELECT p.*, l.sender, l.client_id, l.device, l.msg_type, octet_length(l.text), length(l.body), l.created_at
		FROM page p LEFT JOIN messages l ON l.conv_id = p.id AND l.seq = p.last_seq ORDER BY p.k`
	// sqliteSyncLastBodies reads the text and body of the messages named
	// by a JSON array of [conv_id, seq] pairs.
	sqliteSyncLastBodies = `SELECT m.conv_id, m.text, m.body, m.ext FROM json_each(?) j
		JOIN messages m ON m.conv_id = j.value ->> 0 AND m.seq = j.value ->> 1`
	// CROSS JOIN keeps SQLite from walking all of the user's memberships
	// against the candidates; INDEXED BY from scanning conversations in id
	// order to merge the UNION.
	sqliteSyncByChanges = `WITH cand(id) AS (
			SELECT id FROM conversations INDEXED BY conversations_pos WHERE pos > ?1
			UNION SELECT conv_id FROM members WHERE user_id = ?2 AND pos > ?1
		), page AS (
			SELECT ` + sqliteSyncCols + ` FROM cand
			CROSS JOIN members m ON m.conv_id = cand.id AND m.user_id = ?2
			CROSS JOIN conversations c ON c.id = cand.id
			WHERE m.left_seq = 0 OR m.pos > ?1
			ORDER BY k LIMIT ?3
		) ` + sqliteSyncLast
	sqliteSyncByMember = `WITH page AS (
			SELECT ` + sqliteSyncCols + ` FROM members m JOIN conversations c ON c.id = m.conv_id
			WHERE m.user_id = ?2 AND ((m.left_seq = 0 AND c.pos > ?1) OR m.pos > ?1)
			ORDER BY k LIMIT ?3
		) ` + sqliteSyncLast
	sqliteSyncProbe   = `SELECT count(*) FROM (SELECT 1 FROM conversations WHERE pos > ? LIMIT ?)`
	sqliteSyncMembers = `SELECT conv_id, group_concat(user_id, char(31)) FROM members
		WHERE conv_id IN (SELECT value FROM json_each(?)) AND left_seq = 0 GROUP BY conv_id`
)

// sqliteMembers reads a conversation's member list as one value: a row per
// member costs the driver more than the list. Sorting is left to
// splitMembers: an ORDER BY inside group_concat makes SQLite sort the
// list in a temporary b-tree even when the primary key already yields it in
// order.
const sqliteMembers = `SELECT group_concat(user_id, char(31)) FROM members WHERE conv_id = ? AND left_seq = 0`

// splitMembers splits and sorts a list of sqliteMembers. Ids never hold
// the unit separator (proto.ValidName).
func splitMembers(list sql.NullString) []string {
	if !list.Valid {
		return nil
	}
	ids := strings.Split(list.String, "\x1f")
	if !slices.IsSorted(ids) {
		slices.Sort(ids)
	}
	return ids
}

// members returns conv's sorted member list, cached or read on the writer.
func (s *SQLiteStore) members(conv string) ([]string, error) {
	if list, ok := s.lists[conv]; ok {
		return list, nil
	}
	var list sql.NullString
	if err := s.ws.members.queryRow(conv).Scan(&list); err != nil {
		return nil, err
	}
	return s.remember(conv, splitMembers(list)), nil
}

// remember notes conv's member list for the cache, once the transaction
// commits.
func (s *SQLiteStore) remember(conv string, list []string) []string {
	if list != nil {
		s.pending[conv] = list
	}
	return list
}

// Sync implements Querier. It reads in one read transaction, so from one
// snapshot: three statements whatever the page holds.
func (s *SQLiteStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	convs, more, err := s.sync(ctx, user, cursor, limit)
	if err == nil {
		err = s.fillPeerReads(ctx, user, convs)
	}
	if err != nil {
		return nil, false, fmt.Errorf("relay: sync: %w", err)
	}
	return convs, more, nil
}

func (s *SQLiteStore) sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	rs := s.rs
	var changed int
	if err := tx.StmtContext(ctx, rs.syncProbe).QueryRowContext(ctx, clampInt64(cursor), syncScanBound).Scan(&changed); err != nil {
		return nil, false, err
	}
	query := rs.syncByMember
	if changed < syncScanBound {
		query = rs.syncByChanges
	}
	rows, err := tx.StmtContext(ctx, query).QueryContext(ctx, clampInt64(cursor), user, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var (
		convs []proto.Conversation
		ids   []string // the groups whose member list the page carries
		last  [][2]any // [conv id, seq] of the last messages the page carries
		p     = syncPager{cursor: cursor, limit: limit}
	)
	for rows.Next() {
		var (
			c                                 proto.Conversation
			cand                              syncCand
			convPos, membersPos, userPos, key int64
			lastSeq, readSeq                  int64
			info, role                        string
			mutedUntil, leftSeq               int64
			sender, clientID, device, msgType sql.NullString
			textLen, bodyLen                  sql.NullInt64
			at                                sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.Kind, &c.Name, &c.CreatedAt, &lastSeq, &convPos, &membersPos, &cand.memberCount,
			&readSeq, &userPos, &key, &info, &role, &mutedUntil, &leftSeq,
			&sender, &clientID, &device, &msgType, &textLen, &bodyLen, &at); err != nil {
			return nil, false, err
		}
		cand.kind, cand.convPos, cand.membersPos, cand.userPos = c.Kind, uint64(convPos), uint64(membersPos), uint64(userPos)
		if lastSeq > 0 {
			cand.cost = messageCost(int(textLen.Int64), int(bodyLen.Int64))
		}
		if !p.add(&cand) {
			break
		}
		c.LastSeq, c.ReadSeq, c.Version = uint64(lastSeq), uint64(min(readSeq, lastSeq)), uint64(key)
		if leftSeq > 0 {
			role, mutedUntil = "", 0 // no longer a member
		}
		groupView(&c, decodeInfo(info), rules.GroupMember{Role: role, MutedUntil: mutedUntil})
		if lastSeq > 0 {
			if !sender.Valid {
				return nil, false, fmt.Errorf("last message %d of %s is missing", lastSeq, c.ID)
			}
			c.LastMessage = &proto.Message{ConvID: c.ID, Seq: c.LastSeq, Sender: sender.String, ClientID: clientID.String,
				Device: device.String, MsgType: msgType.String, CreatedAt: at.Int64}
			last = append(last, [2]any{c.ID, lastSeq})
		}
		if cand.withMembers(cursor) {
			ids = append(ids, c.ID)
			c.Members = []string{} // filled below
		}
		convs = append(convs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	rows.Close()
	at := make(map[string]int, len(convs))
	for i, c := range convs {
		at[c.ID] = i
	}
	if len(last) > 0 {
		// The contents of the last messages the page carries, in one
		// statement.
		if err := s.syncLastBodies(ctx, tx, last, convs, at); err != nil {
			return nil, false, err
		}
	}
	if len(ids) == 0 {
		return convs, p.more(), nil
	}
	// The member lists the page carries, in one statement.
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, false, err
	}
	mrows, err := tx.StmtContext(ctx, rs.syncMembers).QueryContext(ctx, string(list))
	if err != nil {
		return nil, false, err
	}
	defer mrows.Close()
	for mrows.Next() {
		var conv string
		var list sql.NullString
		if err := mrows.Scan(&conv, &list); err != nil {
			return nil, false, err
		}
		convs[at[conv]].Members = splitMembers(list)
	}
	return convs, p.more(), mrows.Err()
}

// syncLastBodies fills in the text and body of the last messages of convs
// that last names, at[id] being the index of conversation id in convs.
func (s *SQLiteStore) syncLastBodies(ctx context.Context, tx *sql.Tx, last [][2]any, convs []proto.Conversation, at map[string]int) error {
	list, err := json.Marshal(last)
	if err != nil {
		return err
	}
	rows, err := tx.StmtContext(ctx, s.rs.syncLastBodies).QueryContext(ctx, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var conv, text string
		var body, ext []byte
		if err := rows.Scan(&conv, &text, &body, &ext); err != nil {
			return err
		}
		m := convs[at[conv]].LastMessage
		m.Text, m.Body = text, body
		if err := decodeExtras(ext, m); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != len(last) {
		return fmt.Errorf("read %d of the page's %d last messages", n, len(last))
	}
	return nil
}

// messagesRead returns how many messages History read, for the test that
// paging costs linear work.
func (s *SQLiteStore) messagesRead() uint64 { return s.scanned.Load() }

// Members implements Querier, on the readers.
func (s *SQLiteStore) Members(ctx context.Context, conv string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT user_id FROM members WHERE conv_id = ? AND left_seq = 0 ORDER BY user_id`, conv)
	if err != nil {
		return nil, fmt.Errorf("relay: members: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("relay: members: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: members: %w", err)
	}
	return out, nil
}

// History implements Querier.
func (s *SQLiteStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	page := proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	defer tx.Rollback()
	spans, last, exists, err := sqliteSpans(ctx, tx, q.ConvID, user)
	if err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	empty, perr := rules.AdmitRead(user, q.ConvID, exists, spans != nil)
	if perr != nil {
		return page, perr
	}
	if empty {
		return page, nil
	}
	// Rows come in the order the page is taken (newest first going
	// backwards) and stop at the limit or the byte budget: what is not
	// taken is not read.
	page, err = spanPage(q, spans, spans.Last(last), func(from, to uint64, desc bool, n int, take func(proto.Message) bool) (bool, error) {
		order := "ASC"
		if desc {
			order = "DESC"
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
			WHERE conv_id = ? AND seq >= ? AND seq <= ? ORDER BY seq `+order+` LIMIT ?`,
			q.ConvID, clampInt64(from), clampInt64(to), n)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return false, err
			}
			s.scanned.Add(1)
			if !take(m) {
				break
			}
		}
		return false, rows.Err()
	})
	if err != nil {
		return page, fmt.Errorf("relay: history: %w", err)
	}
	return page, nil
}

// MarkReads implements ConvWriter.
func (s *SQLiteStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	out := make([]ReadResult, len(marks))
	err := s.writeTx(ctx, func(bump func() uint64) error {
		clear(out)
		for i, mk := range marks {
			if err := s.markRead(mk, &out[i], bump); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapStoreErr("mark read", err)
	}
	return out, nil
}

// markRead applies one mark in the writer's transaction.
func (s *SQLiteStore) markRead(mk ReadMark, res *ReadResult, bump func() uint64) error {
	st := s.ws
	var last int64
	var readSeq sql.NullInt64
	exists := true
	err := st.readState.queryRow(mk.User, mk.Conv).Scan(&last, &readSeq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		exists = false
	case err != nil:
		return err
	}
	empty, perr := rules.AdmitRead(mk.User, mk.Conv, exists, readSeq.Valid)
	if perr != nil {
		res.Err = perr
		return nil
	}
	if empty {
		res.Conv = proto.Conversation{ID: mk.Conv, Kind: proto.KindP2P}
		return nil
	}
	old := uint64(readSeq.Int64)
	if next := rules.NextReadSeq(old, mk.Seq, uint64(last)); next != old {
		res.Moved = true
		pos := int64(bump())
		if err := st.markRead.exec(int64(next), pos, mk.Conv, mk.User); err != nil {
			return err
		}
		if err := s.peerReadMoved(mk.Conv, pos); err != nil {
			return err
		}
	}
	res.Conv, err = s.view(mk.User, mk.Conv)
	return err
}

var _ GroupCounter = (*SQLiteStore)(nil)

// GroupsCreated implements GroupCounter.
func (s *SQLiteStore) GroupsCreated(ctx context.Context, creator string, since int64) (total, recent int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE created_at >= ?)
		FROM conversations WHERE kind = 'group' AND creator = ?`, since, creator).Scan(&total, &recent)
	return total, recent, wrapStoreErr("count groups", err)
}

// CreateGroup implements ConvWriter.
func (s *SQLiteStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	var view proto.Conversation
	var created bool
	err := s.writeTx(ctx, func(bump func() uint64) error {
		st := s.ws
		var kind, creator string
		err := st.group.queryRow(spec.ID).Scan(&kind, &creator)
		switch {
		case err == nil:
			members, err := s.members(spec.ID)
			if err != nil {
				return err
			}
			if perr := rules.SameGroup(kind, creator, members, spec); perr != nil {
				return perr
			}
		case errors.Is(err, sql.ErrNoRows):
			created = true
			pos := int64(bump())
			if err := st.insConv.exec(spec.ID, proto.KindGroup, spec.Name, spec.Creator, spec.CreatedAt,
				pos, pos, len(spec.Members)); err != nil {
				return err
			}
			for _, u := range spec.Members {
				if err := st.insMember.exec(spec.ID, u); err != nil {
					return err
				}
			}
			if err := s.groupCreated(spec); err != nil {
				return err
			}
			if spec.Announce { // group_created.go
				m := createdMessage(spec)
				if err := st.insMsg.exec(m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
					m.MsgType, m.Text, m.Body, m.CreatedAt); err != nil {
					return err
				}
				if err := st.setConv.exec(int64(m.Seq), pos, 0, 0, spec.ID); err != nil {
					return err
				}
				if err := st.setRead.exec(int64(m.Seq), spec.ID, spec.Creator, int64(m.Seq)); err != nil {
					return err
				}
			}
			s.remember(spec.ID, slices.Clone(spec.Members))
		default:
			return err
		}
		view, err = s.view(spec.Creator, spec.ID)
		return err
	})
	return view, created, wrapStoreErr("create group", err)
}
