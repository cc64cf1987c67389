//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
)

// postgresDSN returns a DSN for a fresh, empty schema of the test database,
// dropped when t ends, so tests running in parallel never meet. When the
// database cannot be reached the test is skipped, loudly, unless
// PARLEY_REQUIRE_SERVICES=1 makes that a failure.
func postgresDSN(t testing.TB) string {
	t.Helper()
	return testsvc.FreshSchema(t, testsvc.PostgresURL(t))
}

// dsnWith returns dsn with runtime parameters set, in either DSN form.
func dsnWith(dsn string, kv ...string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for i := 0; i+1 < len(kv); i += 2 {
		dsn += " " + kv[i] + "=" + kv[i+1] // later keys win
	}
	return dsn
}

// dsnVia returns dsn pointed at addr instead of its host and port.
func dsnVia(dsn, addr string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = addr
		return u.String()
	}
	host, port, _ := net.SplitHostPort(addr)
	return dsnWith(dsn, "host", host, "port", port)
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxx")
		}
		return u.String()
	}
	return dsn
}

// openPostgres opens a store on dsn, closed when t ends.
func openPostgres(t testing.TB, dsn string, o PostgresOptions) *PostgresStore {
	t.Helper()
	s, err := NewPostgresStore(context.Background(), dsn, o)
	ok(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// pgAdmin is a plain connection to the test database for a test's own
// queries, closed when t ends.
func pgAdmin(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	ok(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// allMessages reads every message of conv, page by page.
func allMessages(t testing.TB, s Store, user, conv string) []proto.Message {
	t.Helper()
	var out []proto.Message
	after := uint64(0)
	for {
		p, err := s.History(context.Background(), user, proto.History{ConvID: conv, After: after, Limit: 100})
		ok(t, err)
		out = append(out, p.Messages...)
		if !p.More {
			return out
		}
		after = p.Messages[len(p.Messages)-1].Seq
	}
}

// TestPostgresRelaysSyncWithoutGaps is the scale-out invariant: several
// relays (stores) on one schema append concurrently to shared
// conversations — with racing duplicates across relays and read cursors
// moving — while readers sync every user with advancing cursors through
// random relays. In the end every reader's state equals the truth (no
// change was skipped by a cursor), every acknowledged message is stored
// once, and every conversation's seqs are 1..n.
func TestPostgresRelaysSyncWithoutGaps(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PARLEY_TEST_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (PARLEY_TEST_SEED=%d reruns it)", seed, seed)
		}
	})
	ctx := context.Background()
	dsn := postgresDSN(t)

	const (
		nRelays  = 3
		nUsers   = 24
		nWriters = 2 // per relay
		nBatches = 40
		pageSize = 3
	)
	// The relays start together, as they would behind a load balancer.
	stores := make([]*PostgresStore, nRelays)
	var wg sync.WaitGroup
	errs := make([]error, nRelays)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = NewPostgresStore(ctx, dsn, PostgresOptions{MaxConns: 4}) })
	}
	wg.Wait()
	for i, s := range stores {
		ok(t, errs[i])
		t.Cleanup(func() { s.Close() })
		equal(t, s.Epoch(), stores[0].Epoch(), "one epoch for all relays")
	}

	rng := rand.New(rand.NewPCG(seed, 1))
	users := make([]string, nUsers)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
	}
	type conv struct {
		id      string
		members []string
	}
	var convs []conv
	for i, a := range users {
		for _, b := range users[i+1:] {
			convs = append(convs, conv{proto.P2PID(a, b), []string{a, b}})
		}
	}
	for g := range 4 {
		perm := rng.Perm(nUsers)[:6]
		spec := GroupSpec{ID: fmt.Sprintf("g:g%d", g), Creator: users[perm[0]], CreatedAt: 1}
		for _, k := range perm {
			spec.Members = append(spec.Members, users[k])
		}
		slices.Sort(spec.Members)
		_, _, err := stores[g%nRelays].CreateGroup(ctx, spec)
		ok(t, err)
		convs = append(convs, conv{spec.ID, spec.Members})
	}

	var (
		mu     sync.Mutex
		acks   = make(map[senderClient]proto.Message) // the stored message of every acknowledged send
		owners = make(map[string]senderClient)        // conv/seq -> who got it
		dups   []AppendResult
		failed []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failed = append(failed, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	twins := make(chan AppendRequest, 64) // sends another relay submits too
	done := make(chan struct{})

	var writers sync.WaitGroup
	for w := range nRelays * nWriters {
		s := stores[w%nRelays]
		wrng := rand.New(rand.NewPCG(seed, uint64(w)+2))
		writers.Go(func() {
			var mine []AppendRequest
			for k := range nBatches {
				var batch []AppendRequest
				for j := range 1 + wrng.IntN(8) {
					c := convs[wrng.IntN(len(convs))]
					req := textReq(c.members[wrng.IntN(len(c.members))], c.id, fmt.Sprintf("w%d-%d-%d", w, k, j))
					batch = append(batch, req)
					if wrng.IntN(8) == 0 {
						select {
						case twins <- req:
						default:
						}
					}
				}
			drain:
				for range 2 {
					select {
					case r := <-twins:
						batch = append(batch, r)
					default:
						break drain
					}
				}
				if len(mine) > 0 && wrng.IntN(6) == 0 {
					batch = append(batch, mine[wrng.IntN(len(mine))]) // a retry of an acknowledged send
				}
				res, err := s.Append(ctx, batch)
				if err != nil {
					fail("append: %v", err)
					return
				}
				mu.Lock()
				for i, r := range res {
					key := senderClient{batch[i].Sender, batch[i].Send.ClientID}
					switch {
					case r.Err != nil:
						failed = append(failed, fmt.Sprintf("%+v refused: %v", batch[i], r.Err))
					case r.Duplicate:
						dups = append(dups, r)
					default:
						if prev, seen := acks[key]; seen {
							failed = append(failed, fmt.Sprintf("%v stored twice: seq %d and %d", key, prev.Seq, r.Message.Seq))
						}
						acks[key] = r.Message
						slot := fmt.Sprintf("%s/%d", r.Message.ConvID, r.Message.Seq)
						if prev, taken := owners[slot]; taken {
							failed = append(failed, fmt.Sprintf("%s given to %v and %v", slot, prev, key))
						}
						owners[slot] = key
						mine = append(mine, batch[i])
					}
				}
				mu.Unlock()
				if wrng.IntN(4) == 0 {
					c := convs[wrng.IntN(len(convs))]
					if _, _, err := markRead(ctx, s, c.members[wrng.IntN(len(c.members))], c.id, uint64(wrng.IntN(40))); err != nil {
						fail("mark read: %v", err)
						return
					}
				}
			}
		})
	}

	// Readers: each follows some users as a client would, keeping what it
	// learnt and the cursor of the last conversation it was given.
	type follower struct {
		cursor uint64
		convs  map[string]proto.Conversation
	}
	followers := make([]*follower, nUsers)
	for i := range followers {
		followers[i] = &follower{convs: make(map[string]proto.Conversation)}
	}
	syncOnce := func(s Store, u int) (changed int, err error) {
		f := followers[u]
		for {
			page, more, err := s.Sync(ctx, users[u], f.cursor, pageSize)
			if err != nil {
				return changed, err
			}
			for _, c := range page {
				if c.Version <= f.cursor {
					return changed, fmt.Errorf("%s: version %d of %s not after cursor %d", users[u], c.Version, c.ID, f.cursor)
				}
				if old, seen := f.convs[c.ID]; seen && (c.LastSeq < old.LastSeq || c.ReadSeq < old.ReadSeq) {
					return changed, fmt.Errorf("%s: %s went back from %d/%d to %d/%d", users[u], c.ID, old.LastSeq, old.ReadSeq, c.LastSeq, c.ReadSeq)
				}
				f.cursor = c.Version
				f.convs[c.ID] = c
				changed++
			}
			if !more {
				return changed, nil
			}
		}
	}
	const nReaders = 3
	var readers sync.WaitGroup
	syncs := make([]int, nReaders)
	for r := range nReaders {
		rrng := rand.New(rand.NewPCG(seed, uint64(r)+100))
		readers.Go(func() {
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				for u := r; u < nUsers; u += nReaders {
					if _, err := syncOnce(stores[rrng.IntN(nRelays)], u); err != nil {
						fail("sync: %v", err)
						return
					}
					syncs[r]++
				}
				if finished {
					return // this pass started after every write was committed
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	for _, f := range failed {
		t.Error(f)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every reader's incremental state is the truth.
	for u, f := range followers {
		truth := &follower{convs: make(map[string]proto.Conversation)}
		followers[u] = truth
		_, err := syncOnce(stores[0], u)
		ok(t, err)
		for id, want := range truth.convs {
			got, seen := f.convs[id]
			if !seen {
				t.Errorf("%s never synced %s (a skipped version)", users[u], id)
				continue
			}
			// Versions may differ: the reader may have stopped at an
			// older, identical state. The state itself may not.
			got.Version, want.Version = 0, 0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: synced %s as %+v, truth %+v (a skipped version)", users[u], id, got, want)
			}
		}
		equal(t, len(f.convs), len(truth.convs), users[u]+"'s conversations")
	}

	// Every conversation holds 1..n, each acknowledged message once.
	stored := 0
	for _, c := range convs {
		msgs := allMessages(t, stores[1], c.members[0], c.id)
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("%s: seq %d at position %d", c.id, m.Seq, i+1)
			}
			equal(t, m, acks[senderClient{m.Sender, m.ClientID}], "stored message is the acknowledged one")
		}
		stored += len(msgs)
	}
	equal(t, stored, len(acks), "stored messages")
	for _, d := range dups {
		equal(t, d.Message, acks[senderClient{d.Message.Sender, d.Message.ClientID}], "duplicate's original")
	}
	t.Logf("%d messages, %d duplicates answered, %d syncs", len(acks), len(dups), syncs[0]+syncs[1]+syncs[2])
}

// TestPostgresConnectionLoss terminates the store's connections from the
// server side while it appends. Each Append either succeeds or fails with
// nothing of its batch stored; the store recovers by itself; nothing
// acknowledged is lost; and retrying the failed batches, as clients do,
// stores each of their messages exactly once.
func TestPostgresConnectionLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	app := "parley_t_" + randomHex(6)
	s := openPostgres(t, dsnWith(dsn, "application_name", app), PostgresOptions{MaxConns: 2})
	admin := pgAdmin(t, dsn)
	terminate := func() int {
		var n int
		ok(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&n))
		return n
	}
	convs := []string{proto.P2PID("alice", "bob"), proto.P2PID("alice", "carol"), proto.P2PID("alice", "dave")}

	var (
		acked, failed [][]AppendRequest
		ackedRes      [][]AppendResult
		stop          = make(chan struct{})
		wg            sync.WaitGroup
		errSamples    []string
	)
	wg.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			batch := make([]AppendRequest, 16)
			for i := range batch {
				batch[i] = textReq("alice", convs[i%len(convs)], fmt.Sprintf("m%d-%d", k, i))
			}
			res, err := s.Append(ctx, batch)
			if err != nil {
				failed = append(failed, batch)
				if len(errSamples) < 3 {
					errSamples = append(errSamples, err.Error())
				}
				continue
			}
			acked, ackedRes = append(acked, batch), append(ackedRes, res)
		}
	})
	kills := 0
	for range 12 {
		time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond)
		kills += terminate()
	}
	close(stop)
	wg.Wait()
	if kills == 0 {
		t.Fatal("no connection was terminated")
	}

	// The store recovers by itself.
	res, err := s.Append(ctx, []AppendRequest{textReq("alice", convs[0], "after")})
	ok(t, err)
	equal(t, res[0].Err == nil && !res[0].Duplicate, true, "append after the kills")
	ok(t, s.Ping(ctx))

	stored := make(map[string]proto.Message)
	for _, c := range convs {
		for i, m := range allMessages(t, s, "alice", c) {
			equal(t, m.Seq, uint64(i+1), c+" seqs are 1..n")
			stored[m.ClientID] = m
		}
	}
	for k, batch := range acked {
		for i, r := range batch {
			equal(t, stored[r.Send.ClientID], ackedRes[k][i].Message, "acknowledged message kept")
		}
	}
	committedAnyway := 0
	for _, batch := range failed {
		n := 0
		for _, r := range batch {
			if _, ok := stored[r.Send.ClientID]; ok {
				n++
			}
		}
		if n != 0 && n != len(batch) {
			t.Fatalf("a failed batch is partly stored: %d of %d", n, len(batch))
		}
		if n > 0 {
			committedAnyway++
		}
		// Its outcome was unknown to the client, which retries it.
		res, err := s.Append(ctx, batch)
		ok(t, err)
		for i, r := range res {
			equal(t, r.Duplicate, n > 0, "retry of a failed batch")
			stored[batch[i].Send.ClientID] = r.Message
		}
	}
	total := 0
	for _, c := range convs {
		total += len(allMessages(t, s, "alice", c))
	}
	equal(t, total, 16*(len(acked)+len(failed))+1, "every message stored exactly once")
	t.Logf("%d connections terminated; %d batches acknowledged, %d failed (%d of them committed all the same) %q",
		kills, len(acked), len(failed), committedAnyway, errSamples)
}

