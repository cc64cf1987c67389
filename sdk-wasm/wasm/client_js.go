package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// client runs a core.Core in the browser exactly as sdk-wasm/client does
// natively: one goroutine owns the core and feeds it inputs from a channel
// of closures, executes its actions in order and arms its single timer.
// Every call from JS runs on a goroutine of its own and goes through that
// channel; every call into the host goes through the hostQueue.
type client struct {
	b       *bridge
	id      int
	self    js.Value // the WasmClient object
	cfg     bridgeConfig
	level   logLevel
	host    *hostQueue
	hostObj js.Value // the WasmHost
	hasLog  bool     // hostObj.log is a function
	store   core.Store
	rng     *rand.Rand

	in   chan func(now time.Time)
	quit chan struct{}
	done chan struct{}
	// stopErr says why the loop stopped on its own (store load failed, a
	// panic); written before done is closed, read after.
	stopErr error

	// owned by the loop goroutine
	core   *core.Core
	ops    map[uint64]chan opResult
	conns  map[uint64]*socket
	synced []chan struct{}
	states []chan error

	// status backs the synchronous methods, which may not wait for the loop.
	status atomic.Pointer[status]

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

type status struct {
	state        core.State
	user, device string
}

type opResult struct {
	v   any
	err error
}

var errClosed = &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}

const dialTimeout = 10 * time.Second

func newClient(b *bridge, cfg bridgeConfig, level logLevel, hostObj js.Value, store core.Store, seed uint64) *client {
	c := &client{
		b: b, cfg: cfg, level: level, host: b.host, hostObj: hostObj, store: store,
		hasLog: hostObj.Get("log").Type() == js.TypeFunction,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		in:     make(chan func(time.Time), 256),
		quit:   make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{}),
		ops: make(map[uint64]chan opResult), conns: make(map[uint64]*socket),
	}
	c.status.Store(&status{state: core.StateIdle, device: cfg.DeviceID})
	return c
}

// loop is the only goroutine that touches the core. It loads the store
// first, so the core starts from the cached state.
func (c *client) loop() {
	defer close(c.done)
	defer func() {
		if r := recover(); r != nil {
			c.fail(panicError("the client loop", r))
		}
	}()
	snap, err := c.store.Load()
	if err != nil {
		c.fail(err)
		return
	}
	dev := pickDeviceID(c.cfg.DeviceID, snap.Meta.DeviceID, c.rng.Uint64)
	cr, err := core.New(c.cfg.coreConfig(dev, c.rng.Uint64), snap)
	if err != nil {
		c.fail(err)
		return
	}
	c.core = cr
	c.publish()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if d, ok := c.core.NextDeadline(); ok {
			timer.Reset(time.Until(d))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case f := <-c.in:
			f(time.Now())
		case <-timer.C:
			c.core.HandleTimeout(time.Now())
		case <-c.quit:
			return
		}
		c.drain()
		c.publish()
	}
}

// fail stops the client for good: every waiting and later call rejects
// with err, and the application hears a disconnected state carrying it.
func (c *client) fail(err error) {
	c.stopErr = err
	we := toWasmError(err, proto.CodePanic)
	c.logf(levelError, "parley: client stopped: %d %s", we.Code, we.Message)
	st := *c.status.Load()
	st.state = core.StateDisconnected
	c.status.Store(&st)
	c.emit(core.Event{Kind: core.EventState, State: core.StateDisconnected, Code: we.Code, Reason: we.Message})
	for id, s := range c.conns {
		delete(c.conns, id)
		s.close(1000, "client stopped")
	}
}

func (c *client) publish() {
	st := &status{state: c.core.State(), user: c.core.UserID(), device: c.core.DeviceID()}
	if old := c.status.Load(); *old != *st {
		c.status.Store(st)
	}
}

// drain executes the core's actions in order. A Persist is awaited before
// the next action, so nothing is announced or sent before it is stored.
func (c *client) drain() {
	for {
		acts := c.core.Poll()
		if len(acts) == 0 {
			break
		}
		for i := range acts {
			c.execute(&acts[i])
		}
	}
	if c.core.Synced() && len(c.synced) > 0 {
		for _, ch := range c.synced {
			close(ch)
		}
		c.synced = nil
	}
}

