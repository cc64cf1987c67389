//go:build !js

package relay

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/proto"
)

// The stores of schema version 1 numbered changes per member row. These
// tests build such a database with version 1's DDL and the rows its relays
// wrote for one history, open it with this build, and check that nothing
// of it is lost: sync from 0 and from cursors devices held, history and
// dedup.
//
// The history: alice sends 1 to bob (p2p ab); bob answers 2; alice creates
// group g with bob and carol; carol sends g/1; alice reads ab up to 2; alice
// sends g/2; alice sends ab/3; bob reads g up to 2.

var v1AB = proto.P2PID("alice", "bob")

// v1Message is the message the history stored at conv/seq.
func v1Message(conv string, seq uint64) proto.Message {
	sender := map[string][]string{v1AB: {"alice", "bob", "alice"}, "g:g": {"carol", "alice"}}[conv][seq-1]
	return proto.Message{ConvID: conv, Seq: seq, Sender: sender, ClientID: fmt.Sprintf("%s-%d", conv, seq),
		Device: "d", MsgType: proto.MsgText, Text: fmt.Sprintf("text %d", seq), CreatedAt: int64(100 + seq)}
}

// v1Read is the read cursor each member held.
var v1Read = map[[2]string]uint64{
	{v1AB, "alice"}: 3, {v1AB, "bob"}: 2,
	{"g:g", "alice"}: 2, {"g:g", "bob"}: 2, {"g:g", "carol"}: 1,
}

// checkMigrated checks a store opened on the history above. versions holds
// each (conv, user)'s version 1 change version; cursors, per user, cursors
// that devices held before the upgrade.
func checkMigrated(t *testing.T, s Store, versions map[[2]string]uint64, cursors map[string][]uint64) {
	ctx := context.Background()
	want := func(user, conv string) proto.Conversation {
		last := map[string]uint64{v1AB: 3, "g:g": 2}[conv]
		m := v1Message(conv, last)
		c := proto.Conversation{ID: conv, Kind: proto.KindOf(conv), LastSeq: last, ReadSeq: v1Read[[2]string{conv, user}],
			LastMessage: &m, CreatedAt: 100}
		if conv == "g:g" {
			c.Name, c.Members = "G", []string{"alice", "bob", "carol"}
			// Version 3 makes each group's creator its owner.
			c.Role, c.JoinPolicy = proto.RoleMember, proto.JoinInvite
			if user == "alice" {
				c.Role = proto.RoleOwner
			}
		}
		if a, b, isP2P := proto.P2PMembers(conv); isP2P {
			peer := a
			if peer == user {
				peer = b
			}
			c.PeerReadSeq = v1Read[[2]string{conv, peer}]
		}
		return c
	}
	convsOf := map[string][]string{"alice": {v1AB, "g:g"}, "bob": {v1AB, "g:g"}, "carol": {"g:g"}}
	top := uint64(0) // the highest version 1 cursor
	for _, v := range versions {
		top = max(top, v)
	}
	for user, convs := range convsOf {
		// From 0: everything, as it was.
		d := &syncDevice{user: user, convs: make(map[string]proto.Conversation)}
		d.syncAll(t, s, rand.New(rand.NewPCG(1, 1)))
		for _, conv := range convs {
			got := d.convs[conv]
			got.Version = 0
			equal(t, got, want(user, conv), user+"'s "+conv+" from 0")
		}
		equal(t, len(d.convs), len(convs), user+"'s conversations")
		// From a cursor a device held: every change after it, with the
		// newest state, and every group with its member list once more.
		for _, cursor := range cursors[user] {
			page, more, err := s.Sync(ctx, user, cursor, proto.MaxPageLimit)
			ok(t, err)
			got := make(map[string]proto.Conversation)
			for _, c := range page {
				got[c.ID] = c
			}
			for _, conv := range convs {
				c, listed := got[conv]
				changed := versions[[2]string{conv, user}] > cursor
				if changed || conv == "g:g" {
					if !listed {
						t.Fatalf("%s from %d: %s not listed (changed: %v)", user, cursor, conv, changed)
					}
					c.Version = 0
					equal(t, c, want(user, conv), fmt.Sprintf("%s's %s from %d", user, conv, cursor))
				} else if listed {
					t.Fatalf("%s from %d: %s listed, unchanged since", user, cursor, conv)
				}
			}
			_ = more
		}
		// The device's cursor is past every old version now, and a new
		// change is listed after it.
		if d.cursor <= top {
			t.Fatalf("%s: cursor %d after the upgrade is not above the old versions (%d)", user, d.cursor, top)
		}
	}
	// History and dedup.
	for conv, n := range map[string]uint64{v1AB: 3, "g:g": 2} {
		msgs := allMessages(t, s, "bob", conv)
		equal(t, len(msgs), int(n), conv+" history")
		for i, m := range msgs {
			equal(t, m, v1Message(conv, uint64(i+1)), conv+" message")
		}
	}
	retry := v1Message(v1AB, 1)
	res, err := s.Append(ctx, []AppendRequest{{Sender: retry.Sender, Device: "d", CreatedAt: 999,
		Send: proto.Send{ConvID: v1AB, ClientID: retry.ClientID, MsgType: proto.MsgText, Text: "again"}}})
	ok(t, err)
	equal(t, res[0], AppendResult{Message: retry, Duplicate: true}, "a retry of a version 1 message")
	// New messages continue the sequence and reach a device synced after
	// the upgrade.
	d := &syncDevice{user: "carol", convs: make(map[string]proto.Conversation)}
	d.syncAll(t, s, rand.New(rand.NewPCG(1, 1)))
	res, err = s.Append(ctx, []AppendRequest{textReq("bob", "g:g", "after")})
	ok(t, err)
	equal(t, res[0].Message.Seq, uint64(3), "next seq")
	page, _, err := s.Sync(ctx, "carol", d.cursor, 10)
	ok(t, err)
	equal(t, len(page), 1, "changes after the upgrade")
	equal(t, [2]any{page[0].ID, page[0].LastSeq}, [2]any{"g:g", uint64(3)}, "the new message")
	if page[0].Members != nil {
		t.Fatal("the member list again, unchanged")
	}
	view, moved, err := markRead(ctx, s, "carol", "g:g", 3)
	ok(t, err)
	equal(t, [2]any{moved, view.ReadSeq}, [2]any{true, uint64(3)}, "read after the upgrade")
}

