//go:build js && wasm

package relay

import (
	"context"
	"database/sql"
	"sync"
	"syscall/js"
	"testing"

	"github.com/parley-im/parley/relay/edge/dosql"
)

// Under js/wasm this package's tests run inside a Durable Object of a test
// Worker in workerd (relay/edge/storetest, run by ./build.sh edge-store),
// and TestSQLiteStore runs the store conformance suite (TestSQLiteReopen
// too) on the SQLite store opened on the object's own storage
// (ctx.storage.sql) through
// relay/edge/dosql, the driver the Workers relay runs on. The object hands
// its storage to the test binary as globalThis.parleySuiteStorage =
// {exec, tx}, the two functions dosql.Register takes.
//
// An object has one database, and one object's storage cannot be used from
// another's code. Each store the suite opens therefore starts from an empty
// database (every table of the store before it dropped), and a store may be
// opened only once every store opened before it is closed. The binary runs
// one test at a time (GOMAXPROCS is 1 under js/wasm, so is -test.parallel)
// and each subtest closes its store when it ends; a change to the suite
// that keeps two stores open at once fails here, saying so, rather than
// letting them share one database.

const doSuiteDB = "suite"

var doSuite struct {
	sync.Mutex
	registered bool
	last       *SQLiteStore
	gen        uint64 // how many times the database was emptied
}

func openSuiteSQLite(t *testing.T) Store {
	t.Helper()
	s, _ := openDOStore(t, 0)
	return s
}

// sqliteReopener returns what opens the object's database again and again,
// as the Workers relay does after an eviction: the first store starts from
// an empty database, the next ones find what it left. The caller closes
// each store before opening the next; a store of another test opened in
// between fails the test.
func sqliteReopener(t *testing.T) func() *SQLiteStore {
	var gen uint64
	return func() *SQLiteStore {
		t.Helper()
		s, g := openDOStore(t, gen)
		gen = g
		return s
	}
}

// openDOStore opens the SQLite store on the object's storage, closed when t
// ends. With again 0 it starts from an empty database and returns the new
// database's generation; with a generation, it opens that database again.
func openDOStore(t *testing.T, again uint64) (*SQLiteStore, uint64) {
	t.Helper()
	doSuite.Lock()
	defer doSuite.Unlock()
	if !doSuite.registered {
		h := js.Global().Get("parleySuiteStorage")
		if h.IsUndefined() {
			t.Fatal("no Durable Object storage: under js/wasm the store suite runs in workerd (./build.sh edge-store)")
		}
		dosql.Register(doSuiteDB, h.Get("exec"), h.Get("tx"))
		doSuite.registered = true
	}
	if prev := doSuite.last; prev != nil {
		prev.wmu.Lock()
		closed := prev.closed
		prev.wmu.Unlock()
		if !closed {
			t.Fatal("the store opened before this one on the object's storage is still open: two stores would share one database")
		}
	}
	switch {
	case again == 0:
		emptyDOStorage(t)
		doSuite.gen++
	case again != doSuite.gen:
		t.Fatal("the object's database was emptied for another store since this one was opened last")
	}
	s, err := OpenSQLiteDriver(dosql.Name, doSuiteDB)
	ok(t, err)
	doSuite.last = s
	t.Cleanup(func() { s.Close() })
	return s, doSuite.gen
}

// emptyDOStorage drops every table and view of the object's database (but
// the storage's own, _cf_*), the newest first, so that none is left that
// references another.
func emptyDOStorage(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open(dosql.Name, doSuiteDB)
	ok(t, err)
	defer db.Close()
	list := func() (kinds, names []string) {
		rows, err := db.QueryContext(ctx, `SELECT type, name FROM sqlite_master
			WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_cf\_%' ESCAPE '\'
			ORDER BY rowid DESC`)
		ok(t, err)
		defer rows.Close()
		for rows.Next() {
			var kind, name string
			ok(t, rows.Scan(&kind, &name))
			kinds, names = append(kinds, kind), append(names, name)
		}
		ok(t, rows.Err())
		return kinds, names
	}
	kinds, names := list()
	for i, name := range names {
		_, err := db.ExecContext(ctx, `DROP `+kinds[i]+` "`+name+`"`)
		ok(t, err)
	}
	if _, left := list(); len(left) > 0 {
		t.Fatalf("tables left in the object's database: %v", left)
	}
}

// There is no PostgreSQL store under js/wasm.
func postgresRowWrites(*testing.T, Store, string) func() int { return nil }
func postgresFailFeedWrites(*testing.T, Store) func()        { return nil }
