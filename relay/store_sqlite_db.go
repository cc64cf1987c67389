package relay

import (
	"database/sql"
	"fmt"
)

// txRunner is a driver connection that runs a write transaction itself
// instead of through BEGIN and COMMIT statements: SQLite hosts that refuse
// explicit transactions (a Durable Object's storage) take a function and
// commit it whole, or roll it back when it returns an error.
type txRunner interface {
	RunTx(fn func() error) error
}

// OpenSQLiteDriver opens (creating or migrating) the SQLite store through
// the database/sql driver registered as driverName, with dsn naming the
// database to it. It is for SQLite that is not a local file of this
// process, such as a Durable Object's storage under js/wasm, whose driver
// may implement RunTx(func() error) error on its connections to take the
// write transactions. Every method of SQLiteStore then works the same.
func OpenSQLiteDriver(driverName, dsn string) (*SQLiteStore, error) {
	w, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("relay: open store: %w", err)
	}
	return openSQLiteDBs(driverName+":"+dsn, w, func() (*sql.DB, error) { return sql.Open(driverName, dsn) }, 1)
}
