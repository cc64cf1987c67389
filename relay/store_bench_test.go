//go:build !js

package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// benchAppend measures Append of batches of 1, 64 and 256 messages, one
// batch per op, into p2p conversations and into groups of 10 and of 1,000
// members: each batch is one transaction, so batch=1 is the commit latency
// and the larger ones the group committer's throughput (msgs/s). The
// messages of a batch go round-robin to 16 conversations of one sender.
func benchAppend(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	for _, kind := range []struct {
		name    string
		members int // 0: p2p
	}{{"p2p", 0}, {"group10", 10}, {"group1000", proto.MaxGroupMembers}} {
		for _, n := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("conv=%s/batch=%d", kind.name, n), func(b *testing.B) {
				s := open(b)
				convs := make([]string, 16)
				for k := range convs {
					if kind.members == 0 {
						convs[k] = proto.P2PID("alice", fmt.Sprintf("u%02d", k))
						continue
					}
					spec := GroupSpec{ID: fmt.Sprintf("g:bench%02d", k), Creator: "alice", CreatedAt: 1}
					spec.Members = benchMembers("alice", kind.members, k)
					if _, _, err := s.CreateGroup(ctx, spec); err != nil {
						b.Fatal(err)
					}
					convs[k] = spec.ID
				}
				batch := make([]AppendRequest, n)
				sent := 0
				b.ReportAllocs()
				b.ResetTimer()
				defer cpuPerOp(b)()
				for b.Loop() {
					for i := range batch {
						batch[i] = AppendRequest{Sender: "alice", Device: "d", CreatedAt: 1, Send: proto.Send{
							ConvID: convs[sent%len(convs)], ClientID: fmt.Sprint(sent),
							MsgType: proto.MsgText, Text: "hello, this is a message of typical length"}}
						sent++
					}
					res, err := s.Append(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					if res[n-1].Err != nil || res[n-1].Duplicate {
						b.Fatalf("unexpected result %+v", res[n-1])
					}
				}
				b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// cpuPerOp reports the CPU time this process spent per op (user and
// system, all threads) when the returned function is called: on a shared,
// busy machine it varies less than the wall time. PostgreSQL's own CPU is
// not in it.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func BenchmarkSQLiteAppend(b *testing.B) {
	benchAppend(b, func(b *testing.B) Store {
		s, err := OpenSQLite(b.TempDir(), SQLiteOptions{})
		ok(b, err)
		b.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkPostgresAppend(b *testing.B) {
	benchAppend(b, func(b *testing.B) Store {
		return openPostgres(b, postgresDSN(b), PostgresOptions{})
	})
}

// benchSync measures what a sync costs the relay for "me", a member of 500
// groups of 1,000 members (500,000 member rows; the others drawn from 5,000
// users), each group with a message, in a store where 200 p2p
// conversations of other users are active too:
//
//   - from=0: a new device catching up, page after page as the relay
//     serves it (Sync with the relay's limit, then the reply cut to
//     proto.DefaultMaxFrame, the next page from the cursor that reached
//     the client) until More is false;
//   - from=recent: one Sync from the cursor of a device that was caught up
//     before 10 of its groups got a message (and 100 other users' p2p
//     conversations did too).
func benchSync(b *testing.B, s Store) {
	ctx := context.Background()
	const groups = 500
	for k := range groups {
		spec := GroupSpec{ID: fmt.Sprintf("g:sync%03d", k), Creator: "me", CreatedAt: 1,
			Members: benchMembers("me", proto.MaxGroupMembers, k)}
		if _, _, err := s.CreateGroup(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	say := func(convs []string, sender func(k int) string, tag string) {
		for lo := 0; lo < len(convs); lo += 64 {
			var batch []AppendRequest
			for k := lo; k < min(lo+64, len(convs)); k++ {
				batch = append(batch, AppendRequest{Sender: sender(k), CreatedAt: 2, Send: proto.Send{
					ConvID: convs[k], ClientID: fmt.Sprintf("%s-%d", tag, k), MsgType: proto.MsgText, Text: "hi"}})
			}
			res, err := s.Append(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	}
	var mine, others []string
	for k := range groups {
		mine = append(mine, fmt.Sprintf("g:sync%03d", k))
	}
	for k := range 200 {
		others = append(others, proto.P2PID(fmt.Sprintf("m%04d", 2*k), fmt.Sprintf("m%04d", 2*k+1)))
	}
	say(mine, func(k int) string { return benchMembers("me", proto.MaxGroupMembers, k)[1] }, "a")
	say(others, func(k int) string { return fmt.Sprintf("m%04d", 2*k) }, "a")

	// catchUp syncs from cursor until More is false, as a client would
	// through the relay, and returns the final cursor.
	catchUp := func(b *testing.B, cursor uint64) (end uint64, pages, convs, members int) {
		for {
			page, more, err := s.Sync(ctx, "me", cursor, proto.MaxPageLimit)
			if err != nil {
				b.Fatal(err)
			}
			f, err := proto.Decode(rules.SyncFrame(1, cursor, page, more, proto.DefaultMaxFrame), proto.DefaultMaxFrame)
			if err != nil {
				b.Fatal(err)
			}
			res := f.Body.(*proto.SyncResult)
			pages++
			convs += len(res.Conversations)
			for _, c := range res.Conversations {
				members += len(c.Members)
			}
			cursor = res.Cursor
			if !res.More {
				return cursor, pages, convs, members
			}
		}
	}
	var cursor uint64
	b.Run("from=0", func(b *testing.B) {
		var pages, convs, members int
		defer cpuPerOp(b)()
		for b.Loop() {
			cursor, pages, convs, members = catchUp(b, 0)
		}
		b.ReportMetric(float64(pages), "pages")
		b.ReportMetric(float64(convs), "convs")
		b.ReportMetric(float64(members), "member-ids")
	})
	if cursor == 0 {
		cursor, _, _, _ = catchUp(b, 0)
	}
	say(mine[:10], func(k int) string { return benchMembers("me", proto.MaxGroupMembers, k)[2] }, "b")
	say(others[:100], func(k int) string { return fmt.Sprintf("m%04d", 2*k+1) }, "b")
	b.Run("from=recent", func(b *testing.B) {
		var n, members int
		defer cpuPerOp(b)()
		for b.Loop() {
			page, more, err := s.Sync(ctx, "me", cursor, proto.MaxPageLimit)
			if err != nil {
				b.Fatal(err)
			}
			if more {
				b.Fatal("more after a recent cursor")
			}
			n, members = len(page), 0
			for _, c := range page {
				members += len(c.Members)
			}
		}
		if n != 10 {
			b.Fatalf("%d conversations changed, want 10", n)
		}
		b.ReportMetric(float64(members), "member-ids")
	})
}

func BenchmarkSQLiteSync(b *testing.B) {
	s, err := OpenSQLite(b.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
	ok(b, err)
	b.Cleanup(func() { s.Close() })
	benchSync(b, s)
}

func BenchmarkPostgresSync(b *testing.B) {
	benchSync(b, openPostgres(b, postgresDSN(b), PostgresOptions{}))
}

// BenchmarkSQLiteStatement measures one write-path step — an UPDATE and a
// SELECT by key, 64 to a transaction — three ways: as the store did before
// (a database/sql transaction, statements prepared per transaction, a
// cancellable context), on a held *sql.Conn with statements prepared once
// and context.Background(), and with the driver's statements through
// (*sql.Conn).Raw, as the store's writer does now.
func BenchmarkSQLiteStatement(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "x.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	ok(b, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	c, err := db.Conn(ctx)
	ok(b, err)
	defer c.Close()
	_, err = c.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID; INSERT INTO t VALUES ('a', 1)`)
	ok(b, err)
	const upd, sel = `UPDATE t SET v = ? WHERE k = ?`, `SELECT v FROM t WHERE k = ?`
	const perTx = 64
	b.Run("via=tx", func(b *testing.B) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var tx *sql.Tx
		var us, qs *sql.Stmt
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			if i%perTx == 0 {
				if tx != nil {
					ok(b, tx.Commit())
				}
				tx, err = c.BeginTx(ctx, nil)
				ok(b, err)
				us, err = tx.PrepareContext(ctx, upd)
				ok(b, err)
				qs, err = tx.PrepareContext(ctx, sel)
				ok(b, err)
			}
			_, err := us.ExecContext(ctx, int64(i), "a")
			ok(b, err)
			var v int64
			ok(b, qs.QueryRowContext(ctx, "a").Scan(&v))
		}
		ok(b, tx.Commit())
	})
	b.Run("via=conn", func(b *testing.B) {
		us, err := c.PrepareContext(ctx, upd)
		ok(b, err)
		qs, err := c.PrepareContext(ctx, sel)
		ok(b, err)
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			if i%perTx == 0 {
				_, err := c.ExecContext(ctx, "BEGIN")
				ok(b, err)
			}
			_, err := us.Exec(int64(i), "a")
			ok(b, err)
			var v int64
			ok(b, qs.QueryRow("a").Scan(&v))
			if i%perTx == perTx-1 {
				_, err := c.ExecContext(ctx, "COMMIT")
				ok(b, err)
			}
		}
		c.ExecContext(ctx, "COMMIT")
	})
	b.Run("via=raw", func(b *testing.B) {
		ok(b, c.Raw(func(dc any) error {
			us, err := prepareRaw(dc, upd)
			ok(b, err)
			qs, err := prepareRaw(dc, sel)
			ok(b, err)
			begin, err := prepareRaw(dc, "BEGIN")
			ok(b, err)
			commit, err := prepareRaw(dc, "COMMIT")
			ok(b, err)
			defer cpuPerOp(b)()
			for i := 0; b.Loop(); i++ {
				if i%perTx == 0 {
					err := begin.exec()
					ok(b, err)
				}
				err := us.exec(int64(i), "a")
				ok(b, err)
				var v int64
				ok(b, qs.queryRow("a").Scan(&v))
				if i%perTx == perTx-1 {
					err := commit.exec()
					ok(b, err)
				}
			}
			commit.exec()
			return nil
		}))
	})
}

// BenchmarkSQLiteAppendP2P measures Append the way a relay full of
// one-to-one chats calls it: 2,000 users in 1,000 random pairs, each
// pair's conversation already holding 20 messages, and batches of 1, 16
// and 64 sends, each from a random pair in a random direction with a
// random client id. One op is one batch (one transaction); cpu-ns/msg is
// the process's CPU per message. wal-frames/msg is the pages the batches
// write to the WAL per message, counted over 64 more batches with the
// automatic checkpoint off (a checkpoint writes each page once more, into
// the database file). knob is a writer setting under trial ("default": as
// the store opens; "before": the page cache the store had before,
// SQLite's default; "ckpt10k": the longer WAL tried and reverted).
func BenchmarkSQLiteAppendP2P(b *testing.B) {
	ctx := context.Background()
	const users, history = 2000, 20
	for _, knob := range []struct {
		name     string
		pragmas  []string
		pageSize int // of a new database; 0: SQLite's default
	}{
		{"default", nil, 0},
		{"before", []string{`PRAGMA cache_size = -2000`}, 0},
		{"ckpt10k", []string{`PRAGMA wal_autocheckpoint = 10000`}, 0},
		{"ckpt4k", []string{`PRAGMA wal_autocheckpoint = 4000`}, 0},
		{"cache2M", []string{`PRAGMA cache_size = -2000`}, 0},
		{"mmap256M", []string{`PRAGMA mmap_size = 268435456`}, 0},
		{"page2k", nil, 2048},
	} {
		for _, n := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("knob=%s/batch=%d", knob.name, n), func(b *testing.B) {
				dir := b.TempDir()
				if knob.pageSize > 0 {
					db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db"))
					ok(b, err)
					_, err = db.Exec(fmt.Sprintf(`PRAGMA page_size = %d; PRAGMA journal_mode = WAL; CREATE TABLE x (a); DROP TABLE x`, knob.pageSize))
					ok(b, err)
					ok(b, db.Close())
				}
				s, err := OpenSQLite(dir, SQLiteOptions{})
				ok(b, err)
				b.Cleanup(func() { s.Close() })
				for _, p := range knob.pragmas {
					_, err := s.wc.ExecContext(ctx, p)
					ok(b, err)
				}
				rng := rand.New(rand.NewPCG(uint64(n), 11))
				perm := rng.Perm(users)
				type pair struct{ a, b, conv string }
				pairs := make([]pair, users/2)
				for k := range pairs {
					a, c := fmt.Sprintf("u%04d", perm[2*k]), fmt.Sprintf("u%04d", perm[2*k+1])
					pairs[k] = pair{a, c, proto.P2PID(a, c)}
				}
				clientID := func() string { return fmt.Sprintf("%016x", rng.Uint64()) }
				send := func(p pair) AppendRequest {
					from := p.a
					if rng.IntN(2) == 1 {
						from = p.b
					}
					return AppendRequest{Sender: from, Device: "d", CreatedAt: 1, Send: proto.Send{
						ConvID: p.conv, ClientID: clientID(), MsgType: proto.MsgText,
						Text: "hello, this is a message of typical length"}}
				}
				appendAll := func(batch []AppendRequest) {
					res, err := s.Append(ctx, batch)
					ok(b, err)
					for _, r := range res {
						if r.Err != nil || r.Duplicate {
							b.Fatalf("unexpected result %+v", r)
						}
					}
				}
				for range history {
					for lo := 0; lo < len(pairs); lo += 100 {
						batch := make([]AppendRequest, 0, 100)
						for _, p := range pairs[lo : lo+100] {
							batch = append(batch, send(p))
						}
						appendAll(batch)
					}
				}
				batch := make([]AppendRequest, n)
				fill := func() {
					for i := range batch {
						batch[i] = send(pairs[rng.IntN(len(pairs))])
					}
				}
				sent := 0
				b.ReportAllocs()
				b.ResetTimer()
				stop := cpuPerOp(b)
				cpu0, io0 := processCPU(), readProcIO(b)
				for b.Loop() {
					fill()
					appendAll(batch)
					sent += n
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(sent), "cpu-ns/msg")
				io := readProcIO(b)
				for _, k := range []string{"syscr", "syscw"} {
					b.ReportMetric(float64(io[k]-io0[k])/float64(sent), k+"/msg")
				}
				b.ReportMetric(float64(io["wchar"]-io0["wchar"])/float64(sent), "wbytes/msg")
				stop()
				b.StopTimer()
				b.ReportMetric(float64(walFramesPerMsg(b, s, 64, n, func() { fill(); appendAll(batch) })), "wal-frames/msg")
			})
		}
	}
}

// readProcIO reads this process's I/O counters (Linux's /proc/self/io):
// syscr and syscw count its read and write system calls (pread and pwrite
// included), wchar the bytes it wrote. Unlike CPU time they do not vary
// with the load on the machine.
func readProcIO(b *testing.B) map[string]int64 {
	data, err := os.ReadFile("/proc/self/io")
	ok(b, err)
	out := make(map[string]int64)
	for _, line := range strings.Split(string(data), "\n") {
		k, v, found := strings.Cut(line, ": ")
		if !found {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		ok(b, err)
		out[k] = n
	}
	return out
}

// processCPU is the CPU time (user and system, all threads) this process
// has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// walFramesPerMsg counts the WAL frames that batches (each of n messages,
// written by one call of step) add: it checkpoints and empties the WAL,
// turns the writer's automatic checkpoint off, runs step batches times,
// reads the WAL's size, and turns the automatic checkpoint back on.
func walFramesPerMsg(b *testing.B, s *SQLiteStore, batches, n int, step func()) float64 {
	ctx := context.Background()
	var pageSize int64
	ok(b, s.wc.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize))
	var auto int
	ok(b, s.wc.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto))
	_, err := s.wc.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`)
	ok(b, err)
	defer s.wc.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, auto))
	_, err = s.wc.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	ok(b, err)
	for range batches {
		step()
	}
	var path string
	ok(b, s.wc.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path))
	fi, err := os.Stat(path + "-wal")
	ok(b, err)
	const walHeader, frameHeader = 32, 24
	return float64(fi.Size()-walHeader) / float64(pageSize+frameHeader) / float64(batches*n)
}

// BenchmarkSQLiteFeedEntries measures the read the committer makes for
// every batch of one-to-one sends — each recipient's relation to the
// sender and preferences (gateDirect), 16 sends to a batch — through
// FeedEntries ("via=store", a statement prepared once per read
// connection) and through the same query prepared on every call, as
// FeedEntries ran it before ("via=query").
func BenchmarkSQLiteFeedEntries(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(b.TempDir(), SQLiteOptions{})
	ok(b, err)
	defer s.Close()
	keys := make([]FeedKey, 0, 32)
	for k := range 16 {
		to, from := fmt.Sprintf("u%04d", 2*k), fmt.Sprintf("u%04d", 2*k+1)
		keys = append(keys, FeedKey{to, rules.FeedRelation, from}, FeedKey{to, rules.FeedPrefs, ""})
	}
	b.Run("via=store", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			_, err := s.FeedEntries(ctx, keys)
			ok(b, err)
		}
	})
	b.Run("via=query", func(b *testing.B) {
		triples := make([][3]string, len(keys))
		for i, k := range keys {
			triples[i] = [3]string{k.User, k.Kind, k.Key}
		}
		defer cpuPerOp(b)()
		for b.Loop() {
			list, err := json.Marshal(triples)
			ok(b, err)
			rows, err := s.r.QueryContext(ctx, sqliteFeedEntries, string(list))
			ok(b, err)
			for rows.Next() {
			}
			ok(b, rows.Err())
			rows.Close()
		}
	})
}
