//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Store = (*PostgresStore)(nil)

// PostgresStore is the Store for several relays sharing one PostgreSQL
// database. Every relay is a peer: nothing is cached
// between calls, each decision is taken inside the transaction that writes
// it, and the database's locks are the only coordination.
//
// Locks. A write transaction first takes transaction-scoped advisory locks —
// one per conversation it touches and, for Append, one per (sender, client
// id) — in ascending key order, in one statement. Conversation and member
// rows, and message rows of a (sender, client id), are written only under
// those locks. Last, just before it commits, it takes the one row of the
// change counter. Every transaction takes its locks in this one global
// order (advisory keys, then the counter), and once it holds the counter
// it only writes rows its advisory locks already guard, so two relays never
// deadlock, and a relay never waits on a unique index for another's
// uncommitted row. An Append of n sends holds up to 2n advisory locks,
// which live in the server's shared lock table (max_locks_per_transaction
// × max_connections entries): size it for every relay committing a full
// batch (Options.BatchMax) at once.
//
// Sequences. Under a conversation's lock, the transaction reads last_seq as
// committed (a statement started after the lock was granted sees every
// earlier writer's commit), numbers its messages from there and writes
// last_seq back with a guard on the value read. Nothing is cached, so a
// relay restart or another relay writing in between cannot produce a gap or
// a duplicate; the (conv_id, seq) key would refuse a duplicate anyway.
//
// Change positions, and why Sync never skips a change. Positions (see
// syncCand) come from one counter row, incremented by the transaction that
// makes the changes, as its last statement before COMMIT, and locked by it
// until it commits or rolls back. A transaction that needs positions
// therefore waits for the previous holder to end — by then that one's
// commit is visible to every new snapshot — and numbers above what it
// committed. So positions are handed out in commit order: when a position
// p is visible, every lower position is visible too (or was rolled back,
// its numbers never seen), and every change still to commit will get a
// position above p. Sync reads in one statement, so from one snapshot: a
// page that ends at p holds, or shows superseded, every change of the
// user's conversations up to p, and a client storing p as its cursor can
// miss nothing. A SEQUENCE would not do: its numbers are taken at write
// time and may commit out of order, so a cursor could pass a position
// whose transaction had not committed yet.
//
// The price is that the counter serialises the end of every write
// transaction of every relay: from its UPDATE to its COMMIT (the commit's
// WAL flush included) no other writer can finish. A message costs one
// counter update per transaction, not per member, and the group committer
// puts many messages in one transaction; docs/architecture.md gives the
// figures.
type PostgresStore struct {
	pool    *pgxpool.Pool
	epoch   string
	schema  string // current_schema(), mixed into advisory lock keys
	timeout time.Duration
	retries int // connections lost in a row that a call survives
	closed  atomic.Bool
	scanned atomic.Uint64 // messages History read (see messagesRead)
}

// messagesRead returns how many messages History read the contents of, for
// the test that paging costs linear work.
func (s *PostgresStore) messagesRead() uint64 { return s.scanned.Load() }

// PostgresOptions tune NewPostgresStore. The DSN may carry anything pgx
// understands (pool_max_conns, application_name, search_path, sslmode...).
type PostgresOptions struct {
	// MaxConns is the pool size. Defaults to the DSN's pool_max_conns, or
	// pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// Timeout bounds every call, and connecting. A call that runs out of
	// time fails and leaves nothing behind. Defaults to 10 s.
	Timeout time.Duration
}

