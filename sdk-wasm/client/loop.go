package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}

// loop is the one goroutine that owns a client's core: inputs reach it as
// closures through a channel; it executes the core's actions in order and
// arms the core's single timer.
//
// A native store (memory, SQLite) is written synchronously: a Persist is
// applied before anything after it runs. A store that can start a write
// without waiting for it (a writeStarter: the host's storage adapter under
// js/wasm, IndexedDB in a browser) is written behind: the loop starts the
// write, in the order the core issued it, and takes its next input while
// the write commits, within the bounds of maxWrites and maxPages. Every
// read of the store after the start finds the write (the writeStarter
// contract). What comes after a write waits for it in the pipe as follows:
//
//   - after a write that puts a send into the outbox (holds), the frames
//     and events wait until it has landed: a message reaches the relay, and
//     the application hears of it as pending, only once it will survive a
//     restart, so an application that recovers its sends after a crash by
//     what its cache holds never sends one twice;
//   - after any other write (what the relay sent: messages, conversations,
//     cursors; acks) they go on at once. What the cache may lose in a crash
//     before such a write commits, the relay still has, and the next sync
//     brings it back. Waiting for those commits put one or two IndexedDB
//     transactions (3 ms at the median, over 20 ms at the 95th percentile
//     on a busy page) into the path of every live message;
//   - the results of operations wait for every write before them: an
//     operation resolves once what it did is in the cache;
//   - an early frame (core.Action.Early: the next history page's request)
//     may go ahead of held events and results, never ahead of a held frame.
//
// Frames and events keep their order among themselves, and so do results.
type loop struct {
	c     *Client
	store Store

	in    chan func(now time.Time)
	quit  chan struct{}
	ready chan struct{} // closed once the core exists
	done  chan struct{}
	// stopErr says why the loop stopped on its own; written before done is
	// closed, read after.
	stopErr error

	// owned by the loop goroutine
	core   *core.Core
	ops    map[uint64]chan core.Result
	conns  map[uint64]*conn
	synced []chan struct{}
	states []chan error
	// pipe holds the writes in flight and the actions waiting for them,
	// in the core's order. writes counts the writes not landed, messages
	// their messages.
	pipe     []step
	writes   int
	messages int
	// encoded is the batch of the last write started in this drain,
	// encodedMsgs its messages as that write encoded them and encodedHost
	// the batch as the host holds it (nil when it does not): the events
	// of those messages (core.Action.Stored) reuse them.
	encoded     *core.Batch
	encodedMsgs [][]byte
	encodedHost *HostBatch
}

// storedMsg is the message of an event as the store write of its batch
// encoded it: its JSON (nil: none), and when the host's storage keeps
// that batch parsed, the batch and the message's index in it.
type storedMsg struct {
	json  []byte
	batch *HostBatch
	at    int
}

// HostBatch is a store write's batch as the host's storage adapter was
// handed it (jsStore). The host parses the batch's JSON once, for the
// adapter; the events of its messages name their message in it
// ("stored":[ID, index] in the event's JSON, see Options.OnEventJSON)
// instead of carrying its JSON to be parsed a second time.
type HostBatch struct {
	// ID names the batch in the events' JSON; unique in the module.
	ID uint64
	// messages is the parsed batch's messages, set on the host goroutine
	// when it hands the batch to the adapter, before any event of the
	// batch is delivered (both go through the one host queue).
	messages hostValue
}

// step is one entry of loop.pipe: a write (done set) or an action waiting
// for writes before it (in the slice Poll returned, which the core does not
// touch again), with its message as encoded for the store (see
// storedJSON).
type step struct {
	done     <-chan error
	landed   bool // the write's outcome was taken
	hold     bool // the write puts a send into the outbox
	messages int  // the write's
	act      *core.Action
	msg      storedMsg
}

// The bounds of the writes in flight, which keep memory bounded when the
// store is slower than the relay: at most maxWrites writes, holding at most
// maxPages history pages of messages (a sync page's write commits while the
// next is started and the one after that is decoded). Live traffic writes
// a batch or two per message; many small writes in flight let the host's
// storage commit them together (the IndexedDB adapter merges the batches
// that queue behind a transaction), where a bound of a few writes held the
// loop, and every message behind it, for each transaction.
const (
	maxWrites = 64
	maxPages  = 3
)

