//go:build !js

package relay

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
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
					_, err := begin.exec()
					ok(b, err)
				}
				_, err := us.exec(int64(i), "a")
				ok(b, err)
				var v int64
				ok(b, qs.queryRow("a").Scan(&v))
				if i%perTx == perTx-1 {
					_, err := commit.exec()
					ok(b, err)
				}
			}
			commit.exec()
			return nil
		}))
	})
}