// postgresMigrations[i] takes a schema from version i to i+1. They are
// applied in order, each recorded in schema_migrations, by the first relay
// that starts on a schema; never edit one that has shipped, add another.
//
// Ids are COLLATE "C": member lists are compared with Go's byte order
// (rules.SameGroup), and an order that changed with the database's locale would
// make an idempotent CreateGroup a conflict. Message text and group names
// are bytea: Postgres text cannot hold NUL, which a message may carry, and
// one such message must not fail the batch it commits in.
var postgresMigrations = []string{
	`CREATE TABLE meta (
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
	);`,

	// Version 2: change positions from one counter instead of a version per
	// member row, from a counter per user (see syncCand and PostgresStore).
	// Old data keeps its meaning: every change a client has not synced yet
	// is a members.pos above its cursor (in the user's old numbering, as
	// before), and the counter starts above every old version, so new
	// positions are above every old cursor. Member lists now travel only
	// when they changed after the cursor; each group gets a fresh position
	// as though its members had just been listed, so every client is sent
	// each of its groups' lists once more. Dropping user_versions and
	// renaming members.version make relays of version 1 fail rather than
	// write or sync with the old rules: stop them before starting this one.
	// Where the next features go: see the same migration of the SQLite
	// store.
	`ALTER TABLE conversations
		ADD COLUMN pos bigint NOT NULL DEFAULT 0,
		ADD COLUMN members_pos bigint NOT NULL DEFAULT 0,
		ADD COLUMN member_count integer NOT NULL DEFAULT 0;
	ALTER TABLE members RENAME COLUMN version TO pos;
	ALTER INDEX members_user_version RENAME TO members_user_pos;
	UPDATE conversations c SET member_count = m.n
		FROM (SELECT conv_id, count(*) AS n FROM members GROUP BY conv_id) m WHERE c.id = m.conv_id;
	CREATE TABLE counters (
		name  text COLLATE "C" PRIMARY KEY,
		value bigint NOT NULL
	);
	INSERT INTO counters(name, value) SELECT 'changes', greatest(
		coalesce((SELECT max(version) FROM user_versions), 0), coalesce((SELECT max(pos) FROM members), 0));
	WITH n AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM conversations WHERE kind = 'group')
	UPDATE conversations c SET pos = t.value + n.k, members_pos = t.value + n.k
		FROM n, counters t WHERE c.id = n.id AND t.name = 'changes';
	UPDATE counters SET value = value + (SELECT count(*) FROM conversations WHERE kind = 'group')
		WHERE name = 'changes';
	DROP TABLE user_versions;
	CREATE INDEX conversations_pos ON conversations(pos);`,

	// Version 3: the per-user feed of contacts, block list, conversation
	// settings and preferences (store_feed_postgres.go).
	`CREATE TABLE user_feed (
		user_id text COLLATE "C" NOT NULL,
		kind    text COLLATE "C" NOT NULL,
		key     text COLLATE "C" NOT NULL,
		data    bytea NOT NULL,
		pos     bigint NOT NULL,
		PRIMARY KEY (user_id, kind, key)
	);
	CREATE INDEX user_feed_pos ON user_feed(user_id, pos);`,

	// Version 4: presence and profiles (store_postgres_presence.go).
	postgresPresenceSchema,

	// Version 5: groups with roles; see the same migration of the SQLite
	// store.
	`ALTER TABLE conversations ADD COLUMN info text NOT NULL DEFAULT '';
	ALTER TABLE members
		ADD COLUMN role text NOT NULL DEFAULT 'member',
		ADD COLUMN joined_at bigint NOT NULL DEFAULT 0,
		ADD COLUMN muted_until bigint NOT NULL DEFAULT 0,
		ADD COLUMN left_seq bigint NOT NULL DEFAULT 0;
	UPDATE members m SET role = 'owner' FROM conversations c
		WHERE c.id = m.conv_id AND c.kind = 'group' AND c.creator = m.user_id;
	UPDATE members m SET joined_at = c.created_at FROM conversations c WHERE c.id = m.conv_id;
	CREATE TABLE group_pending (
		conv_id    text COLLATE "C" NOT NULL REFERENCES conversations(id),
		user_id    text COLLATE "C" NOT NULL,
		kind       text NOT NULL,
		by_user    text COLLATE "C" NOT NULL DEFAULT '',
		note       bytea NOT NULL DEFAULT '',
		created_at bigint NOT NULL,
		PRIMARY KEY (conv_id, user_id)
	);
	CREATE INDEX group_pending_user ON group_pending(user_id);`,

	// Version 6: the message lifecycle (see the same migration of the
	// SQLite store).
	`ALTER TABLE messages ADD COLUMN ext bytea;`,

	// Version 7: the liveness leases of relay nodes (store_postgres_presence.go).
	postgresLeaseSchema,

	// Version 8: history visibility; see the same migration of the
	// SQLite store.
	`ALTER TABLE members ADD COLUMN from_seq bigint NOT NULL DEFAULT 0;
	UPDATE members mb SET from_seq = coalesce((SELECT min(m.seq) FROM messages m
			WHERE m.conv_id = c.id AND m.created_at >= mb.joined_at), c.last_seq + 1)
		FROM conversations c WHERE c.id = mb.conv_id AND c.kind = 'group' AND mb.joined_at > c.created_at;
	CREATE TABLE member_spans (
		conv_id  text COLLATE "C" NOT NULL REFERENCES conversations(id),
		user_id  text COLLATE "C" NOT NULL,
		from_seq bigint NOT NULL,
		to_seq   bigint NOT NULL,
		PRIMARY KEY (conv_id, user_id, from_seq)
	);`,

	// Version 9: a profile marks a user the admin API deleted (store_erase.go).
	`ALTER TABLE profiles ADD COLUMN deleted boolean NOT NULL DEFAULT false;`,

	// Version 10: attachment blobs a recall or delete for everyone is to
	// delete, until the relay has (store_blob_release.go).
	`CREATE TABLE blob_releases (
		token      text COLLATE "C" PRIMARY KEY,
		attachment text COLLATE "C" NOT NULL
	);`,
}