func (c *client) execute(a *core.Action) {
	switch a.Kind {
	case core.ActDial:
		go c.dial(a.Conn)
	case core.ActWrite:
		if s := c.conns[a.Conn]; s != nil {
			s.write(a.Bytes)
		}
	case core.ActCloseConn:
		if s := c.conns[a.Conn]; s != nil {
			delete(c.conns, a.Conn)
			s.close(a.Code, a.Reason)
		}
	case core.ActPersist:
		if err := c.store.Apply(a.Batch); err != nil {
			// The cache is behind; the relay still has everything, and the
			// next start re-syncs from the last cursor that was stored.
			c.logf(levelError, "parley: store write failed: %v", err)
		}
	case core.ActEvent:
		c.onState(a.Event)
		c.emit(a.Event)
	case core.ActResolve:
		if ch := c.ops[a.Op]; ch != nil {
			delete(c.ops, a.Op)
			ch <- opResult{a.Value, a.Err}
		}
	}
}

// emit queues one event for host.onEvent, encoded now so that it shows the
// state of this moment.
func (c *client) emit(e core.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		c.logf(levelError, "parley: encode event: %v", err)
		return
	}
	c.host.push(func() { c.hostObj.Call("onEvent", bytesToJS(b)) })
}

func (c *client) onState(e core.Event) {
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
	for _, ch := range c.states {
		ch <- err
	}
	c.states = nil
	if e.State != core.StateConnected {
		for id, s := range c.conns {
			delete(c.conns, id)
			s.close(1000, "")
		}
	}
}

// logf hands a diagnostic to host.log when the level is enabled.
func (c *client) logf(level logLevel, format string, args ...any) {
	if level < c.level || !c.hasLog {
		return
	}
	msg := fmt.Sprintf(format, args...)
	c.host.push(func() { c.hostObj.Call("log", level.String(), msg) })
}

// guard keeps a panic in a connection goroutine from taking the module down.
func (c *client) guard(where string) {
	if r := recover(); r != nil {
		c.logf(levelError, "%s", panicError(where, r).Message)
	}
}

// dial runs on its own goroutine: fetch a token, open the socket, then
// report to the loop.
func (c *client) dial(conn uint64) {
	defer c.guard("dial")
	tv, err := c.host.await(proto.CodeUnauthorized, func() js.Value { return c.hostObj.Call("token") })
	if err == nil && (tv.Type() != js.TypeString || tv.String() == "") {
		err = errors.New("host.token() did not resolve with a non-empty string")
	}
	if err != nil {
		c.logf(levelWarn, "parley: token fetch failed: %v", err)
		c.post(func(now time.Time) { c.core.HandleClosed(now, conn, 0, "token fetch failed: "+err.Error()) })
		return
	}
	token := tv.String()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	s, err := dialSocket(ctx, c.cfg.URL)
	cancel()
	if err != nil {
		c.logf(levelDebug, "parley: dial failed: %v", err)
		c.post(func(now time.Time) { c.core.HandleClosed(now, conn, 0, "dial failed: "+err.Error()) })
		return
	}
	posted := c.post(func(now time.Time) {
		if c.core.Conn() != conn {
			s.close(1000, "stale")
		} else {
			c.conns[conn] = s
		}
		go c.readLoop(conn, s)
		if c.conns[conn] == s {
			c.core.HandleOpen(now, conn, token)
		}
	})
	if !posted { // the client stopped meanwhile
		s.close(1000, "client closed")
		go c.readLoop(conn, s)
	}
}

// readLoop posts every frame of s to the loop, then its close with the
// WebSocket close code, and releases the socket's listeners.
func (c *client) readLoop(conn uint64, s *socket) {
	defer c.guard("read")
	for {
		ev, _ := s.next(context.Background())
		if ev.close {
			s.close(1000, "") // stops the writer
			s.release()
			c.post(func(now time.Time) {
				if c.conns[conn] == s {
					delete(c.conns, conn)
				}
				c.core.HandleClosed(now, conn, ev.code, ev.reason)
			})
			return
		}
		if b := ev.frame; b != nil {
			c.post(func(now time.Time) { c.core.HandleFrame(now, conn, b) })
		}
	}
}

// do runs f on the loop goroutine and waits for it.
func (c *client) do(f func(now time.Time)) error {
	ran := make(chan struct{})
	select {
	case c.in <- func(now time.Time) { f(now); close(ran) }:
	case <-c.done:
		return c.stopped()
	}
	select {
	case <-ran:
		return nil
	case <-c.done:
		return c.stopped()
	}
}

// post queues f for the loop without waiting for it to run; it reports
// false when the loop is gone.
func (c *client) post(f func(now time.Time)) bool {
	select {
	case c.in <- f:
		return true
	case <-c.done:
		return false
	}
}

// stopped is the error of a call made after the loop ended.
func (c *client) stopped() error {
	if c.stopErr != nil {
		return c.stopErr
	}
	return errClosed
}