// TestPostgresUnreachable: while the database cannot be reached, every call
// fails (an Append with nothing stored) within the store's timeout; once it
// is back, the same store carries on.
func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	ok(t, err)
	p := testsvc.NewProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	via := dsnVia(dsn, p.Addr())

	p.Down()
	if _, err := NewPostgresStore(ctx, via, PostgresOptions{Timeout: 2 * time.Second}); err == nil {
		t.Fatal("opened a store on an unreachable database")
	}
	p.Up()
	s := openPostgres(t, via, PostgresOptions{MaxConns: 2, Timeout: 2 * time.Second})
	ab := proto.P2PID("alice", "bob")
	res, err := s.Append(ctx, []AppendRequest{textReq("alice", ab, "1")})
	ok(t, err)
	equal(t, res[0].Message.Seq, uint64(1), "seq")

	p.Down()
	start := time.Now()
	if _, err := s.Append(ctx, []AppendRequest{textReq("alice", ab, "2"), textReq("bob", ab, "3")}); err == nil {
		t.Fatal("append succeeded with the database unreachable")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with the database unreachable")
	}
	if _, _, err := s.Sync(ctx, "alice", 0, 10); err == nil {
		t.Fatal("sync succeeded with the database unreachable")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing took %v", d)
	}

	p.Up()
	res, err = s.Append(ctx, []AppendRequest{textReq("alice", ab, "2"), textReq("bob", ab, "3")})
	ok(t, err)
	equal(t, [2]any{res[0].Message.Seq, res[1].Message.Seq}, [2]any{uint64(2), uint64(3)}, "the failed batch stored nothing")
	equal(t, res[0].Duplicate || res[1].Duplicate, false, "not duplicates")
	ok(t, s.Ping(ctx))
	equal(t, len(allMessages(t, s, "bob", ab)), 3, "messages")
}

