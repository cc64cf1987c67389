// Package driver runs a core.Core: the loop every platform's driver shares.
// One goroutine owns the core; inputs reach it as closures through a
// channel; it executes the core's actions in order (a Persist is applied
// before anything after it, so nothing is announced or sent before it is
// stored) and arms the core's single timer. What differs per platform —
// how a connection is dialed, how an event reaches the application, what a
// failed store write means — is a Host.
//
// Used by sdk-wasm/client (native, coder/websocket) and sdk-wasm/wasm
// (js/wasm, the host's WebSocket). Methods of Loop are safe for concurrent
// use; Host methods are called on the loop goroutine and must not block.
package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Conn is an open connection as the loop sees it.
type Conn interface {
	// Write queues one binary message; it never blocks.
	Write(b []byte)
	// Close closes the connection once; it never blocks.
	Close(code proto.Code, reason string)
}

// Host is what a platform gives the loop.
type Host interface {
	// Dial opens connection conn on a goroutine of its own and reports
	// through Loop.Opened, or Loop.Post with core.HandleClosed on failure.
	Dial(conn uint64)
	// Event hands one event to the application, in order.
	Event(e core.Event)
	// StoreFailed reports a Persist the store refused: the cache is behind,
	// the relay still has everything, the next start re-syncs.
	StoreFailed(err error)
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}

// Loop runs one core.
type Loop struct {
	host  Host
	store core.Store

	in   chan func(now time.Time)
	quit chan struct{}
	done chan struct{}
	// stopErr says why the loop stopped on its own; written before done is
	// closed, read after.
	stopErr error

	// owned by the loop goroutine
	core   *core.Core
	ops    map[uint64]chan Result
	conns  map[uint64]Conn
	synced []chan struct{}
	states []chan error
	after  func(*core.Core)
}

// Result is the outcome of an operation.
type Result struct {
	Value any
	Err   error
}

// New returns a loop over store; call Run to start it.
func New(host Host, store core.Store) *Loop {
	return &Loop{
		host: host, store: store,
		in: make(chan func(time.Time), 256), quit: make(chan struct{}), done: make(chan struct{}),
		ops: make(map[uint64]chan Result), conns: make(map[uint64]Conn),
	}
}

// AfterInput registers f to run on the loop after every input, with the
// core (e.g. to publish a snapshot of its state). Call before Run.
func (l *Loop) AfterInput(f func(*core.Core)) { l.after = f }

// Run is the loop goroutine. setup runs on it first and returns the core
// (so a store whose Load waits on the host can be read there); when setup
// fails or the loop panics, the loop stops and every call fails with that
// error, which the application hears as a disconnected state.
func (l *Loop) Run(setup func() (*core.Core, error)) {
	defer close(l.done)
	defer func() {
		if r := recover(); r != nil {
			l.fail(&proto.Error{Code: proto.CodePanic, Message: fmt.Sprintf("the client loop panicked: %v", r)})
		}
	}()
	cr, err := setup()
	if err != nil {
		l.fail(err)
		return
	}
	l.core = cr
	if l.after != nil {
		l.after(cr)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if d, ok := l.core.NextDeadline(); ok {
			timer.Reset(time.Until(d))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case f := <-l.in:
			f(time.Now())
		case <-timer.C:
			l.core.HandleTimeout(time.Now())
		case <-l.quit:
			return
		}
		l.drain()
		if l.after != nil {
			l.after(l.core)
		}
	}
}

func (l *Loop) fail(err error) {
	l.stopErr = err
	var pe *proto.Error
	if !errors.As(err, &pe) {
		pe = &proto.Error{Code: proto.CodePanic, Message: err.Error()}
	}
	l.host.Event(core.Event{Kind: core.EventState, State: core.StateDisconnected, Code: pe.Code, Reason: pe.Message})
	l.closeConns("client stopped")
}

func (l *Loop) closeConns(reason string) {
	for id, c := range l.conns {
		delete(l.conns, id)
		c.Close(1000, reason)
	}
}

