//go:build !js

package relay

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
)

// procWrites is this process's count of write system calls (pwrite
// included) from /proc/self/io.
func procWrites(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, found := strings.CutPrefix(line, "syscw: "); found {
			n, err := strconv.ParseInt(v, 10, 64)
			ok(t, err)
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}

// walFrames is the number of frames in s's WAL file.
func walFrames(t *testing.T, s *SQLiteStore) int64 {
	t.Helper()
	ctx := context.Background()
	var path string
	ok(t, s.wc.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path))
	var pageSize int64
	ok(t, s.wc.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize))
	fi, err := os.Stat(path + "-wal")
	ok(t, err)
	const walHeader, frameHeader = 32, 24
	return (fi.Size() - walHeader) / (pageSize + frameHeader)
}

// TestSQLiteWALOneWritePerCommit checks that the writer hands a commit's
// WAL frames to the file in a few writes, not two per frame. Not parallel:
// it counts the whole process's write calls.
func TestSQLiteWALOneWritePerCommit(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(t.TempDir(), SQLiteOptions{})
	ok(t, err)
	defer s.Close()
	_, err = s.wc.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`)
	ok(t, err)
	_, err = s.wc.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	ok(t, err)
	batch := make([]AppendRequest, 32)
	for i := range batch {
		a, b := fmt.Sprintf("a%02d", i), fmt.Sprintf("b%02d", i)
		batch[i] = AppendRequest{Sender: a, CreatedAt: 1, Send: proto.Send{
			ConvID: proto.P2PID(a, b), ClientID: fmt.Sprintf("c%02d", i), MsgType: proto.MsgText, Text: strings.Repeat("x", 1500)}}
	}
	before := procWrites(t)
	res, err := s.Append(ctx, batch)
	ok(t, err)
	writes := procWrites(t) - before
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("append: %v", r.Err)
		}
	}
	frames := walFrames(t, s)
	if frames < 16 {
		t.Fatalf("the batch wrote %d WAL frames; the test needs more", frames)
	}
	// The WAL's header and frames in one or two writes; the rest is slack.
	if writes > 4 {
		t.Fatalf("a commit of %d WAL frames took %d write calls, want at most 4", frames, writes)
	}
}

// TestSQLiteWALReadsBackItsWrites runs a transaction larger than the
// writer's page cache, so SQLite spills pages into the WAL and reads them
// back before it commits, then checks what the writer, a reader and a
// checkpoint see.
func TestSQLiteWALReadsBackItsWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSQLite(dir, SQLiteOptions{})
	ok(t, err)
	_, err = s.wc.ExecContext(ctx, `PRAGMA cache_size = 16`)
	ok(t, err)
	_, err = s.wc.ExecContext(ctx, `CREATE TABLE spill (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`)
	ok(t, err)
	const rows, size = 3000, 1000
	tx, err := s.wc.BeginTx(ctx, nil)
	ok(t, err)
	for k := range rows {
		_, err := tx.Exec(`INSERT INTO spill(k, v) VALUES (?, randomblob(?))`, k, size)
		ok(t, err)
	}
	// Rewrite every row in the same transaction: the pages spilled above
	// are read back from the WAL.
	_, err = tx.Exec(`UPDATE spill SET v = randomblob(length(v) + k % 2)`)
	ok(t, err)
	ok(t, tx.Commit())
	check := func(who string, q queryer) {
		t.Helper()
		var n, total int64
		ok(t, q.QueryRowContext(ctx, `SELECT count(*), sum(length(v)) FROM spill`).Scan(&n, &total))
		if want := int64(rows*size + rows/2); n != rows || total != want {
			t.Fatalf("%s reads %d rows of %d bytes in all, want %d of %d", who, n, total, rows, want)
		}
	}
	check("the writer", s.wc)
	check("a reader", s.r)
	var res string
	ok(t, s.wc.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res))
	if res != "ok" {
		t.Fatalf("integrity check: %s", res)
	}
	_, err = s.wc.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	ok(t, err)
	ok(t, s.Close())
	s, err = OpenSQLite(dir, SQLiteOptions{})
	ok(t, err)
	defer s.Close()
	check("the reopened store", s.r)
}
