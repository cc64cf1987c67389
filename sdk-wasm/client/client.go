package client

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/parley-im/parley/sdk-wasm/driver"
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
	opts   Options
	log    *slog.Logger
	loop   *driver.Loop
	events *dispatcher

	closeOnce sync.Once
}

var _ driver.Host = (*host)(nil)

// host is the native platform for the shared loop.
type host struct{ c *Client }

func (h host) Dial(conn uint64)      { go h.c.dial(conn) }
func (h host) Event(e core.Event)    { h.c.events.push(e) }
func (h host) StoreFailed(err error) { h.c.log.Error("parley: store write failed", "err", err) }

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
	c := &Client{opts: opts, log: opts.Logger, events: newDispatcher()}
	c.loop = driver.New(host{c}, opts.Store)
	go c.loop.Run(func() (*core.Core, error) { return cr, nil })
	return c, nil
}

// do runs f on the loop goroutine and waits for it.
func (c *Client) do(f func(cr *core.Core, now time.Time)) error { return c.loop.Do(f) }

// await starts an operation on the loop and waits for its result.
func (c *Client) await(ctx context.Context, start func(cr *core.Core, now time.Time) (uint64, error)) (any, error) {
	return c.loop.Await(ctx, start)
}

// Connect starts the session and waits until the relay welcomed it, or the
// session stopped for good, or ctx ended (the client keeps trying then).
func (c *Client) Connect(ctx context.Context) error { return c.loop.Connect(ctx) }

// On registers a handler for every event; handlers run in order on one
// goroutine, never on the caller's. It returns an unsubscribe function.
func (c *Client) On(h func(core.Event)) func() { return c.events.on(h) }

// State returns the connection state.
func (c *Client) State() core.State {
	var s core.State
	if c.do(func(cr *core.Core, _ time.Time) { s = cr.State() }) != nil {
		return core.StateClosed
	}
	return s
}

// UserID returns the signed-in user once welcomed (or from the cache).
func (c *Client) UserID() string {
	var s string
	_ = c.do(func(cr *core.Core, _ time.Time) { s = cr.UserID() })
	return s
}

// DeviceID returns this device's id.
func (c *Client) DeviceID() string {
	var s string
	_ = c.do(func(cr *core.Core, _ time.Time) { s = cr.DeviceID() })
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
	v, err := c.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		op, _, err := cr.Send(now, conv, msgType, text, body)
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
	var pending core.Message
	ch, err := c.loop.Start(func(cr *core.Core, now time.Time) (uint64, error) {
		op, m, err := cr.Send(now, conv, msgType, text, body)
		pending = m
		return op, err
	})
	if err != nil {
		return core.Message{}, nil, err
	}
	out := make(chan SendResult, 1)
	go func() {
		select {
		case r := <-ch:
			m, _ := r.Value.(core.Message)
			out <- SendResult{Message: m, Err: r.Err}
		case <-c.loop.Done():
			out <- SendResult{Err: c.loop.Stopped()}
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
	v, err := c.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.Resend(now, clientID) })
	if err != nil {
		return core.Message{}, err
	}
	return v.(core.Message), nil
}

// MarkRead moves the read cursor of conv to seq (0: everything).
func (c *Client) MarkRead(ctx context.Context, conv string, seq uint64) error {
	_, err := c.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.MarkRead(now, conv, seq) })
	return err
}

// CreateGroup creates a group conversation with members (and this user).
func (c *Client) CreateGroup(ctx context.Context, id, name string, members []string) (core.Conversation, error) {
	v, err := c.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.CreateGroup(now, id, name, members) })
	if err != nil {
		return core.Conversation{}, err
	}
	return *v.(*core.Conversation), nil
}

// Conversations returns the conversation list from the local cache, most
// recent first.
func (c *Client) Conversations() []core.Conversation {
	var out []core.Conversation
	_ = c.do(func(cr *core.Core, _ time.Time) { out = cr.Conversations() })
	return out
}

// Conversation returns one conversation from the cache.
func (c *Client) Conversation(id string) (core.Conversation, bool) {
	var cv core.Conversation
	var ok bool
	_ = c.do(func(cr *core.Core, _ time.Time) { cv, ok = cr.Conversation(id) })
	return cv, ok
}

// Messages returns up to limit messages of conv before seq before (0: the
// newest, followed by the pending ones), ascending. It reads the cache
// first and asks the relay for what the cache does not hold yet.
func (c *Client) Messages(ctx context.Context, conv string, before uint64, limit int) ([]core.Message, error) {
	return c.loop.Messages(ctx, conv, before, limit)
}

// Search returns the messages cached on this device whose text contains
// text, newest first: what sync and history brought in and what this
// device sent or still has in its outbox. Matching ignores case
// (core.FoldRune) and whitespace around text; it is a substring match, so
// it finds words in languages written without spaces. Page with
// opts.Before = core.CursorOf(&page[len(page)-1]). It works offline and
// never asks the relay. Bad arguments fail with proto.CodeInvalidArgument.
func (c *Client) Search(text string, opts core.SearchOptions) ([]core.Message, error) {
	q, err := core.NewSearch(text, opts)
	if err != nil {
		return nil, err
	}
	return c.loop.Search(q)
}

// WaitSynced waits until the client is connected with nothing left to sync,
// fill or send.
func (c *Client) WaitSynced(ctx context.Context) error { return c.loop.WaitSynced(ctx) }

// Reconnect dials now if the client is waiting to retry.
func (c *Client) Reconnect() { _ = c.do(func(cr *core.Core, now time.Time) { cr.Reconnect(now) }) }

// Close ends the session, stops the loop and closes the store. Messages
// still in the outbox stay in the store for the next start.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.loop.Close()
		c.events.close()
	})
	return err
}
