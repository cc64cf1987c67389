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
	"github.com/parley-im/parley/sdk-wasm/driver"
)

// client runs a core.Core in the browser on the same loop as sdk-wasm/client
// natively (sdk-wasm/driver): one goroutine owns the core and feeds it
// inputs from a channel of closures, executes its actions in order and arms
// its single timer.
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
	loop    *driver.Loop

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

const dialTimeout = 10 * time.Second

func newClient(b *bridge, cfg bridgeConfig, level logLevel, hostObj js.Value, store core.Store, seed uint64) *client {
	c := &client{
		b: b, cfg: cfg, level: level, host: b.host, hostObj: hostObj, store: store,
		hasLog: hostObj.Get("log").Type() == js.TypeFunction,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		closed: make(chan struct{}),
	}
	c.loop = driver.New(jsHost{c}, store)
	c.loop.AfterInput(c.publish)
	c.status.Store(&status{state: core.StateIdle, device: cfg.DeviceID})
	return c
}

// jsHost is the browser (or Node) platform for the shared loop.
type jsHost struct{ c *client }

var _ driver.Host = jsHost{}

func (h jsHost) Dial(conn uint64) { go h.c.dial(conn) }

func (h jsHost) Event(e core.Event) {
	if e.Kind == core.EventState && e.State == core.StateDisconnected && e.Code == proto.CodePanic {
		h.c.logf(levelError, "parley: client stopped: %d %s", e.Code, e.Reason)
	}
	h.c.emit(e)
}

func (h jsHost) StoreFailed(err error) {
	h.c.logf(levelError, "parley: store write failed: %v", err)
}

// run is the loop goroutine. It loads the store first, on the loop, so the
// core starts from the cached state (the load waits on host Promises, which
// must not happen on a JS callback's stack).
func (c *client) run() {
	c.loop.Run(func() (*core.Core, error) {
		snap, err := c.store.Load()
		if err != nil {
			return nil, err
		}
		dev := pickDeviceID(c.cfg.DeviceID, snap.Meta.DeviceID, c.rng.Uint64)
		return core.New(c.cfg.coreConfig(dev, c.rng.Uint64), snap)
	})
	// Stopped on its own (a failed load, a panic): the synchronous methods
	// say so from now on.
	if c.loop.Stopped() != driver.ErrClosed {
		st := *c.status.Load()
		st.state = core.StateDisconnected
		c.status.Store(&st)
	}
}

// publish snapshots what the synchronous methods report.
func (c *client) publish(cr *core.Core) {
	st := &status{state: cr.State(), user: cr.UserID(), device: cr.DeviceID()}
	if old := c.status.Load(); *old != *st {
		c.status.Store(st)
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
		c.loop.Gone(conn, nil, 0, "token fetch failed: "+err.Error())
		return
	}
	token := tv.String()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	s, err := dialSocket(ctx, c.cfg.URL)
	cancel()
	if err != nil {
		c.logf(levelDebug, "parley: dial failed: %v", err)
		c.loop.Gone(conn, nil, 0, "dial failed: "+err.Error())
		return
	}
	if !c.loop.Opened(conn, s, token, func() { go c.readLoop(conn, s) }) { // the client stopped meanwhile
		s.Close(1000, "client closed")
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
			s.Close(1000, "") // stops the writer
			s.release()
			c.loop.Gone(conn, s, ev.code, ev.reason)
			return
		}
		if b := ev.frame; b != nil {
			c.loop.Frame(conn, b)
		}
	}
}

func (c *client) do(f func(cr *core.Core, now time.Time)) error { return c.loop.Do(f) }

func (c *client) await(start func(cr *core.Core, now time.Time) (uint64, error)) (any, error) {
	return c.loop.Await(context.Background(), start)
}

// The operations behind WasmClient's methods. Each runs on the goroutine of
// its call and returns JSON for the Promise to resolve with (nil: void).

func (c *client) connect() error { return c.loop.Connect(context.Background()) }

// reconnect asks the loop to dial now, without waiting: it is called on a
// js.FuncOf callback's stack.
func (c *client) reconnect() {
	c.loop.PostNow(func(cr *core.Core, now time.Time) { cr.Reconnect(now) })
}

// close ends the session, stops the loop and closes the store; the outbox
// stays in the store for the next client.
func (c *client) close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.loop.Close()
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
	v, err := c.await(func(cr *core.Core, now time.Time) (uint64, error) {
		op, _, err := cr.Send(now, conv, msgType, text, body)
		return op, err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(core.Message))
}

func (c *client) resend(clientID string) ([]byte, error) {
	v, err := c.await(func(cr *core.Core, now time.Time) (uint64, error) { return cr.Resend(now, clientID) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(core.Message))
}

func (c *client) discard(clientID string) error {
	var err error
	if derr := c.do(func(cr *core.Core, now time.Time) { err = cr.Discard(now, clientID) }); derr != nil {
		return derr
	}
	return err
}

func (c *client) markRead(conv string, seq uint64) error {
	_, err := c.await(func(cr *core.Core, now time.Time) (uint64, error) { return cr.MarkRead(now, conv, seq) })
	return err
}

func (c *client) createGroup(id, name string, members []string) ([]byte, error) {
	v, err := c.await(func(cr *core.Core, now time.Time) (uint64, error) { return cr.CreateGroup(now, id, name, members) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v.(*core.Conversation))
}

func (c *client) conversations() ([]byte, error) {
	var out []core.Conversation
	if err := c.do(func(cr *core.Core, _ time.Time) { out = cr.Conversations() }); err != nil {
		return nil, err
	}
	return json.Marshal(orEmpty(out))
}

// messages returns up to limit messages of conv before seq before (0: the
// newest, followed by the pending ones), ascending. It reads the cache
// first and asks the relay for what the cache does not hold yet; offline,
// the cache is all there is. (The same plan as client.Client.Messages.)
func (c *client) messages(conv string, before uint64, limit int) ([]byte, error) {
	msgs, err := c.loop.Messages(context.Background(), conv, before, limit)
	if err != nil {
		return nil, err
	}
	return json.Marshal(orEmpty(msgs))
}

// search returns the page of q from the cache and the outbox, newest first.
// (The same plan as client.Client.Search.)
func (c *client) search(q core.SearchQuery) ([]byte, error) {
	msgs, err := c.loop.Search(q)
	if err != nil {
		return nil, err
	}
	return json.Marshal(orEmpty(msgs))
}

func (c *client) waitSynced() error { return c.loop.WaitSynced(context.Background()) }