// TestPostgresMigrations: relays starting at once on an empty schema
// migrate it once; the epoch is born with the schema and kept; a schema
// newer than the relay is refused.
func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	const n = 4
	stores := make([]*PostgresStore, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = NewPostgresStore(ctx, dsn, PostgresOptions{MaxConns: 1}) })
	}
	wg.Wait()
	for i := range n {
		ok(t, errs[i])
		equal(t, stores[i].Epoch(), stores[0].Epoch(), "epoch")
		ok(t, stores[i].Close())
	}
	equal(t, stores[0].Close(), ErrClosed, "second close")

	admin := pgAdmin(t, dsn)
	var versions []int
	rows, err := admin.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	ok(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	ok(t, err)
	equal(t, len(versions), len(postgresMigrations), "applied versions")
	for i, v := range versions {
		equal(t, v, i+1, "applied version")
	}

	again := openPostgres(t, dsn, PostgresOptions{})
	equal(t, again.Epoch(), stores[0].Epoch(), "epoch kept across restarts")
	other := openPostgres(t, postgresDSN(t), PostgresOptions{})
	if other.Epoch() == again.Epoch() {
		t.Fatal("two schemas share an epoch")
	}

	_, err = admin.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES (99)`)
	ok(t, err)
	_, err = NewPostgresStore(ctx, dsn, PostgresOptions{})
	if err == nil || !strings.Contains(err.Error(), "newer than this relay") {
		t.Fatalf("a newer schema: got %v", err)
	}
	_, err = NewPostgresStore(ctx, dsnWith(dsn, "search_path", "parley_t_missing"), PostgresOptions{})
	if err == nil {
		t.Fatal("opened a store without a schema")
	}
}

// TestPostgresOddValues: values Postgres text could not hold, and ids whose
// order depends on collation, behave as in the other stores.
func TestPostgresOddValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 2})
	ab := proto.P2PID("Bob", "alice") // "B" < "a" in byte order, not in most locales
	req := textReq("alice", ab, "nul")
	req.Send.Text = "a\x00b"
	res, err := s.Append(ctx, []AppendRequest{req, textReq("Bob", ab, "ok")})
	ok(t, err)
	equal(t, res[0].Members, []string{"Bob", "alice"}, "members in byte order")
	msgs := allMessages(t, s, "Bob", ab)
	equal(t, msgs[0].Text, "a\x00b", "text with NUL")

	spec := GroupSpec{ID: "g:x", Name: "n\x00me", Creator: "alice", Members: []string{"Bob", "Zed", "alice", "bob"}, CreatedAt: 1}
	g, created, err := s.CreateGroup(ctx, spec)
	ok(t, err)
	equal(t, [3]any{created, g.Name, g.Members}, [3]any{true, spec.Name, spec.Members}, "group")
	_, created, err = s.CreateGroup(ctx, spec)
	ok(t, err)
	equal(t, created, false, "idempotent in byte order")

	convs, _, err := s.Sync(ctx, "alice", 1<<63+5, 10)
	ok(t, err)
	equal(t, len(convs), 0, "cursor beyond bigint")
	var pe *proto.Error
	_, err = s.History(ctx, "carol", proto.History{ConvID: ab, Limit: 5})
	if !errors.As(err, &pe) || pe.Code != proto.CodeForbidden {
		t.Fatalf("history of others: %v", err)
	}
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store {
		return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 2})
	})
}

// postgresRowWrites is rowWrites for the PostgreSQL store, nil for any
// other store.
func postgresRowWrites(t *testing.T, s Store, conv string) func() int {
	ps, isPG := s.(*PostgresStore)
	if !isPG {
		return nil
	}
	ctx := context.Background()
	// The rows whose xmin is the transaction that stored conv's last
	// message: every row it inserted or updated.
	return func() int {
		var n int
		ok(t, ps.pool.QueryRow(ctx, `WITH x AS (
				SELECT m.xmin FROM messages m JOIN conversations c ON c.id = m.conv_id AND m.seq = c.last_seq
				WHERE c.id = $1)
			SELECT (SELECT count(*) FROM messages WHERE xmin = (SELECT xmin FROM x))
				+ (SELECT count(*) FROM conversations WHERE xmin = (SELECT xmin FROM x))
				+ (SELECT count(*) FROM members WHERE xmin = (SELECT xmin FROM x))
				+ (SELECT count(*) FROM counters WHERE xmin = (SELECT xmin FROM x))`, conv).Scan(&n))
		return n
	}
}

// postgresFailFeedWrites is failFeedWrites for the PostgreSQL store, nil
// for any other store.
func postgresFailFeedWrites(t *testing.T, s Store) func() {
	ps, isPG := s.(*PostgresStore)
	if !isPG {
		return nil
	}
	ctx := context.Background()
	_, err := ps.pool.Exec(ctx, `CREATE FUNCTION feed_fail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'injected'; END$$`)
	ok(t, err)
	_, err = ps.pool.Exec(ctx, `CREATE TRIGGER feed_fail BEFORE INSERT ON user_feed FOR EACH ROW EXECUTE FUNCTION feed_fail()`)
	ok(t, err)
	return func() {
		_, err := ps.pool.Exec(ctx, `DROP TRIGGER feed_fail ON user_feed`)
		ok(t, err)
	}
}
