package client

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Options configure a Client. Zero fields take the documented defaults; the
// fields mirror the JavaScript createClient options.
type Options struct {
	// URL is the relay's WebSocket endpoint, e.g. ws://127.0.0.1:8787/v1/ws.
	URL string
	// Token is the JWT presented on every connect. Ignored when TokenFunc is set.
	Token string
	// TokenFunc fetches a token before every dial, so an expired token is
	// replaced without giving up.
	TokenFunc func(ctx context.Context) (string, error)
	// DeviceID identifies this device. Defaults to the one in Store, or a new
	// random one that is then persisted.
	DeviceID string
	// Store is the local cache; the Client owns it and closes it. Defaults to
	// a core.MemoryStore.
	Store core.Store
	// Heartbeat, HeartbeatTimeout, RequestTimeout, MinBackoff, MaxBackoff,
	// MaxAttempts and SendWindow are passed to the core; see core.Config.
	Heartbeat, HeartbeatTimeout, RequestTimeout time.Duration
	MinBackoff, MaxBackoff                      time.Duration
	MaxAttempts, SendWindow                     int
	// Seed seeds backoff jitter and ids. Defaults to a random seed.
	Seed uint64
	// HTTPClient dials the WebSocket. Defaults to http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives driver diagnostics. Defaults to discarding them.
	Logger *slog.Logger
}

// Version is this SDK's version, sent to the relay for its logs.
const Version = "0.1.0"

// Client runs a core.Core over real WebSockets: one goroutine owns the core
// and feeds it inputs, executes its actions and arms its single timer. Every
// method is safe for concurrent use.
type Client struct {
	opts  Options
	store core.Store
	log   *slog.Logger

	in   chan func(now time.Time)
	quit chan struct{}
	done chan struct{}

	// owned by the loop goroutine
	core    *core.Core
	ops     map[uint64]chan opResult
	conns   map[uint64]*wsConn
	synced  []chan struct{}
	states  []stateWaiter
	closing bool

	events *dispatcher

	closeOnce sync.Once
}

type opResult struct {
	v   any
	err error
}

type stateWaiter struct {
	ch chan error
}

// New opens a client over its store. It does not connect; call Connect.
func New(opts Options) (*Client, error) {
	if opts.URL == "" {
		return nil, &proto.Error{Code: proto.CodeInvalidArgument, Message: "client: URL is required"}
	}
	if opts.Token == "" && opts.TokenFunc == nil {
		return nil, &proto.Error{Code: proto.CodeInvalidArgument, Message: "client: Token or TokenFunc is required"}
	}
	if opts.Store == nil {
		opts.Store = core.NewMemoryStore()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		opts.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	snap, err := opts.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("client: load store: %w", err)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	dev := opts.DeviceID
	if dev == "" {
		dev = snap.Meta.DeviceID
	}
	if dev == "" {
		var b [6]byte
		binary.LittleEndian.PutUint32(b[:], uint32(rng.Uint64()))
		binary.LittleEndian.PutUint16(b[4:], uint16(rng.Uint64()))
		dev = "d-" + hex.EncodeToString(b[:])
	}
	cr, err := core.New(core.Config{
		DeviceID: dev, ClientName: "parley-go/" + Version,
		Heartbeat: opts.Heartbeat, HeartbeatTimeout: opts.HeartbeatTimeout, RequestTimeout: opts.RequestTimeout,
		MinBackoff: opts.MinBackoff, MaxBackoff: opts.MaxBackoff, MaxAttempts: opts.MaxAttempts,
		SendWindow: opts.SendWindow, TokenRefresh: opts.TokenFunc != nil, Rand: rng.Uint64,
	}, snap)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts: opts, store: opts.Store, log: opts.Logger, core: cr,
		in: make(chan func(time.Time), 256), quit: make(chan struct{}), done: make(chan struct{}),
		ops: make(map[uint64]chan opResult), conns: make(map[uint64]*wsConn),
		events: newDispatcher(),
	}
	go c.loop()
	return c, nil
}

// loop is the only goroutine that touches the core.
func (c *Client) loop() {
	defer close(c.done)
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
	}
}