// NewPostgresStore connects to the database dsn names, brings the schema
// of its search_path to this build's version, and returns the store.
// Several relays may start at once on the same schema.
func NewPostgresStore(ctx context.Context, dsn string, o PostgresOptions) (*PostgresStore, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("relay: postgres: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = o.Timeout
	}
	// A relay cut off mid-transaction must not keep its locks until TCP
	// notices: the server ends a transaction left idle this long. Ours
	// never idle longer than a call may last.
	if _, set := cc.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		cc.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt((2 * o.Timeout).Milliseconds(), 10)
	}
	// The store's statements are short; a sync's estimate (a member list per
	// row) passes jit_above_cost, and compiling it took 2.3 s here for a
	// statement that runs in 50 ms.
	if _, set := cc.RuntimeParams["jit"]; !set {
		cc.RuntimeParams["jit"] = "off"
	}
	s := &PostgresStore{timeout: o.Timeout, retries: int(cfg.MaxConns)}
	ctx, cancel := context.WithTimeout(ctx, 3*o.Timeout)
	defer cancel()
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("relay: postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("relay: postgres: %w", err)
	}
	return s, nil
}

// migrate brings the schema to the latest version and loads the epoch. The
// advisory lock makes relays that start together take turns: the first
// migrates, the others find the work done.
func (s *PostgresStore) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errors.New("no schema to create tables in: check search_path and that the schema exists")
		}
		s.schema = *schema
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey("migrate")); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
			return err
		}
		if version > len(postgresMigrations) {
			return fmt.Errorf("schema %s is at version %d, newer than this relay (%d)", s.schema, version, len(postgresMigrations))
		}
		for ; version < len(postgresMigrations); version++ {
			if _, err := tx.Exec(ctx, postgresMigrations[version]); err != nil {
				return fmt.Errorf("migrate %s to version %d: %w", s.schema, version+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES ($1)`, version+1); err != nil {
				return err
			}
		}
		// The epoch is born with the schema: a recreated or reset one gets
		// a new epoch, so clients never trust a cache of other data.
		if _, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING`, randomHex(8)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&s.epoch)
	})
}

// lockKey is the advisory lock key of parts in this store's schema. Every
// relay on a schema must derive keys alike: changing this needs a schema
// version whose migration waits out the relays of the old one.
func (s *PostgresStore) lockKey(parts ...string) int64 {
	h := fnv.New64a()
	io.WriteString(h, s.schema)
	for _, p := range parts {
		h.Write([]byte{0})
		io.WriteString(h, p)
	}
	return int64(h.Sum64())
}

// convKey and clientKey name the two kinds of advisory locks.
func (s *PostgresStore) convKey(conv string) int64 { return s.lockKey("c", conv) }
func (s *PostgresStore) clientKey(sender, clientID string) int64 {
	return s.lockKey("m", sender, clientID)
}

// lockSQL takes the advisory locks of a sorted, deduplicated key list, in
// that order.
const lockSQL = `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i`

// sortedKeys sorts and deduplicates keys for lockSQL.
func sortedKeys(keys []int64) []int64 {
	slices.Sort(keys)
	return slices.Compact(keys)
}

// bumpSQL takes n positions from the change counter; the transaction reads
// the last of them with counterSQL. It must be a transaction's last lock:
// see PostgresStore.
const (
	bumpSQL    = `UPDATE counters SET value = value + $1 WHERE name = 'changes'`
	counterSQL = `(SELECT value FROM counters WHERE name = 'changes')`
)

// Epoch implements Lifecycle.
func (s *PostgresStore) Epoch() string { return s.epoch }

// Ping implements Lifecycle.
func (s *PostgresStore) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.pool.Ping(ctx)
}

// Close implements Lifecycle. It waits for calls in flight.
func (s *PostgresStore) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	s.pool.Close()
	return nil
}

// write runs fn in a transaction bounded by the store's timeout.
func (s *PostgresStore) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.run(ctx, func(ctx context.Context) (bool, error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return false, err
		}
		defer tx.Rollback(context.Background()) // a no-op after Commit
		if err := fn(tx); err != nil {
			return false, err
		}
		return true, tx.Commit(ctx)
	})
}