// writeStarter is a Store whose writes can overlap the caller's work.
// startApply starts applying b behind every write started before it and
// returns the channel its outcome comes on (one value) and, when the store
// encodes b as the JSON of a StorageBatch, the JSON of each of b.Messages
// as written there (else nil), which the events of those messages reuse,
// and the batch as the host keeps it parsed for those events (else nil).
// Whatever is called on the store after startApply returned (Apply,
// Messages, Search, Close) finds b applied, or failed.
type writeStarter interface {
	startApply(b *core.Batch) (done <-chan error, msgs [][]byte, host *HostBatch)
}

func newLoop(c *Client, store Store) *loop {
	return &loop{
		c: c, store: store,
		in: make(chan func(time.Time), 256), quit: make(chan struct{}),
		ready: make(chan struct{}), done: make(chan struct{}),
		ops: make(map[uint64]chan core.Result), conns: make(map[uint64]*conn),
	}
}

// run is the loop goroutine. It loads the store first, here rather than in
// New, because under js/wasm the load waits on the host's Promises, which
// must not happen on a JavaScript callback's stack. When the load fails or
// the loop panics, the loop stops and every call fails with that error,
// which the application hears as a disconnected state.
func (l *loop) run() {
	defer close(l.done)
	defer func() {
		if r := recover(); r != nil {
			l.fail(&proto.Error{Code: proto.CodePanic, Message: fmt.Sprintf("the client loop panicked: %v", r)})
		}
	}()
	cr, err := l.setup()
	if err != nil {
		l.fail(err)
		return
	}
	l.core = cr
	l.c.publish(cr)
	close(l.ready)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if d, ok := l.core.NextDeadline(); ok {
			timer.Reset(time.Until(d))
		} else {
			timer.Reset(time.Hour)
		}
		var written <-chan error
		oldest := l.oldest()
		if oldest != nil {
			written = oldest.done
		}
		select {
		case f := <-l.in:
			f(time.Now())
		case <-timer.C:
			l.core.HandleTimeout(time.Now())
		case err := <-written:
			l.land(oldest, err)
			l.release()
		case <-l.quit:
			return
		}
		l.drain()
	}
}

func (l *loop) setup() (*core.Core, error) {
	snap, err := l.store.Load()
	if err != nil {
		return nil, fmt.Errorf("client: load store: %w", err)
	}
	cfg := l.c.opts.Config
	cfg.DeviceID = pickDeviceID(cfg.DeviceID, snap.Meta.DeviceID, cfg.Rand)
	return core.New(cfg, snap)
}

func (l *loop) fail(err error) {
	l.stopErr = err
	var pe *proto.Error
	if !errors.As(err, &pe) {
		pe = &proto.Error{Code: proto.CodePanic, Message: err.Error()}
	}
	l.c.logf(LevelError, "parley: client stopped: %d %s", pe.Code, pe.Message)
	l.c.stopped()
	l.c.emit(core.Event{Kind: core.EventState, State: core.StateDisconnected, Code: pe.Code, Reason: pe.Message})
	l.closeConns("client stopped")
}

func (l *loop) closeConns(reason string) {
	for id, cn := range l.conns {
		delete(l.conns, id)
		cn.close(1000, reason)
	}
}

// drain executes the core's actions in order. The status the client
// publishes is taken first: whoever an action wakes (a Connect waiting for
// the welcome, an operation waiting for its result) then reads the state
// that action came from.
func (l *loop) drain() {
	l.c.publish(l.core)
	for {
		acts := l.core.Poll()
		if len(acts) == 0 {
			break
		}
		for i := range acts {
			l.execute(&acts[i])
		}
	}
	// Every event of the batches written here is queued or delivered.
	l.encoded, l.encodedMsgs, l.encodedHost = nil, nil, nil
	if l.synced != nil && l.isSynced() {
		for _, ch := range l.synced {
			close(ch)
		}
		l.synced = nil
	}
}

// isSynced is core.Synced with no write in flight: WaitSynced returns when
// everything is stored.
func (l *loop) isSynced() bool { return len(l.pipe) == 0 && l.core.Synced() }

