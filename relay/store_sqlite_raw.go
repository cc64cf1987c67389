package relay

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// The SQLite writer talks to the driver directly. database/sql costs a
// write statement as much again as SQLite does (a measured 4.9 against
// 2.7 µs of CPU for an UPDATE and a SELECT by key, see docs/benchmarks.md):
// a lock and a connection check per call, argument conversion through
// reflection, a Rows object and a conversion per scanned value. The writer
// connection is a *sql.Conn the store holds for its whole life and only
// ever uses inside (*sql.Conn).Raw, under the store's write lock; its
// statements are prepared once, on the first such call, and used only
// inside later ones, on the same driver connection, which database/sql
// never resets or swaps while the *sql.Conn is held.

// rawStmt is a statement prepared on the writer's driver connection.
type rawStmt struct {
	s driver.Stmt
}

// The driver's statements take a context; context.Background() has no Done
// channel, so the driver arms no interrupt watcher per call.
var rawCtx = context.Background()

func rawArgs(args []any) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		if n, isInt := a.(int); isInt {
			a = int64(n)
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// exec runs the statement. The number of rows it changed is not asked
// for: nothing needs it, and a driver may pay for counting them (the
// Durable Object's runs a statement of its own for it).
func (st rawStmt) exec(args ...any) error {
	_, err := st.s.(driver.StmtExecContext).ExecContext(rawCtx, rawArgs(args))
	return err
}

// queryRow runs the statement for its first row.
func (st rawStmt) queryRow(args ...any) rawRow {
	rows, err := st.s.(driver.StmtQueryContext).QueryContext(rawCtx, rawArgs(args))
	if err != nil {
		return rawRow{err: err}
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	switch err := rows.Next(vals); {
	case errors.Is(err, io.EOF):
		return rawRow{err: sql.ErrNoRows}
	case err != nil:
		return rawRow{err: err}
	}
	return rawRow{vals: vals}
}

// each runs the statement and, for every row, scans it into dest and calls
// fn.
func (st rawStmt) each(args []any, dest []any, fn func() error) error {
	rows, err := st.s.(driver.StmtQueryContext).QueryContext(rawCtx, rawArgs(args))
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	for {
		switch err := rows.Next(vals); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if err := (rawRow{vals: vals}).Scan(dest...); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// rawRow is one row read by queryRow, scanned like a *sql.Row.
type rawRow struct {
	vals []driver.Value
	err  error
}

// Scan copies the row into dest: *string, *int64, *int, *[]byte,
// *sql.NullString or *sql.NullInt64, the types the writer reads.
func (r rawRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.vals) {
		return fmt.Errorf("scan: %d values into %d destinations", len(r.vals), len(dest))
	}
	for i, v := range r.vals {
		if err := scanRaw(dest[i], v); err != nil {
			return fmt.Errorf("scan column %d: %w", i, err)
		}
	}
	return nil
}

func scanRaw(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case *string:
		switch v := v.(type) {
		case string:
			*d = v
		case []byte:
			*d = string(v)
		case nil:
			*d = ""
		default:
			return fmt.Errorf("%T into *string", v)
		}
	case *int64:
		n, isInt := v.(int64)
		if !isInt {
			return fmt.Errorf("%T into *int64", v)
		}
		*d = n
	case *int:
		n, isInt := v.(int64)
		if !isInt {
			return fmt.Errorf("%T into *int", v)
		}
		*d = int(n)
	case *[]byte:
		switch v := v.(type) {
		case []byte:
			*d = v // the driver returns a copy
		case string:
			*d = []byte(v)
		case nil:
			*d = nil
		default:
			return fmt.Errorf("%T into *[]byte", v)
		}
	case *sql.NullString:
		if v == nil {
			*d = sql.NullString{}
			return nil
		}
		d.Valid = true
		return scanRaw(&d.String, v)
	case *sql.NullInt64:
		if v == nil {
			*d = sql.NullInt64{}
			return nil
		}
		d.Valid = true
		return scanRaw(&d.Int64, v)
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return nil
}

// prepareRaw prepares query on the driver connection dc.
func prepareRaw(dc any, query string) (rawStmt, error) {
	p, isPreparer := dc.(driver.ConnPrepareContext)
	if !isPreparer {
		return rawStmt{}, fmt.Errorf("driver connection %T cannot prepare with a context", dc)
	}
	s, err := p.PrepareContext(rawCtx, query)
	if err != nil {
		return rawStmt{}, fmt.Errorf("prepare %q: %w", query, err)
	}
	_, canExec := s.(driver.StmtExecContext)
	_, canQuery := s.(driver.StmtQueryContext)
	if !canExec || !canQuery {
		s.Close()
		return rawStmt{}, fmt.Errorf("driver statement %T lacks the context methods", s)
	}
	return rawStmt{s}, nil
}