// queryStrings runs a read of one text column (retried as run retries)
// and returns its values in order; nil when there are none.
func (s *PostgresStore) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	var out []string
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return false, err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return false, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// run runs fn with ctx bounded by the store's timeout. When fn fails
// because its connection was lost, and it had not sent a COMMIT, the server
// has rolled its work back and fn runs again on another connection — up to
// once per pooled connection, so that a pool full of connections a
// restarted server no longer knows does not fail one call for each. A
// COMMIT whose outcome is unknown is never repeated: its error goes to the
// caller, whose client retries and is deduplicated.
func (s *PostgresStore) run(ctx context.Context, fn func(ctx context.Context) (committing bool, err error)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		committing, err := fn(ctx)
		if err == nil || committing || attempt >= s.retries || ctx.Err() != nil || !connLost(err) {
			return err
		}
	}
}

// connLost reports whether err means the connection failed, rather than the
// server refusing a statement.
func connLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: the server is shutting
		// down or terminated this backend.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// viewSQL selects a user's view of conversations as of their latest
// change: the member row, its conversation, the last message and, for
// groups, the member list. Callers add the WHERE clause.
//
// A former member (left_seq > 0) sees the group as of the message that
// ended the membership, with no role and no member list.
const viewSQL = `SELECT c.id, c.kind, c.name, c.created_at,
		CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END,
		CASE WHEN m.left_seq > 0 THEN least(m.read_seq, m.left_seq) ELSE m.read_seq END,
		CASE WHEN m.left_seq > 0 THEN m.pos ELSE greatest(c.pos, m.pos) END,
		CASE WHEN c.kind = '` + proto.KindGroup + `' AND m.left_seq = 0 THEN
			ARRAY(SELECT g.user_id FROM members g WHERE g.conv_id = c.id AND g.left_seq = 0 ORDER BY g.user_id) END,
		l.sender, l.client_id, l.device, l.msg_type, l.text, l.body, l.created_at,
		c.info, CASE WHEN m.left_seq > 0 THEN '' ELSE m.role END, CASE WHEN m.left_seq > 0 THEN 0 ELSE m.muted_until END,
		l.ext, CASE WHEN c.kind = '` + proto.KindP2P + `' THEN
			(SELECT p.read_seq FROM members p WHERE p.conv_id = c.id AND p.user_id <> m.user_id) END
	FROM members m JOIN conversations c ON c.id = m.conv_id
	LEFT JOIN messages l ON l.conv_id = c.id AND l.seq = CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END `

// scanView reads one row of viewSQL.
func scanView(r pgx.Row) (proto.Conversation, error) {
	var (
		id, kind                  string
		name                      []byte
		createdAt                 int64
		lastSeq, readSeq, version int64
		members                   []string
		sender, clientID, device  *string
		msgType                   *string
		text, body, ext           []byte
		msgAt, peerRead           *int64
		info, role                string
		mutedUntil                int64
	)
	if err := r.Scan(&id, &kind, &name, &createdAt, &lastSeq, &readSeq, &version, &members,
		&sender, &clientID, &device, &msgType, &text, &body, &msgAt, &info, &role, &mutedUntil, &ext, &peerRead); err != nil {
		return proto.Conversation{}, err
	}
	last, err := lastMessage(id, lastSeq, sender, clientID, device, msgType, text, body, msgAt, ext)
	if err != nil {
		return proto.Conversation{}, err
	}
	v := convView(id, kind, string(name), createdAt, uint64(lastSeq), uint64(readSeq), uint64(version), members, last)
	groupView(&v, decodeInfo(info), rules.GroupMember{Role: role, MutedUntil: mutedUntil})
	if peerRead != nil {
		v.PeerReadSeq = uint64(*peerRead)
	}
	return v, nil
}

// lastMessage builds a conversation's last message from nullable columns.
func lastMessage(conv string, lastSeq int64, sender, clientID, device, msgType *string, text, body []byte, at *int64, ext []byte) (*proto.Message, error) {
	if lastSeq == 0 {
		return nil, nil
	}
	if sender == nil {
		return nil, fmt.Errorf("last message %d of %s is missing", lastSeq, conv)
	}
	m := &proto.Message{ConvID: conv, Seq: uint64(lastSeq), Sender: *sender, ClientID: *clientID,
		Device: *device, MsgType: *msgType, Text: string(text), Body: body, CreatedAt: *at}
	return m, decodeExtras(ext, m)
}