// execute executes a: a Persist is applied (or started, with a
// writeStarter); anything else is performed at once, or queued in the pipe
// while a write before it holds it (see loop).
func (l *loop) execute(a *core.Action) {
	switch {
	case a.Kind == core.ActPersist:
		l.persist(a.Batch)
	case len(l.pipe) == 0:
		l.perform(a, l.storedJSON(a))
	default:
		l.pipe = append(l.pipe, step{act: a, msg: l.storedJSON(a)})
		l.release()
	}
}

// storedJSON is the message of event a as the store write of its batch
// encoded it, when that write started in this drain; else none.
func (l *loop) storedJSON(a *core.Action) storedMsg {
	if a.Stored == nil || a.Stored != l.encoded || a.StoredAt < 0 || a.StoredAt >= len(l.encodedMsgs) {
		return storedMsg{}
	}
	m := storedMsg{json: l.encodedMsgs[a.StoredAt]}
	if m.json != nil { // nil: amended in the batch, announced as it was
		m.batch, m.at = l.encodedHost, a.StoredAt
	}
	return m
}

// persist writes b: synchronously, or with a writeStarter, started now
// and its outcome taken in the pipe. A refused write leaves the cache
// behind; the relay still has everything and the next start syncs it
// again.
func (l *loop) persist(b *core.Batch) {
	ws, ok := l.store.(writeStarter)
	if !ok {
		updated := l.amend(b) // lifecycle.go
		if err := l.store.Apply(b); err != nil {
			l.c.logf(LevelError, "parley: store write failed: %v", err)
		}
		for i := range updated {
			l.c.emit(core.Event{Kind: core.EventMessageUpdate, Message: &updated[i]})
		}
		return
	}
	limit := maxPages * historyPage(l.c.opts.Config)
	for l.writes >= maxWrites || (l.messages > 0 && l.messages+len(b.Messages) > limit) {
		l.awaitWrite()
	}
	// amend reads the store, which finds the writes already started.
	updated := l.amend(b)
	done, msgs, hb := ws.startApply(b)
	forgetAmended(b, msgs, updated)
	l.encoded, l.encodedMsgs, l.encodedHost = b, msgs, hb
	l.pipe = append(l.pipe, step{done: done, hold: len(b.OutboxPut) > 0, messages: len(b.Messages)})
	l.writes++
	l.messages += len(b.Messages)
	for i := range updated {
		l.execute(&core.Action{Kind: core.ActEvent, Event: core.Event{Kind: core.EventMessageUpdate, Message: &updated[i]}})
	}
}

// forgetAmended drops from msgs, the JSON of b.Messages as written, the
// messages amend changed in place (a lifecycle event of the same batch
// applied to them): their events announce them as they were stored first,
// and are encoded from themselves.
func forgetAmended(b *core.Batch, msgs [][]byte, updated []core.Message) {
	for i := range updated {
		u := &updated[i]
		for k := range msgs {
			if b.Messages[k].Seq == u.Seq && b.Messages[k].ConvID == u.ConvID {
				msgs[k] = nil
			}
		}
	}
}

// historyPage is the core's page of history for cfg (its default when
// unset or too large).
func historyPage(cfg core.Config) int {
	if cfg.HistoryPage <= 0 || cfg.HistoryPage > proto.MaxPageLimit {
		return proto.MaxPageLimit
	}
	return cfg.HistoryPage
}

// oldest is the oldest write in the pipe that has not landed, or nil.
func (l *loop) oldest() *step {
	for i := range l.pipe {
		if s := &l.pipe[i]; s.done != nil && !s.landed {
			return s
		}
	}
	return nil
}

// awaitWrite waits for the oldest write in flight to land and performs
// what it held.
func (l *loop) awaitWrite() {
	if s := l.oldest(); s != nil {
		l.land(s, <-s.done)
		l.release()
	}
}

// land takes the outcome err of write s.
func (l *loop) land(s *step, err error) {
	if err != nil {
		l.c.logf(LevelError, "parley: store write failed: %v", err)
	}
	s.landed = true
	l.writes--
	l.messages -= s.messages
}