// drain executes the core's actions in order.
func (c *Client) drain() {
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

func (c *Client) execute(a *core.Action) {
	switch a.Kind {
	case core.ActDial:
		go c.dial(a.Conn)
	case core.ActWrite:
		if wc := c.conns[a.Conn]; wc != nil {
			wc.write(a.Bytes)
		}
	case core.ActCloseConn:
		if wc := c.conns[a.Conn]; wc != nil {
			delete(c.conns, a.Conn)
			wc.close(a.Code, a.Reason)
		}
	case core.ActPersist:
		if err := c.store.Apply(a.Batch); err != nil {
			// The cache is behind; the relay still has everything, and the
			// next start re-syncs from the last cursor that was stored.
			c.log.Error("parley: store write failed", "err", err)
		}
	case core.ActEvent:
		c.onEvent(a.Event)
		c.events.push(a.Event)
	case core.ActResolve:
		if ch := c.ops[a.Op]; ch != nil {
			delete(c.ops, a.Op)
			ch <- opResult{a.Value, a.Err}
		}
	}
}

func (c *Client) onEvent(e core.Event) {
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
	for _, w := range c.states {
		w.ch <- err
	}
	c.states = nil
	if e.State != core.StateConnected {
		for id, wc := range c.conns {
			delete(c.conns, id)
			wc.close(1000, "")
		}
	}
}

// do runs f on the loop goroutine and waits for it.
func (c *Client) do(f func(now time.Time)) error {
	ran := make(chan struct{})
	select {
	case c.in <- func(now time.Time) { f(now); close(ran) }:
	case <-c.done:
		return errClosed
	}
	select {
	case <-ran:
		return nil
	case <-c.done:
		return errClosed
	}
}

// post queues f for the loop without waiting; used by connection goroutines.
func (c *Client) post(f func(now time.Time)) {
	select {
	case c.in <- f:
	case <-c.done:
	}
}

var errClosed = &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}

// await registers an operation's result channel (on the loop) and waits.
func (c *Client) await(ctx context.Context, start func(now time.Time) (uint64, error)) (any, error) {
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
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, errClosed
	}
}