// syncSQL lists a page of a user's changed conversations in one statement
// ($1 user, $2 cursor, $3 rows: the limit + 1, $4 syncScanBound, $5
// syncMemberBudget, $6 pageByteBudget, $7 messageOverhead). cand finds the candidates as the SQLite store does
// (see syncScanBound): the probe's count is an init plan, so only one of
// the two shapes runs. page orders them by key; costed weighs each row's
// last message by its lengths (read from the value's header, not its
// contents); cut works out, for each row, the member ids, the bytes and the
// bound of the rows before it, so that member lists and message contents
// are read only for the rows syncPager takes.
const syncSQL = `WITH probe AS (
		SELECT count(*) AS n FROM (SELECT 1 FROM conversations WHERE pos > $2 LIMIT $4) p
	), cand AS (
		SELECT id AS conv_id FROM conversations WHERE (SELECT n FROM probe) < $4 AND pos > $2
		UNION
		SELECT conv_id FROM members WHERE (SELECT n FROM probe) < $4 AND user_id = $1 AND pos > $2
		UNION
		SELECT conv_id FROM members WHERE (SELECT n FROM probe) >= $4 AND user_id = $1
	), page AS (
		SELECT c.id, c.kind, c.name, c.created_at,
			CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END AS last_seq,
			CASE WHEN m.left_seq > 0 THEN 0 ELSE c.pos END AS conv_pos,
			CASE WHEN m.left_seq > 0 THEN 0 ELSE c.members_pos END AS members_pos, c.member_count,
			m.read_seq, m.pos AS user_pos,
			CASE WHEN m.left_seq > 0 THEN m.pos ELSE greatest(c.pos, m.pos) END AS latest,
			m.left_seq = 0 AND c.kind = '` + proto.KindGroup + `' AND c.members_pos > $2 AS with_members,
			CASE WHEN m.left_seq > 0 THEN m.pos
				WHEN c.kind = '` + proto.KindGroup + `' AND c.members_pos > $2 THEN c.members_pos
				ELSE greatest(c.pos, m.pos) END AS k,
			c.info, m.role, m.muted_until, m.left_seq
		FROM cand JOIN members m ON m.conv_id = cand.conv_id AND m.user_id = $1
		JOIN conversations c ON c.id = cand.conv_id
		WHERE (m.left_seq = 0 AND c.pos > $2) OR m.pos > $2
		ORDER BY k LIMIT $3
	), costed AS (
		SELECT p.*, CASE WHEN p.last_seq > 0 THEN
			coalesce(octet_length(l.text), 0) + coalesce(octet_length(l.body), 0) + $7 ELSE 0 END AS cost
		FROM page p LEFT JOIN messages l ON l.conv_id = p.id AND l.seq = p.last_seq
	), cut AS (
		SELECT p.*, row_number() OVER (ORDER BY k) AS r,
			coalesce(sum(CASE WHEN with_members THEN member_count ELSE 0 END) OVER before, 0) AS ids,
			coalesce(sum(cost) OVER before, 0) AS bytes,
			min(CASE WHEN latest > k THEN latest END) OVER before AS bound
		FROM costed p
		WINDOW before AS (ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
	)
	SELECT t.id, t.kind, t.name, t.created_at, t.last_seq, t.conv_pos, t.members_pos, t.member_count,
		t.read_seq, t.user_pos, t.k,
		CASE WHEN t.with_members AND t.r < $3 AND (t.r = 1 OR t.ids + t.member_count <= $5)
			AND (t.bound IS NULL OR t.k < t.bound) THEN
			ARRAY(SELECT g.user_id FROM members g WHERE g.conv_id = t.id AND g.left_seq = 0 ORDER BY g.user_id) END,
		t.cost, l.sender, l.client_id, l.device, l.msg_type,
		CASE WHEN t.r = 1 OR t.bytes + t.cost <= $6 THEN l.text END,
		CASE WHEN t.r = 1 OR t.bytes + t.cost <= $6 THEN l.body END, l.created_at,
		t.info, t.role, t.muted_until, t.left_seq, l.ext,
		CASE WHEN t.kind = '` + proto.KindP2P + `' THEN
			(SELECT p.read_seq FROM members p WHERE p.conv_id = t.id AND p.user_id <> $1) END
	FROM cut t LEFT JOIN messages l ON l.conv_id = t.id AND l.seq = t.last_seq
	ORDER BY t.k`