// v1Inserts returns the statements that store the history, with each
// member row's version from versions, in a dialect's placeholder style.
func v1Inserts(versions map[[2]string]uint64, ph func(n int) string) (stmts []string, args [][]any) {
	add := func(q string, a ...any) {
		parts := make([]any, len(a))
		for i := range a {
			parts[i] = ph(i + 1)
		}
		stmts, args = append(stmts, fmt.Sprintf(q, parts...)), append(args, a)
	}
	add(`INSERT INTO conversations(id, kind, name, creator, created_at, last_seq) VALUES (%s, %s, %s, %s, %s, %s)`,
		v1AB, proto.KindP2P, []byte(""), "alice", int64(100), int64(3))
	add(`INSERT INTO conversations(id, kind, name, creator, created_at, last_seq) VALUES (%s, %s, %s, %s, %s, %s)`,
		"g:g", proto.KindGroup, []byte("G"), "alice", int64(100), int64(2))
	keys := make([][2]string, 0, len(v1Read))
	for k := range v1Read {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmpPair(a, b) })
	for _, k := range keys {
		add(`INSERT INTO members(conv_id, user_id, read_seq, version) VALUES (%s, %s, %s, %s)`,
			k[0], k[1], int64(v1Read[k]), int64(versions[k]))
	}
	for conv, n := range map[string]uint64{v1AB: 3, "g:g": 2} {
		for seq := uint64(1); seq <= n; seq++ {
			m := v1Message(conv, seq)
			add(`INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, created_at)
				VALUES (%s, %s, %s, %s, %s, %s, %s, %s)`,
				m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device, m.MsgType, []byte(m.Text), m.CreatedAt)
		}
	}
	return stmts, args
}

func cmpPair(a, b [2]string) int {
	if a[0] != b[0] {
		return map[bool]int{true: -1, false: 1}[a[0] < b[0]]
	}
	if a[1] != b[1] {
		return map[bool]int{true: -1, false: 1}[a[1] < b[1]]
	}
	return 0
}

// sqliteV1 is the DDL of schema version 1, as it shipped.
const sqliteV1 = `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
	CREATE TABLE conversations (
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
	) WITHOUT ROWID;`