// release performs, in order, the actions in the pipe that nothing holds
// any more (see loop), and drops the writes that have landed.
func (l *loop) release() {
	var holdsFrames, holdsResults, frameHeld bool
	keep := l.pipe[:0]
	for i := range l.pipe {
		s := l.pipe[i]
		if s.done != nil {
			if !s.landed {
				select {
				case err := <-s.done:
					l.land(&s, err)
				default:
				}
			}
			if !s.landed {
				holdsResults = true
				holdsFrames = holdsFrames || s.hold
				keep = append(keep, s)
			}
			continue
		}
		a := s.act
		switch {
		case a.Kind == core.ActResolve:
			if holdsResults {
				keep = append(keep, s)
				continue
			}
		case a.Kind == core.ActEvent:
			if holdsFrames {
				keep = append(keep, s)
				continue
			}
		case holdsFrames && (!a.Early || frameHeld):
			keep = append(keep, s)
			frameHeld = true
			continue
		}
		l.perform(a, s.msg)
	}
	clear(l.pipe[len(keep):])
	l.pipe = keep
	if len(l.pipe) == 0 {
		l.pipe = nil
	}
}

// settle waits for every write in flight and performs what waited for
// them.
func (l *loop) settle() {
	for l.writes > 0 {
		l.awaitWrite()
	}
	l.release()
}

// perform executes a, any action but a Persist; msg is an event's message
// as its store write encoded it, if any.
func (l *loop) perform(a *core.Action, msg storedMsg) {
	switch a.Kind {
	case core.ActDial:
		go l.c.dial(a.Conn)
	case core.ActWrite:
		if cn := l.conns[a.Conn]; cn != nil {
			cn.write(a.Bytes)
		}
	case core.ActCloseConn:
		if cn := l.conns[a.Conn]; cn != nil {
			delete(l.conns, a.Conn)
			cn.close(a.Code, a.Reason)
		}
	case core.ActEvent:
		l.onState(a.Event)
		l.c.emitStored(a.Event, msg)
	case core.ActFetchToken:
		go l.c.renewToken(a.Conn)
	case core.ActResolve:
		if ch := l.ops[a.Op]; ch != nil {
			delete(l.ops, a.Op)
			ch <- *a.Result
		}
	}
}