// Connect starts the session and waits until the relay welcomed it, or the
// session stopped for good, or ctx ended (the client keeps trying then).
func (c *Client) Connect(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := c.do(func(now time.Time) {
		if c.core.State() == core.StateConnected {
			ch <- nil
			return
		}
		c.states = append(c.states, stateWaiter{ch})
		c.core.Start(now)
	}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// On registers a handler for every event; handlers run in order on one
// goroutine, never on the caller's. It returns an unsubscribe function.
func (c *Client) On(h func(core.Event)) func() { return c.events.on(h) }

// State returns the connection state.
func (c *Client) State() core.State {
	var s core.State
	if c.do(func(time.Time) { s = c.core.State() }) != nil {
		return core.StateClosed
	}
	return s
}

// UserID returns the signed-in user once welcomed (or from the cache).
func (c *Client) UserID() string {
	var s string
	_ = c.do(func(time.Time) { s = c.core.UserID() })
	return s
}

// DeviceID returns this device's id.
func (c *Client) DeviceID() string {
	var s string
	_ = c.do(func(time.Time) { s = c.core.DeviceID() })
	return s
}

// P2P returns the id of the one-to-one conversation with peer.
func (c *Client) P2P(peer string) string { return proto.P2PID(c.UserID(), peer) }

// SendText sends a text message and waits for its durable ack. If ctx ends
// first the message stays in the outbox and is still delivered.
func (c *Client) SendText(ctx context.Context, conv, text string) (core.Message, error) {
	return c.Send(ctx, conv, proto.MsgText, text, nil)
}

// Send sends a message of any type and waits for its durable ack.
func (c *Client) Send(ctx context.Context, conv, msgType, text string, body []byte) (core.Message, error) {
	v, err := c.await(ctx, func(now time.Time) (uint64, error) {
		op, _, err := c.core.Send(now, conv, msgType, text, body)
		return op, err
	})
	if err != nil {
		return core.Message{}, err
	}
	return v.(core.Message), nil
}

// SendAsync queues a message and returns at once with the pending message
// and a channel that yields the ack (or the error) once.
func (c *Client) SendAsync(conv, msgType, text string, body []byte) (core.Message, <-chan SendResult, error) {
	ch := make(chan opResult, 1)
	out := make(chan SendResult, 1)
	var pending core.Message
	var startErr error
	if err := c.do(func(now time.Time) {
		op, m, err := c.core.Send(now, conv, msgType, text, body)
		if err != nil {
			startErr = err
			return
		}
		pending = m
		c.ops[op] = ch
	}); err != nil {
		return core.Message{}, nil, err
	}
	if startErr != nil {
		return core.Message{}, nil, startErr
	}
	go func() {
		select {
		case r := <-ch:
			m, _ := r.v.(core.Message)
			out <- SendResult{Message: m, Err: r.err}
		case <-c.done:
			out <- SendResult{Err: errClosed}
		}
	}()
	return pending, out, nil
}

// SendResult is the outcome of SendAsync.
type SendResult struct {
	Message core.Message
	Err     error
}

// Resend puts a failed message back in the outbox and waits for its ack.
func (c *Client) Resend(ctx context.Context, clientID string) (core.Message, error) {
	v, err := c.await(ctx, func(now time.Time) (uint64, error) { return c.core.Resend(now, clientID) })
	if err != nil {
		return core.Message{}, err
	}
	return v.(core.Message), nil
}

// MarkRead moves the read cursor of conv to seq (0: everything).
func (c *Client) MarkRead(ctx context.Context, conv string, seq uint64) error {
	_, err := c.await(ctx, func(now time.Time) (uint64, error) { return c.core.MarkRead(now, conv, seq) })
	return err
}

// CreateGroup creates a group conversation with members (and this user).
func (c *Client) CreateGroup(ctx context.Context, id, name string, members []string) (core.Conversation, error) {
	v, err := c.await(ctx, func(now time.Time) (uint64, error) { return c.core.CreateGroup(now, id, name, members) })
	if err != nil {
		return core.Conversation{}, err
	}
	return *v.(*core.Conversation), nil
}

// Conversations returns the conversation list from the local cache, most
// recent first.
func (c *Client) Conversations() []core.Conversation {
	var out []core.Conversation
	_ = c.do(func(time.Time) { out = c.core.Conversations() })
	return out
}

// Conversation returns one conversation from the cache.
func (c *Client) Conversation(id string) (core.Conversation, bool) {
	var cv core.Conversation
	var ok bool
	_ = c.do(func(time.Time) { cv, ok = c.core.Conversation(id) })
	return cv, ok
}

// Messages returns up to limit messages of conv before seq before (0: the
// newest, followed by the pending ones), ascending. It reads the cache
// first and asks the relay for what the cache does not hold yet.
func (c *Client) Messages(ctx context.Context, conv string, before uint64, limit int) ([]core.Message, error) {
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
		v, ferr := c.await(ctx, func(now time.Time) (uint64, error) { return c.core.FetchHistory(now, conv, before, limit) })
		switch {
		case ferr == nil:
			cached = v.([]core.Message)
		case errors.Is(ferr, &proto.Error{Code: proto.CodeNotConnected}):
			// offline: the cache is all there is
		default:
			return nil, ferr
		}
	}
	return append(cached, pending...), nil
}

// WaitSynced waits until the client is connected with nothing left to sync,
// fill or send.
func (c *Client) WaitSynced(ctx context.Context) error {
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
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errClosed
	}
}

// Reconnect dials now if the client is waiting to retry.
func (c *Client) Reconnect() { _ = c.do(func(now time.Time) { c.core.Reconnect(now) }) }

// Close ends the session, stops the loop and closes the store. Messages
// still in the outbox stay in the store for the next start.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		_ = c.do(func(now time.Time) { c.core.Close(now) })
		close(c.quit)
		<-c.done
		for id, wc := range c.conns {
			delete(c.conns, id)
			wc.close(1000, "client closed")
		}
		c.events.close()
		err = c.store.Close()
	})
	return err
}
