//go:build js && wasm

// Package dosql is a database/sql driver for a Durable Object's SQLite
// (ctx.storage.sql), so the relay's SQLite store runs on it unchanged.
//
// A Durable Object's SQL API is synchronous, and so is every call of this
// driver: a statement is one call into JavaScript that returns its rows.
// The host registers each object's database under a name (Register) with
// two functions of its own:
//
//	exec(query, args) → {columns: string[], rows: any[][]}
//	tx(fn)            → null, or an error message
//
// exec runs one query (several statements only without arguments, as in a
// migration); tx runs fn inside ctx.storage.transactionSync and rolls it
// back when fn returns a message or throws. The storage refuses BEGIN,
// COMMIT and SAVEPOINT statements, so database/sql transactions (BeginTx)
// are plain sequences of statements here: a Durable Object commits what
// one event wrote atomically, and the relay store's write transactions go
// through RunTx, which is transactionSync with a real rollback.
//
// A statement's Result counts no rows (RowsAffected returns an error):
// counting takes a statement of its own (SELECT changes()) after every
// write, and the relay never reads the count.
package dosql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/relay/edge/internal/jsx"
)

// Name is the driver's name for sql.Open.
const Name = "durable-object-sqlite"

func init() { sql.Register(Name, drv{}) }

var (
	mu  sync.Mutex
	dbs = map[string]handle{}
)

type handle struct{ exec, tx js.Value }

// Register makes the database of one object available to sql.Open(Name,
// name); a later call for the same name replaces it (a Durable Object
// rebuilt after hibernation brings a new storage object).
func Register(name string, exec, tx js.Value) {
	mu.Lock()
	dbs[name] = handle{exec, tx}
	mu.Unlock()
}

// Forget drops a registered database.
func Forget(name string) {
	mu.Lock()
	delete(dbs, name)
	mu.Unlock()
}

type drv struct{}

func (drv) Open(name string) (driver.Conn, error) {
	mu.Lock()
	h, ok := dbs[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dosql: no database registered as %q", name)
	}
	return &conn{h: h}, nil
}

type conn struct{ h handle }

var (
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) { return &stmt{c: c, q: query}, nil }
func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return c.Prepare(query)
}
func (c *conn) Close() error              { return nil }
func (c *conn) Begin() (driver.Tx, error) { return tx{}, nil }
func (c *conn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return tx{}, nil
}

// RunTx runs fn in one storage transaction: committed when fn returns nil,
// rolled back when it returns an error.
func (c *conn) RunTx(fn func() error) error {
	var ferr error
	cb := js.FuncOf(func(js.Value, []js.Value) any {
		if ferr = fn(); ferr != nil {
			return ferr.Error()
		}
		return nil
	})
	defer cb.Release()
	res := c.h.tx.Invoke(cb)
	switch {
	case ferr != nil:
		return ferr
	case res.Type() == js.TypeString:
		return errors.New("dosql: transaction: " + res.String())
	}
	return nil
}

func (c *conn) ExecContext(_ context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if _, err := c.run(query, args); err != nil {
		return nil, err
	}
	return result{}, nil
}

func (c *conn) QueryContext(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.run(query, args)
	if err != nil {
		return nil, err
	}
	return newRows(r), nil
}

// run calls exec; a JavaScript exception becomes an error.
func (c *conn) run(query string, args []driver.NamedValue) (res js.Value, err error) {
	jargs := make([]any, len(args))
	for i, a := range args {
		if jargs[i], err = toJS(a.Value); err != nil {
			return js.Value{}, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if je, isJS := r.(js.Error); isJS {
				err = fmt.Errorf("dosql: %s", je.Value.Get("message").String())
				return
			}
			panic(r)
		}
	}()
	return c.h.exec.Invoke(query, jargs), nil
}

func toJS(v driver.Value) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return float64(v), nil // the storage takes numbers; ours stay below 2^53 or only bound ranges
	case float64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		return v, nil
	case []byte:
		return jsx.Uint8Array(v).Get("buffer"), nil
	case time.Time:
		return v.UnixNano(), nil
	}
	return nil, fmt.Errorf("dosql: cannot bind %T", v)
}

// result is every statement's: it counts nothing (see the package doc).
type result struct{}

func (result) LastInsertId() (int64, error) { return 0, errors.New("dosql: no LastInsertId") }
func (result) RowsAffected() (int64, error) {
	return 0, errors.New("dosql: rows affected are not counted")
}

type tx struct{}

func (tx) Commit() error   { return nil }
func (tx) Rollback() error { return nil }

type stmt struct {
	c *conn
	q string
}

var (
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.q, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.q, args)
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

type rows struct {
	cols []string
	data js.Value
	n, i int
}

func newRows(r js.Value) *rows {
	jc := r.Get("columns")
	cols := make([]string, jc.Length())
	for i := range cols {
		cols[i] = jc.Index(i).String()
	}
	d := r.Get("rows")
	return &rows{cols: cols, data: d, n: d.Length()}
}

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Close() error      { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.i >= r.n {
		return io.EOF
	}
	row := r.data.Index(r.i)
	r.i++
	for k := range dest {
		dest[k] = fromJS(row.Index(k))
	}
	return nil
}

func fromJS(v js.Value) driver.Value {
	switch v.Type() {
	case js.TypeNull, js.TypeUndefined:
		return nil
	case js.TypeNumber:
		f := v.Float()
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
		return f
	case js.TypeString:
		return v.String()
	case js.TypeBoolean:
		if v.Bool() {
			return int64(1)
		}
		return int64(0)
	case js.TypeObject:
		return jsx.Bytes(v)
	}
	return nil
}