// onState settles Connect calls and drops connections the core left.
func (l *loop) onState(e core.Event) {
	if e.Kind != core.EventState {
		return
	}
	l.logState(e)
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

// logState logs a connection state change at info level, with the close
// code behind it and, while reconnecting, when the next attempt is due.
func (l *loop) logState(e core.Event) {
	if l.c.opts.Logger == nil || l.c.opts.LogLevel > LevelInfo {
		return
	}
	msg := "parley: " + string(e.State)
	if e.Code != 0 || e.Reason != "" {
		msg += fmt.Sprintf(" (%d %s)", e.Code, e.Reason)
	}
	if at := l.core.RetryAt(); e.State == core.StateReconnecting && !at.IsZero() {
		msg += fmt.Sprintf("; retrying in %v", time.Until(at).Round(time.Millisecond))
	}
	l.c.logf(LevelInfo, "%s", msg)
}

// opened hands a new connection to the loop: one the core has moved on from
// is closed, the current one is announced with token. Its reader and writer
// start either way (a closed connection's reader then reports its end, which
// the core ignores). opened reports false when the loop is gone; the caller
// then owns cn.
func (l *loop) opened(cn *conn, token string) bool {
	return l.post(func(now time.Time) {
		current := l.core.Conn() == cn.id
		if current {
			l.conns[cn.id] = cn
		} else {
			cn.close(1000, "stale")
		}
		cn.start()
		if current {
			l.core.HandleOpen(now, cn.id, token)
		}
	})
}

// gone reports that connection id ended with code (0: no close code);
// cn is nil when it never opened.
func (l *loop) gone(id uint64, cn *conn, code proto.Code, reason string) {
	l.post(func(now time.Time) {
		if cn != nil && l.conns[id] == cn {
			delete(l.conns, id)
		}
		l.core.HandleClosed(now, id, code, reason)
	})
}

// frame feeds one message read on connection id. It is decoded here, on
// the connection's reader, not on the loop: while the loop waits for the
// store to write one history page, the next is decoded (under js/wasm, in
// the time the page waits for IndexedDB to commit).
func (l *loop) frame(id uint64, b []byte) {
	f, err := l.core.DecodeFrame(b)
	l.post(func(now time.Time) { l.core.HandleDecoded(now, id, f, err) })
}

// post queues f for the loop without waiting for it to run; it reports
// false when the loop is gone. It stays out of line: its select inlined at
// every caller costs parley.wasm more than the call.
//
//go:noinline
func (l *loop) post(f func(now time.Time)) bool {
	select {
	case l.in <- f:
		return true
	case <-l.done:
		return false
	}
}

// postNow queues f without ever blocking the caller (e.g. a JavaScript
// callback): when the input channel is full, a goroutine waits instead.
func (l *loop) postNow(f func(c *core.Core, now time.Time)) {
	g := func(now time.Time) { f(l.core, now) }
	select {
	case l.in <- g:
	default:
		go l.post(g)
	}
}

// do runs f on the loop and waits for it.
func (l *loop) do(f func(c *core.Core, now time.Time)) error {
	ran := make(chan struct{})
	select {
	case l.in <- func(now time.Time) { f(l.core, now); close(ran) }:
	case <-l.done:
		return l.stopped()
	}
	select {
	case <-ran:
		return nil
	case <-l.done:
		return l.stopped()
	}
}

// stopped is the error of a call made after the loop ended.
func (l *loop) stopped() error {
	select {
	case <-l.done:
		if l.stopErr != nil {
			return l.stopErr
		}
	default:
	}
	return ErrClosed
}

// start starts an operation and returns the channel its one result will
// come on (nothing comes once the loop has stopped: select on done too).
func (l *loop) start(start func(c *core.Core, now time.Time) (uint64, error)) (<-chan core.Result, error) {
	_, ch, err := l.startOp(start)
	return ch, err
}

// startOp is start, also returning the operation's id.
func (l *loop) startOp(start func(c *core.Core, now time.Time) (uint64, error)) (uint64, <-chan core.Result, error) {
	ch := make(chan core.Result, 1)
	var startErr error
	var id uint64
	if err := l.do(func(c *core.Core, now time.Time) {
		op, err := start(c, now)
		if err != nil {
			startErr = err
			return
		}
		id = op
		l.ops[op] = ch
	}); err != nil {
		return 0, nil, err
	}
	if startErr != nil {
		return 0, nil, startErr
	}
	return id, ch, nil
}

// await starts an operation and waits for its result.
func (l *loop) await(ctx context.Context, start func(c *core.Core, now time.Time) (uint64, error)) (core.Result, error) {
	op, ch, err := l.startOp(start)
	if err != nil {
		return core.Result{}, err
	}
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		// Withdraw it: a request not yet written never will be (Core.Cancel;
		// sends are not affected and keep waiting in the outbox).
		l.postNow(func(c *core.Core, now time.Time) { c.Cancel(now, op) })
		return core.Result{}, ctx.Err()
	case <-l.done:
		return core.Result{}, l.stopped()
	}
}

// connect starts the session and waits until the relay welcomed it, or the
// session stopped for good, or ctx ended (the core keeps trying then).
func (l *loop) connect(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := l.do(func(c *core.Core, now time.Time) {
		if c.State() == core.StateConnected {
			ch <- nil
			return
		}
		l.states = append(l.states, ch)
		c.Start(now)
	}); err != nil {
		return err
	}
	var timeout <-chan time.Time
	if d := l.c.opts.ConnectTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-ch:
		return err
	case <-timeout:
		l.c.logf(LevelInfo, "parley: connect: not connected after %v; still trying in the background", l.c.opts.ConnectTimeout)
		return &proto.Error{Code: proto.CodeConnectTimeout, Message: fmt.Sprintf("not connected after %v; the client keeps trying", l.c.opts.ConnectTimeout)}
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return l.stopped()
	}
}

// waitSynced waits until the core is connected with nothing left to sync,
// fill or send, and no store write is in flight.
func (l *loop) waitSynced(ctx context.Context) error {
	ch := make(chan struct{})
	if err := l.do(func(*core.Core, time.Time) {
		if l.isSynced() {
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
		return l.stopped()
	}
}

// close closes the session, waits for the store writes in flight, stops
// the loop, closes what connections remain and the store. The outbox stays in the store for the next start.
func (l *loop) close() error {
	_ = l.do(func(c *core.Core, now time.Time) { c.Close(now) })
	_ = l.do(func(*core.Core, time.Time) { l.settle() })
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.done
	l.closeConns("client closed") // the loop is gone: the conns are ours now
	return l.store.Close()
}