// await starts an operation on the loop and waits for its result.
func (c *client) await(start func(now time.Time) (uint64, error)) (any, error) {
	ch := make(chan opResult, 1)
	var startErr error
	if err := c.do(func(now time.Time) {
		op, err := start(now)
		if err != nil {
			startErr = err
			return
		}
		c.ops[op] = ch
	}); err != nil {
		return nil, err
	}
	if startErr != nil {
		return nil, startErr
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-c.done:
		return nil, c.stopped()
	}
}

// The operations behind WasmClient's methods. Each runs on the goroutine of
// its call and returns JSON for the Promise to resolve with (nil: void).

func (c *client) connect() error {
	ch := make(chan error, 1)
	if err := c.do(func(now time.Time) {
		if c.core.State() == core.StateConnected {
			ch <- nil
			return
		}
		c.states = append(c.states, ch)
		c.core.Start(now)
	}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-c.done:
		return c.stopped()
	}
}

// reconnect asks the loop to dial now, without waiting: it is called on a
// js.FuncOf callback's stack.
func (c *client) reconnect() {
	f := func(now time.Time) { c.core.Reconnect(now) }
	select {
	case c.in <- f:
	default:
		go c.post(f)
	}
}

// close ends the session, stops the loop and closes the store; the outbox
// stays in the store for the next client.
func (c *client) close() error {
	c.closeOnce.Do(func() {
		_ = c.do(func(now time.Time) { c.core.Close(now) })
		close(c.quit)
		<-c.done
		for id, s := range c.conns { // the loop is gone: conns are ours now
			delete(c.conns, id)
			s.close(1000, "client closed")
		}
		c.closeErr = c.store.Close()
		c.b.forget(c)
		close(c.closed)
		// The js/wasm runtime keeps the host timeout it scheduled for the
		// loop's last deadline (up to the request timeout away) and only
		// replaces it when it goes idle with a sooner timer pending. A timer
		// that fires at once makes it replace that timeout with this one, so
		// a Node script can exit right after its last client closes.
		time.AfterFunc(time.Millisecond, func() {})
	})
	<-c.closed
	return c.closeErr
}

func (c *client) send(conv, msgType, text string, body []byte) ([]byte, error) {
	v, err := c.await(func(now time.Time) (uint64, error) {
		op, _, err := c.core.Send(now, conv, msgType, text, body)
		return op, err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(core.Message))
}

func (c *client) resend(clientID string) ([]byte, error) {
	v, err := c.await(func(now time.Time) (uint64, error) { return c.core.Resend(now, clientID) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(core.Message))
}

func (c *client) discard(clientID string) error {
	var err error
	if derr := c.do(func(now time.Time) { err = c.core.Discard(now, clientID) }); derr != nil {
		return derr
	}
	return err
}

func (c *client) markRead(conv string, seq uint64) error {
	_, err := c.await(func(now time.Time) (uint64, error) { return c.core.MarkRead(now, conv, seq) })
	return err
}

func (c *client) createGroup(id, name string, members []string) ([]byte, error) {
	v, err := c.await(func(now time.Time) (uint64, error) { return c.core.CreateGroup(now, id, name, members) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(*core.Conversation))
}

func (c *client) conversations() ([]byte, error) {
	var out []core.Conversation
	if err := c.do(func(time.Time) { out = c.core.Conversations() }); err != nil {
		return nil, err
	}
	return json.Marshal(orEmpty(out))
}

// messages returns up to limit messages of conv before seq before (0: the
// newest, followed by the pending ones), ascending. It reads the cache
// first and asks the relay for what the cache does not hold yet; offline,
// the cache is all there is. (The same plan as client.Client.Messages.)
func (c *client) messages(conv string, before uint64, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = 50
	}
	var pending []core.Message
	var covered bool
	if err := c.do(func(time.Time) {
		covered = c.core.CacheCovers(conv, before)
		if before == 0 {
			pending = c.core.Pending(conv)
		}
	}); err != nil {
		return nil, err
	}
	cached, err := c.store.Messages(conv, before, limit)
	if err != nil {
		return nil, err
	}
	if !covered { // a range the gap fill has not brought yet: ask the relay
		v, ferr := c.await(func(now time.Time) (uint64, error) { return c.core.FetchHistory(now, conv, before, limit) })
		switch {
		case ferr == nil:
			cached = v.([]core.Message)
		case errors.Is(ferr, &proto.Error{Code: proto.CodeNotConnected}):
		default:
			return nil, ferr
		}
	}
	return json.Marshal(orEmpty(append(cached, pending...)))
}

func (c *client) waitSynced() error {
	ch := make(chan struct{})
	if err := c.do(func(time.Time) {
		if c.core.Synced() {
			close(ch)
			return
		}
		c.synced = append(c.synced, ch)
	}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.stopped()
	}
}