// drain executes the core's actions in order.
func (l *Loop) drain() {
	for {
		acts := l.core.Poll()
		if len(acts) == 0 {
			break
		}
		for i := range acts {
			l.execute(&acts[i])
		}
	}
	if l.core.Synced() && len(l.synced) > 0 {
		for _, ch := range l.synced {
			close(ch)
		}
		l.synced = nil
	}
}

func (l *Loop) execute(a *core.Action) {
	switch a.Kind {
	case core.ActDial:
		l.host.Dial(a.Conn)
	case core.ActWrite:
		if c := l.conns[a.Conn]; c != nil {
			c.Write(a.Bytes)
		}
	case core.ActCloseConn:
		if c := l.conns[a.Conn]; c != nil {
			delete(l.conns, a.Conn)
			c.Close(a.Code, a.Reason)
		}
	case core.ActPersist:
		if err := l.store.Apply(a.Batch); err != nil {
			l.host.StoreFailed(err)
		}
	case core.ActEvent:
		l.onState(a.Event)
		l.host.Event(a.Event)
	case core.ActResolve:
		if ch := l.ops[a.Op]; ch != nil {
			delete(l.ops, a.Op)
			ch <- Result{a.Value, a.Err}
		}
	}
}

// onState settles Connect calls and drops connections the core left.
func (l *Loop) onState(e core.Event) {
	if e.Kind != core.EventState {
		return
	}
	var err error
	switch e.State {
	case core.StateConnected:
	case core.StateDisconnected, core.StateClosed:
		err = &proto.Error{Code: e.Code, Message: e.Reason}
		if e.Code == 0 {
			err = &proto.Error{Code: proto.CodeClientClosed, Message: string(e.State)}
		}
	default:
		return
	}
	for _, ch := range l.states {
		ch <- err
	}
	l.states = nil
	if e.State != core.StateConnected {
		l.closeConns("")
	}
}

// Opened hands conn to the loop once it is open: a connection the core has
// moved on from is closed, the current one is announced with token. started
// runs on the loop either way (a closed connection's reader then reports
// its end, which the core ignores). Opened reports false when the loop is
// gone; the caller then owns c.
func (l *Loop) Opened(conn uint64, c Conn, token string, started func()) bool {
	return l.Post(func(now time.Time) {
		current := l.core.Conn() == conn
		if current {
			l.conns[conn] = c
		} else {
			c.Close(1000, "stale")
		}
		if started != nil {
			started()
		}
		if current {
			l.core.HandleOpen(now, conn, token)
		}
	})
}

// Gone reports that connection conn ended with code (0: no close frame).
func (l *Loop) Gone(conn uint64, c Conn, code proto.Code, reason string) {
	l.Post(func(now time.Time) {
		if l.conns[conn] == c {
			delete(l.conns, conn)
		}
		l.core.HandleClosed(now, conn, code, reason)
	})
}

// Frame feeds one message read on conn.
func (l *Loop) Frame(conn uint64, b []byte) {
	l.Post(func(now time.Time) { l.core.HandleFrame(now, conn, b) })
}

// Do runs f on the loop and waits for it.
func (l *Loop) Do(f func(c *core.Core, now time.Time)) error {
	ran := make(chan struct{})
	select {
	case l.in <- func(now time.Time) { f(l.core, now); close(ran) }:
	case <-l.done:
		return l.Stopped()
	}
	select {
	case <-ran:
		return nil
	case <-l.done:
		return l.Stopped()
	}
}

// PostNow queues f without ever blocking the caller (e.g. a js.FuncOf
// callback): when the input channel is full, a goroutine waits instead.
func (l *Loop) PostNow(f func(c *core.Core, now time.Time)) {
	g := func(now time.Time) { f(l.core, now) }
	select {
	case l.in <- g:
	default:
		go l.Post(g)
	}
}

// Post queues f for the loop without waiting; it reports false when the
// loop is gone.
func (l *Loop) Post(f func(now time.Time)) bool {
	select {
	case l.in <- f:
		return true
	case <-l.done:
		return false
	}
}

// Stopped is the error of a call made after the loop ended.
func (l *Loop) Stopped() error {
	select {
	case <-l.done:
		if l.stopErr != nil {
			return l.stopErr
		}
	default:
	}
	return ErrClosed
}