// TestSQLiteMigrateV1: version 1 numbered every change from the store-wide
// counter, so the history's events are versions 1 to 8.
func TestSQLiteMigrateV1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db"))
	ok(t, err)
	_, err = db.Exec(sqliteV1)
	ok(t, err)
	versions := map[[2]string]uint64{
		{v1AB, "alice"}: 7, {v1AB, "bob"}: 7,
		{"g:g", "alice"}: 6, {"g:g", "bob"}: 8, {"g:g", "carol"}: 6,
	}
	stmts, args := v1Inserts(versions, func(int) string { return "?" })
	stmts = append(stmts, `INSERT INTO counters(name, value) VALUES ('changes', 8)`,
		`INSERT INTO meta(key, value) VALUES ('schema_version', '1'), ('epoch', 'e1')`)
	args = append(args, nil, nil)
	for i, q := range stmts {
		for j, a := range args[i] {
			if b, isBytes := a.([]byte); isBytes {
				args[i][j] = string(b) // version 1 kept text as TEXT
			}
		}
		_, err := db.Exec(q, args[i]...)
		ok(t, err)
	}
	ok(t, db.Close())

	s, err := OpenSQLite(dir, SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	defer s.Close()
	equal(t, s.Epoch(), "e1", "epoch kept")
	checkMigrated(t, s, versions, map[string][]uint64{"alice": {0, 5, 7}, "bob": {2, 4, 7}, "carol": {4, 6}})
	var v string
	ok(t, s.r.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v))
	equal(t, v, strconv.Itoa(schemaVersion), "schema version")
}

// postgresV1 is the DDL of schema version 1, as it shipped.
const postgresV1 = `CREATE TABLE schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	);
	INSERT INTO schema_migrations(version) VALUES (1);
	CREATE TABLE meta (
		key   text COLLATE "C" PRIMARY KEY,
		value text NOT NULL
	);
	CREATE TABLE conversations (
		id         text COLLATE "C" PRIMARY KEY,
		kind       text NOT NULL,
		name       bytea NOT NULL DEFAULT '',
		creator    text COLLATE "C" NOT NULL,
		created_at bigint NOT NULL,
		last_seq   bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE members (
		conv_id  text COLLATE "C" NOT NULL REFERENCES conversations(id),
		user_id  text COLLATE "C" NOT NULL,
		read_seq bigint NOT NULL DEFAULT 0,
		version  bigint NOT NULL,
		PRIMARY KEY (conv_id, user_id)
	);
	CREATE INDEX members_user_version ON members(user_id, version);
	CREATE TABLE messages (
		conv_id    text COLLATE "C" NOT NULL REFERENCES conversations(id),
		seq        bigint NOT NULL,
		sender     text COLLATE "C" NOT NULL,
		client_id  text COLLATE "C" NOT NULL,
		device     text NOT NULL DEFAULT '',
		msg_type   text NOT NULL,
		text       bytea NOT NULL DEFAULT '',
		body       bytea,
		created_at bigint NOT NULL,
		PRIMARY KEY (conv_id, seq),
		CONSTRAINT messages_sender_client UNIQUE (sender, client_id)
	);
	CREATE TABLE user_versions (
		user_id text COLLATE "C" PRIMARY KEY,
		version bigint NOT NULL
	);`

// TestPostgresMigrateV1: version 1 numbered each user's changes from the
// user's own counter, so the same history has other versions per user.
// Relays starting together migrate it once.
func TestPostgresMigrateV1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	admin := pgAdmin(t, dsn)
	_, err := admin.Exec(ctx, postgresV1)
	ok(t, err)
	versions := map[[2]string]uint64{
		{v1AB, "alice"}: 7, {v1AB, "bob"}: 6,
		{"g:g", "alice"}: 6, {"g:g", "bob"}: 7, {"g:g", "carol"}: 3,
	}
	stmts, args := v1Inserts(versions, func(n int) string { return fmt.Sprintf("$%d", n) })
	stmts = append(stmts, `INSERT INTO user_versions(user_id, version) VALUES ('alice', 7), ('bob', 7), ('carol', 3)`,
		`INSERT INTO meta(key, value) VALUES ('epoch', 'e1')`)
	args = append(args, nil, nil)
	for i, q := range stmts {
		_, err := admin.Exec(ctx, q, args[i]...)
		ok(t, err)
	}

	stores := make([]*PostgresStore, 3)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = NewPostgresStore(ctx, dsn, PostgresOptions{MaxConns: 2}) })
	}
	wg.Wait()
	for i, s := range stores {
		ok(t, errs[i])
		t.Cleanup(func() { s.Close() })
		equal(t, s.Epoch(), "e1", "epoch kept")
	}
	checkMigrated(t, stores[1], versions, map[string][]uint64{"alice": {0, 5, 7}, "bob": {2, 4, 6}, "carol": {1, 2}})
	rows, err := admin.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	ok(t, err)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	ok(t, err)
	want := make([]int, len(postgresMigrations))
	for i := range want {
		want[i] = i + 1
	}
	equal(t, applied, want, "applied versions")
}
