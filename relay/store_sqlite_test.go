//go:build !js

package relay

import (
	"context"
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