// Await starts an operation on the loop and waits for its result.
func (l *Loop) Await(ctx context.Context, start func(c *core.Core, now time.Time) (uint64, error)) (any, error) {
	ch, err := l.Start(start)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.Value, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, l.Stopped()
	}
}

// Start starts an operation and returns the channel its one result will
// come on (nothing comes once the loop has stopped: select on Done too).
func (l *Loop) Start(start func(c *core.Core, now time.Time) (uint64, error)) (<-chan Result, error) {
	ch := make(chan Result, 1)
	var startErr error
	if err := l.Do(func(c *core.Core, now time.Time) {
		op, err := start(c, now)
		if err != nil {
			startErr = err
			return
		}
		l.ops[op] = ch
	}); err != nil {
		return nil, err
	}
	if startErr != nil {
		return nil, startErr
	}
	return ch, nil
}

// Done is closed when the loop has stopped.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Connect starts the session and waits until the relay welcomed it, or the
// session stopped for good, or ctx ended (the core keeps trying then).
func (l *Loop) Connect(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := l.Do(func(c *core.Core, now time.Time) {
		if c.State() == core.StateConnected {
			ch <- nil
			return
		}
		l.states = append(l.states, ch)
		c.Start(now)
	}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return l.Stopped()
	}
}

// WaitSynced waits until the core is connected with nothing left to sync,
// fill or send.
func (l *Loop) WaitSynced(ctx context.Context) error {
	ch := make(chan struct{})
	if err := l.Do(func(c *core.Core, _ time.Time) {
		if c.Synced() {
			close(ch)
			return
		}
		l.synced = append(l.synced, ch)
	}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return l.Stopped()
	}
}

// Messages returns up to limit messages of conv before seq before (0: the
// newest, followed by the pending ones), ascending: from the cache, and from
// the relay for a range the cache cannot hold yet (core.CacheCovers).
// Offline, the cache is all there is.
func (l *Loop) Messages(ctx context.Context, conv string, before uint64, limit int) ([]core.Message, error) {
	if limit <= 0 {
		limit = 50
	}
	var pending []core.Message
	var covered bool
	if err := l.Do(func(c *core.Core, _ time.Time) {
		covered = c.CacheCovers(conv, before)
		if before == 0 {
			pending = c.Pending(conv)
		}
	}); err != nil {
		return nil, err
	}
	cached, err := l.store.Messages(conv, before, limit)
	if err != nil {
		return nil, err
	}
	if !covered {
		v, ferr := l.Await(ctx, func(c *core.Core, now time.Time) (uint64, error) { return c.FetchHistory(now, conv, before, limit) })
		switch {
		case ferr == nil:
			cached = v.([]core.Message)
		case errors.Is(ferr, &proto.Error{Code: proto.CodeNotConnected}):
		default:
			return nil, ferr
		}
	}
	return append(cached, pending...), nil
}

// Search returns the page of q from the messages cached on this device,
// newest first: what the store finds (core.Searcher) with the outbox's
// pending and failed messages merged in (core.SearchQuery.Merge). It never
// asks the relay, so it works offline. A store that cannot search fails
// with proto.CodeNotSupported.
func (l *Loop) Search(q core.SearchQuery) ([]core.Message, error) {
	s, ok := l.store.(core.Searcher)
	if !ok {
		return nil, &proto.Error{Code: proto.CodeNotSupported, Message: "this store cannot search"}
	}
	var outbox []core.Message
	if err := l.Do(func(c *core.Core, _ time.Time) { outbox = c.Pending(q.ConvID) }); err != nil {
		return nil, err
	}
	stored, err := s.Search(&q)
	if err != nil {
		return nil, err
	}
	return q.Merge(stored, outbox), nil
}

// Close closes the session, stops the loop, closes what connections remain
// and the store. The outbox stays in the store for the next start.
func (l *Loop) Close() error {
	_ = l.Do(func(c *core.Core, now time.Time) { c.Close(now) })
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.done
	l.closeConns("client closed") // the loop is gone: the conns are ours now
	return l.store.Close()
}