// Sync implements Querier. One statement, so one snapshot: see
// PostgresStore for why its positions never skip a change.
func (s *PostgresStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	var (
		convs []proto.Conversation
		cands []syncCand
	)
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		convs, cands = convs[:0], cands[:0]
		rows, err := s.pool.Query(ctx, syncSQL, user, clampInt64(cursor), limit+1, syncScanBound, syncMemberBudget, pageByteBudget, messageOverhead)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c                                  proto.Conversation
				cand                               syncCand
				name                               []byte
				lastSeq, convPos, membersPos, upos int64
				readSeq, key                       int64
				members                            []string
				sender, clientID, device, msgType  *string
				text, body, ext                    []byte
				msgAt, peerRead                    *int64
				info, role                         string
				mutedUntil, leftSeq                int64
			)
			if err := rows.Scan(&c.ID, &c.Kind, &name, &c.CreatedAt, &lastSeq, &convPos, &membersPos, &cand.memberCount,
				&readSeq, &upos, &key, &members, &cand.cost, &sender, &clientID, &device, &msgType, &text, &body, &msgAt,
				&info, &role, &mutedUntil, &leftSeq, &ext, &peerRead); err != nil {
				return false, err
			}
			if peerRead != nil {
				c.PeerReadSeq = uint64(*peerRead)
			}
			if leftSeq > 0 {
				role, mutedUntil, readSeq = "", 0, min(readSeq, lastSeq)
			}
			groupView(&c, decodeInfo(info), rules.GroupMember{Role: role, MutedUntil: mutedUntil})
			if c.LastMessage, err = lastMessage(c.ID, lastSeq, sender, clientID, device, msgType, text, body, msgAt, ext); err != nil {
				return false, err
			}
			c.Name, c.LastSeq, c.ReadSeq, c.Version, c.Members = string(name), uint64(lastSeq), uint64(readSeq), uint64(key), members
			cand.kind, cand.convPos, cand.membersPos, cand.userPos = c.Kind, uint64(convPos), uint64(membersPos), uint64(upos)
			convs, cands = append(convs, c), append(cands, cand)
		}
		return false, rows.Err()
	})
	if err != nil {
		return nil, false, wrapStoreErr("sync", err)
	}
	p := syncPager{cursor: cursor, limit: limit}
	for i := range cands {
		if !p.add(&cands[i]) {
			break
		}
		if cands[i].withMembers(cursor) && convs[i].Members == nil {
			return nil, false, fmt.Errorf("relay: sync: the member list of %s was not read", convs[i].ID)
		}
	}
	return convs[:p.n], p.more(), nil
}

// historySQL reads, in one snapshot, a conversation's last seq, whether
// user is a member and — only if so — a page of its messages ($1 conv, $2
// user, $3 after, $4 before, $5 rows: the limit + 1, $6 pageByteBudget, $7
// messageOverhead). It yields no row when the conversation does not exist,
// and one row with NULL message columns when the page is empty. p weighs
// the candidates by their lengths (read from each value's header, not its
// contents), w keeps those within the byte budget (the first always), and
// only their contents are read; a row beyond it comes back with fits false.
// %s is the page's direction.
const historySQL = `WITH c AS (
		SELECT coalesce((SELECT nullif(left_seq, 0) FROM members WHERE conv_id = $1 AND user_id = $2), last_seq) AS last_seq,
			EXISTS(SELECT 1 FROM members WHERE conv_id = $1 AND user_id = $2) AS member
		FROM conversations WHERE id = $1
	), p AS (
		SELECT m.seq, octet_length(m.text) + coalesce(octet_length(m.body), 0) + $7 AS cost
		FROM c, messages m
		WHERE c.member AND m.conv_id = $1 AND m.seq > $3 AND m.seq < $4 AND m.seq <= c.last_seq ORDER BY m.seq %[1]s LIMIT $5
	), w AS (
		SELECT seq, (row_number() OVER o) = 1
			OR coalesce(sum(cost) OVER (o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) + cost <= $6 AS fits
		FROM p WINDOW o AS (ORDER BY seq %[1]s)
	)
	SELECT c.last_seq, c.member, w.seq, w.fits, l.sender, l.client_id, l.device, l.msg_type, l.text, l.body, l.created_at, l.ext
	FROM c LEFT JOIN w ON true LEFT JOIN messages l ON w.fits AND l.conv_id = $1 AND l.seq = w.seq
	ORDER BY w.seq`

var (
	historyAfterSQL  = fmt.Sprintf(historySQL, "ASC")
	historyBeforeSQL = fmt.Sprintf(historySQL, "DESC")
)

