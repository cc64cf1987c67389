//go:build !js

package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestSQLiteDurabilityInUse reads back the synchronous setting on the
// store's write connection — the one every commit goes through — rather than
// trusting what was asked for: FULL makes each acknowledged commit reach the
// disk, NORMAL survives a crash of the process. Nothing may weaken it, not
// the default, not the relay's option, not a reconnect of the pool.
func TestSQLiteDurabilityInUse(t *testing.T) {
	t.Parallel()
	// PRAGMA synchronous reads 0 for OFF, 1 for NORMAL, 2 for FULL, 3 for EXTRA.
	const normal, full = 1, 2
	writerMode := func(t *testing.T, s *SQLiteStore) int {
		t.Helper()
		// A write first, so the connection asked is the one that committed.
		_, err := s.Append(context.Background(), []AppendRequest{{Sender: "alice", CreatedAt: 1,
			Send: proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "1", MsgType: proto.MsgText, Text: "x"}}})
		ok(t, err)
		var mode int
		ok(t, s.wc.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&mode))
		return mode
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *SQLiteStore
		want int
	}{
		{"store/default is FULL", func(t *testing.T) *SQLiteStore { return openSQLite(t, SQLiteOptions{}) }, full},
		{"store/FULL", func(t *testing.T) *SQLiteStore { return openSQLite(t, SQLiteOptions{Synchronous: "FULL"}) }, full},
		{"store/NORMAL", func(t *testing.T) *SQLiteStore { return openSQLite(t, SQLiteOptions{Synchronous: "normal"}) }, normal},
		{"relay/default is FULL", func(t *testing.T) *SQLiteStore { return relayStore(t, "") }, full},
		{"relay/NORMAL", func(t *testing.T) *SQLiteStore { return relayStore(t, "NORMAL") }, normal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.open(t)
			// The store holds its one writer connection for its whole life.
			equal(t, writerMode(t, s), tc.want, "synchronous on the write connection")
		})
	}
}

// openSQLite opens a SQLite store in a fresh directory, closed when t ends.
func openSQLite(t *testing.T, o SQLiteOptions) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(t.TempDir(), o)
	ok(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// sqliteReopener returns what opens one SQLite database again and again,
// as a restarted relay does: natively a file in a fresh directory. The
// caller closes each store before opening the next.
func sqliteReopener(t *testing.T) func() *SQLiteStore {
	dir := t.TempDir()
	return func() *SQLiteStore {
		t.Helper()
		s, err := OpenSQLite(dir, SQLiteOptions{})
		ok(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// relayStore returns the store a relay opened for itself with the given
// synchronous option, shut down when t ends.
func relayStore(t *testing.T, synchronous string) *SQLiteStore {
	t.Helper()
	r := startRelay(t, func(o *Options) { o.Store = nil; o.Synchronous = synchronous })
	s, isSQLite := r.srv.store.(*SQLiteStore)
	if !isSQLite {
		t.Fatalf("the relay's default store is %T", r.srv.store)
	}
	return s
}

// TestDataFilesPrivate: the database, its WAL and shared-memory files and the
// generated secret are readable by the relay's user alone, whatever the
// umask, in a data directory that already exists.
func TestDataFilesPrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, os.Chmod(dir, 0o755))
	s, err := OpenSQLite(dir, SQLiteOptions{})
	ok(t, err)
	_, err = s.Append(context.Background(), []AppendRequest{{Sender: "alice", Device: "d",
		Send: proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "1", MsgType: proto.MsgText, Text: "x"}}})
	ok(t, err)
	_, err = ResolveSecret("", dir)
	ok(t, err)
	for _, name := range []string{"parley.db", "parley.db-wal", "parley.db-shm", "secret"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		ok(t, err)
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %o: readable by others", name, mode)
		}
	}
	ok(t, s.Close())
}

// openSuiteSQLite opens the SQLite store TestSQLiteStore runs the
// conformance suite on: a database file in a fresh directory, closed when
// t ends. (Under js/wasm it is a Durable Object's storage instead: see
// store_do_js_test.go.)
func openSuiteSQLite(t *testing.T) Store {
	s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteOptions(t *testing.T) {
	t.Parallel()
	if _, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "OFF"}); err == nil {
		t.Fatal("synchronous OFF accepted")
	}
}

// TestSQLiteP2PSendLeavesMemberRows: a one-to-one message writes its own
// row, its conversation's and the change counter, not the sender's member
// row: the conversation row carries the sender's read cursor. Between
// "ann" and "ann.b" one id is the start of the other, which the cursor
// must still tell apart.
func TestSQLiteP2PSendLeavesMemberRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSQLite(t, SQLiteOptions{Synchronous: "NORMAL"})
	conv := proto.P2PID("ann", "ann.b")
	send := func(sender, cid string) {
		t.Helper()
		res, err := s.Append(ctx, []AppendRequest{textReq(sender, conv, cid)})
		ok(t, err)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	send("ann", "1") // creates the conversation and its member rows
	count := rowWrites(t, s, conv)
	for i, sender := range []string{"ann.b", "ann", "ann", "ann.b"} {
		send(sender, fmt.Sprint(i+2))
		equal(t, count(), 3, fmt.Sprintf("rows message %d wrote", i+2))
	}
	var stored [2]int64
	ok(t, s.r.QueryRow(`SELECT (SELECT read_seq FROM members WHERE conv_id = ?1 AND user_id = 'ann'),
		(SELECT read_seq FROM members WHERE conv_id = ?1 AND user_id = 'ann.b')`, conv).Scan(&stored[0], &stored[1]))
	equal(t, stored, [2]int64{0, 0}, "stored cursors")
	for _, tc := range []struct {
		user       string
		read, peer uint64
	}{{"ann", 4, 5}, {"ann.b", 5, 4}} {
		convs, _, err := s.Sync(ctx, tc.user, 0, 10)
		ok(t, err)
		equal(t, [2]uint64{convs[0].ReadSeq, convs[0].PeerReadSeq}, [2]uint64{tc.read, tc.peer}, tc.user+"'s view")
	}
}