// Members implements Querier.
func (s *PostgresStore) Members(ctx context.Context, conv string) ([]string, error) {
	out, err := s.queryStrings(ctx, `SELECT user_id FROM members WHERE conv_id = $1 AND left_seq = 0 ORDER BY user_id`, conv)
	if err != nil {
		return nil, fmt.Errorf("relay: members: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// History implements Querier.
func (s *PostgresStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	page := proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}}
	err := s.run(ctx, func(ctx context.Context) (bool, error) {
		page = proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}}
		spans, last, exists, err := s.spans(ctx, q.ConvID, user)
		if err != nil {
			return false, err
		}
		empty, perr := rules.AdmitRead(user, q.ConvID, exists, spans != nil)
		if perr != nil {
			return false, perr
		}
		if empty {
			return false, nil
		}
		page, err = spanPage(q, spans, spans.Last(last), func(from, to uint64, desc bool, n int, take func(proto.Message) bool) (bool, error) {
			return s.historyRange(ctx, q.ConvID, user, from, to, desc, n, take)
		})
		return false, err
	})
	return page, wrapStoreErr("history", err)
}

// historyRange reads the messages of seqs from..to of conv for spanPage
// with historySQL: at most n rows, and the contents of those within the
// byte budget only.
func (s *PostgresStore) historyRange(ctx context.Context, conv, user string, from, to uint64, desc bool, n int, take func(proto.Message) bool) (bool, error) {
	query := historyAfterSQL
	if desc {
		query = historyBeforeSQL
	}
	rows, err := s.pool.Query(ctx, query, conv, user, clampInt64(from-1), clampInt64(to+1), n, pageByteBudget, messageOverhead)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	// Rows come in seq order whatever the direction.
	type row struct {
		m    proto.Message
		fits bool
	}
	var got []row
	for rows.Next() {
		var (
			last                              int64
			isMember                          bool
			seq, at                           *int64
			fits                              *bool
			sender, clientID, device, msgType *string
			text, body, ext                   []byte
		)
		if err := rows.Scan(&last, &isMember, &seq, &fits, &sender, &clientID, &device, &msgType, &text, &body, &at, &ext); err != nil {
			return false, err
		}
		if seq == nil {
			continue
		}
		if !*fits {
			got = append(got, row{}) // beyond the byte budget: its contents were not read
			continue
		}
		s.scanned.Add(1)
		m := proto.Message{ConvID: conv, Seq: uint64(*seq), Sender: *sender,
			ClientID: *clientID, Device: *device, MsgType: *msgType, Text: string(text), Body: body, CreatedAt: *at}
		if err := decodeExtras(ext, &m); err != nil {
			return false, err
		}
		got = append(got, row{m, true})
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if desc {
		slices.Reverse(got)
	}
	for _, r := range got {
		if !r.fits || !take(r.m) {
			return true, nil
		}
	}
	return false, nil
}

// view reads user's view of conv inside tx.
func (s *PostgresStore) view(ctx context.Context, tx pgx.Tx, user, conv string) (proto.Conversation, error) {
	return scanView(tx.QueryRow(ctx, viewSQL+`WHERE m.conv_id = $1 AND m.user_id = $2`, conv, user))
}

// MarkReads implements ConvWriter. The conversations' locks are taken
// first, in key order, in one statement; the moved cursors take their
// positions from one bump of the counter, the transaction's last lock.
func (s *PostgresStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	keys := make([]int64, len(marks))
	for i, mk := range marks {
		keys[i] = s.convKey(mk.Conv)
	}
	keys = sortedKeys(keys)
	type state struct {
		last    int64
		readSeq *int64
		exists  bool
	}
	type cursor struct{ user, conv string }
	out := make([]ReadResult, len(marks))
	err := s.write(ctx, func(tx pgx.Tx) error {
		clear(out)
		states := make([]state, len(marks))
		b := &pgx.Batch{}
		b.Queue(lockSQL, keys)
		for i, mk := range marks {
			st := &states[i]
			st.exists = true
			b.Queue(`SELECT CASE WHEN m.left_seq > 0 THEN m.left_seq ELSE c.last_seq END, m.read_seq FROM conversations c
				LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = $1 WHERE c.id = $2`, mk.User, mk.Conv).
				QueryRow(func(r pgx.Row) error {
					err := r.Scan(&st.last, &st.readSeq)
					if errors.Is(err, pgx.ErrNoRows) {
						st.exists = false
						return nil
					}
					return err
				})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		// The marks apply in order: a cursor the batch moved already
		// moves on from where the batch left it.
		read := make(map[cursor]uint64)
		var moved []cursor // in the order of their last move
		viewed := make([]bool, len(marks))
		for i, mk := range marks {
			st := &states[i]
			empty, perr := rules.AdmitRead(mk.User, mk.Conv, st.exists, st.readSeq != nil)
			if perr != nil {
				out[i].Err = perr
				continue
			}
			if empty {
				out[i].Conv = proto.Conversation{ID: mk.Conv, Kind: proto.KindP2P}
				continue
			}
			viewed[i] = true
			k := cursor{mk.User, mk.Conv}
			old, seen := read[k]
			if !seen {
				old = uint64(*st.readSeq)
			}
			next := rules.NextReadSeq(old, mk.Seq, uint64(st.last))
			read[k] = next
			if next != old {
				out[i].Moved = true
				moved = append(slices.DeleteFunc(moved, func(x cursor) bool { return x == k }), k)
			}
		}
		b = &pgx.Batch{}
		if len(moved) > 0 {
			b.Queue(bumpSQL, len(moved)) // the last lock
			for j, k := range moved {
				// The j-th of the positions taken, in the order of the
				// moves, so a conversation's row ends at its latest.
				back := len(moved) - 1 - j
				b.Queue(`UPDATE members SET read_seq = $1, pos = `+counterSQL+` - $2 WHERE conv_id = $3 AND user_id = $4`,
					int64(read[k]), back, k.conv, k.user)
				// The other member of a p2p conversation sees the cursor
				// (peerReadSeq): the conversation changes for them too.
				b.Queue(`UPDATE conversations SET pos = `+counterSQL+` - $1 WHERE id = $2 AND kind = '`+proto.KindP2P+`'`, back, k.conv)
			}
		}
		for i, mk := range marks {
			if !viewed[i] {
				continue
			}
			b.Queue(viewSQL+`WHERE m.conv_id = $1 AND m.user_id = $2`, mk.Conv, mk.User).QueryRow(func(r pgx.Row) (err error) {
				out[i].Conv, err = scanView(r)
				return err
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, wrapStoreErr("mark read", err)
	}
	return out, nil
}

var _ GroupCounter = (*PostgresStore)(nil)

// GroupsCreated implements GroupCounter.
func (s *PostgresStore) GroupsCreated(ctx context.Context, creator string, since int64) (total, recent int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE created_at >= $2)
		FROM conversations WHERE kind = 'group' AND creator = $1`, creator, since).Scan(&total, &recent)
	return total, recent, err
}

// CreateGroup implements ConvWriter.
func (s *PostgresStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	var view proto.Conversation
	var created bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		var kind, creator string
		var members []string
		exists := true
		b := &pgx.Batch{}
		b.Queue(lockSQL, []int64{s.convKey(spec.ID)})
		b.Queue(`SELECT kind, creator, ARRAY(SELECT user_id FROM members WHERE conv_id = $1 AND left_seq = 0 ORDER BY user_id)
			FROM conversations WHERE id = $1`, spec.ID).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&kind, &creator, &members)
			if errors.Is(err, pgx.ErrNoRows) {
				exists = false
				return nil
			}
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		created = !exists
		if exists {
			if perr := rules.SameGroup(kind, creator, members, spec); perr != nil {
				return perr
			}
			var err error
			view, err = s.view(ctx, tx, spec.Creator, spec.ID)
			return err
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO conversations(id, kind, name, creator, created_at, last_seq, member_count, info)
			VALUES ($1, $2, $3, $4, $5, 0, $6, $7)`,
			spec.ID, proto.KindGroup, []byte(spec.Name), spec.Creator, spec.CreatedAt, len(spec.Members), encodeInfo(spec.Info))
		b.Queue(`INSERT INTO members(conv_id, user_id, read_seq, pos, role, joined_at)
			SELECT $1, u, 0, 0, CASE WHEN u = $3 THEN 'owner' ELSE 'member' END, $4 FROM unnest($2::text[]) AS u`,
			spec.ID, spec.Members, spec.Creator, spec.CreatedAt)
		if spec.Announce { // group_created.go
			m := createdMessage(spec)
			b.Queue(`INSERT INTO messages(conv_id, seq, sender, client_id, device, msg_type, text, body, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, m.ConvID, int64(m.Seq), m.Sender, m.ClientID, m.Device,
				m.MsgType, []byte(m.Text), m.Body, m.CreatedAt)
			b.Queue(`UPDATE conversations SET last_seq = $1 WHERE id = $2`, int64(m.Seq), spec.ID)
			b.Queue(`UPDATE members SET read_seq = $1 WHERE conv_id = $2 AND user_id = $3`, int64(m.Seq), spec.ID, spec.Creator)
		}
		b.Queue(bumpSQL, 1) // the last lock
		b.Queue(`UPDATE conversations SET pos = `+counterSQL+`, members_pos = `+counterSQL+` WHERE id = $1`, spec.ID)
		b.Queue(viewSQL+`WHERE m.conv_id = $1 AND m.user_id = $2`, spec.ID, spec.Creator).QueryRow(func(r pgx.Row) (err error) {
			view, err = scanView(r)
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	return view, created, wrapStoreErr("create group", err)
}
