package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Client is one device's session with a relay; see the package
// documentation for how it runs.
type Client struct {
	opts Options
	loop *loop
	// events runs the handlers registered with On; it starts with the
	// first of them, so a client that only has OnEvent runs no goroutine
	// for it.
	events     atomic.Pointer[dispatcher]
	eventsMu   sync.Mutex
	eventsDone bool // closed: On registers nothing more
	// eventText is the buffer the loop writes the events' JSON into for
	// OnEventJSON, reused from one event to the next.
	eventText []byte

	// status is what State, UserID and DeviceID answer without waiting for
	// the loop, which publishes it.
	status atomic.Pointer[status]

	// tokenUser is the user the token claims (unverified), for P2P before
	// the first welcome.
	tokenUser atomic.Pointer[string]

	closeOnce sync.Once
	closeErr  error
}

type status struct {
	state        core.State
	user, device string
}

// New returns a client over opts.Store. It does not connect; call Connect.
// Natively it returns the store's load error; under js/wasm, where New runs
// on a JavaScript callback that must not wait for the host's storage, the
// store loads on the client's loop and a failure stops the client instead:
// a disconnected state event, and every call fails with it.
func New(opts Options) (*Client, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Dial == nil {
		opts.Dial = dialWebSocket
	}
	if opts.ClientName == "" {
		opts.ClientName = clientName + "/" + Version
	}
	if opts.Rand == nil {
		seed := opts.Seed
		if seed == 0 {
			// The runtime seeds math/rand/v2's global source from the
			// platform's entropy; crypto/rand would add its FIPS DRBG to
			// parley.wasm (~38 KB brotli) for the same bits.
			seed = rand.Uint64() | 1
		}
		opts.Rand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Uint64
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	c := &Client{opts: opts}
	c.noteToken(opts.Token)
	c.status.Store(&status{state: core.StateIdle, device: opts.DeviceID})
	c.loop = newLoop(c, opts.Store)
	go c.loop.run()
	if newWaitsForLoad {
		select {
		case <-c.loop.ready:
		case <-c.loop.done:
			return nil, c.loop.stopped()
		}
	}
	return c, nil
}

// publish snapshots what the methods that never wait report.
func (c *Client) publish(cr *core.Core) {
	st := status{state: cr.State(), user: cr.UserID(), device: cr.DeviceID()}
	if *c.status.Load() != st {
		c.status.Store(&st)
	}
}

// stopped publishes that the loop stopped on its own.
func (c *Client) stopped() {
	st := *c.status.Load()
	st.state = core.StateDisconnected
	c.status.Store(&st)
}

// emit hands one event to the application, in order. The loop goroutine
// calls it.
func (c *Client) emit(e core.Event) { c.emitStored(e, storedMsg{}) }

// emitStored is emit for an event whose message a store write has already
// encoded (msg): OnEventJSON gets its JSON spliced in instead of encoded
// again, or its place in the batch the host keeps parsed.
func (c *Client) emitStored(e core.Event, msg storedMsg) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
	if c.opts.OnEventJSON != nil {
		if b := appendEventJSON(c.eventText[:0], &e, msg); b != nil {
			c.eventText = b
			c.opts.OnEventJSON(b, msg.batch)
		}
	}
	if d := c.events.Load(); d != nil {
		d.push(e)
	}
}

// logf hands a diagnostic to Options.Logger when its level is enabled.
func (c *Client) logf(level LogLevel, format string, args ...any) {
	if c.opts.Logger == nil || level < c.opts.LogLevel || c.opts.LogLevel >= LevelSilent {
		return
	}
	c.opts.Logger(level, fmt.Sprintf(format, args...))
}

// guard keeps a panic in a connection goroutine from taking the program
// down: that connection is lost, and the core's deadlines replace it.
func (c *Client) guard(where string) {
	if r := recover(); r != nil {
		c.logf(LevelError, "parley: internal error in %s: %v", where, r)
	}
}

// noteToken remembers the user a token claims.
func (c *Client) noteToken(tok string) {
	if u := tokenSubject(tok); u != "" {
		c.tokenUser.Store(&u)
	}
}

// Connect starts the session and waits until the relay welcomed it. It
// fails with the close code when the session stopped for good (e.g. 4001
// for a refused token, proto.CodeGaveUp when Config.MaxAttempts ran out),
// with proto.CodeConnectTimeout after Options.ConnectTimeout, and with
// ctx.Err() when ctx ends; in the last two cases the client keeps trying
// in the background and emits the connected state when it gets through.
func (c *Client) Connect(ctx context.Context) error { return c.loop.connect(ctx) }

// On registers a handler for every event; handlers run in order on one
// goroutine, never on the caller's. It returns an unsubscribe function.
func (c *Client) On(h func(core.Event)) func() {
	c.eventsMu.Lock()
	defer c.eventsMu.Unlock()
	if c.eventsDone {
		return func() {}
	}
	d := c.events.Load()
	if d == nil {
		d = newDispatcher()
		c.events.Store(d)
	}
	return d.on(h)
}

// State returns the connection state.
func (c *Client) State() core.State { return c.status.Load().state }

// UserID returns the signed-in user once welcomed (or from the cache), ""
// before.
func (c *Client) UserID() string { return c.status.Load().user }

// DeviceID returns this device's id.
func (c *Client) DeviceID() string { return c.status.Load().device }

// P2P returns the id of the one-to-one conversation with peer: "" while the
// user id is not known yet (before the first welcome, with an empty cache)
// or when peer is not a valid user id.
//
// Before the first welcome, with an empty cache, the user is the one the
// token claims (its sub, read without verification): known from the start
// with Options.Token, after the first token fetch with TokenFunc.
func (c *Client) P2P(peer string) string {
	me := c.UserID()
	if me == "" {
		if u := c.tokenUser.Load(); u != nil {
			me = *u
		}
	}
	if me == "" || !proto.ValidName(peer) {
		return ""
	}
	return proto.P2PID(me, peer)
}

// Typing tells the other members of conv that this user types: call it on
// every key press; the core sends at most one per core.TypingEvery per
// conversation, and none while not connected. Others get an EventTyping.
// It never waits (a JavaScript caller must not block on the loop), so only
// an invalid conversation id is an error.
func (c *Client) Typing(conv string) error {
	if !proto.ValidConvID(conv) {
		return &proto.Error{Code: proto.CodeInvalidArgument, Message: "typing: invalid conversation id"}
	}
	c.loop.postNow(func(cr *core.Core, now time.Time) { _ = cr.Typing(now, conv) })
	return nil
}

// SendText sends a text message and waits for its durable ack. If ctx ends
// first the message stays in the outbox and is still delivered.
func (c *Client) SendText(ctx context.Context, conv, text string) (core.Message, error) {
	return c.Send(ctx, conv, proto.MsgText, text, nil)
}

// Send sends a message of any type and waits for its durable ack.
func (c *Client) Send(ctx context.Context, conv, msgType, text string, body []byte) (core.Message, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		op, _, err := cr.Send(now, conv, msgType, text, body)
		return op, err
	})
	return deref(r.Message), err
}

// SendAsync queues a message and returns at once with the pending message
// and a channel that yields the ack (or the error) once.
func (c *Client) SendAsync(conv, msgType, text string, body []byte) (core.Message, <-chan SendResult, error) {
	return c.SendAsyncID("", conv, msgType, text, body)
}

// SendAsyncID is SendAsync with a client id chosen by the caller ("": the
// client chooses): the application knows the pending message's key before
// it asks, and a retry of the call with the same id queues nothing twice.
// Discard(clientID) cancels the send; its channel then yields
// proto.CodeAborted.
func (c *Client) SendAsyncID(clientID, conv, msgType, text string, body []byte) (core.Message, <-chan SendResult, error) {
	return c.SendAsyncWith(clientID, conv, msgType, text, body, core.SendOptions{})
}

// SendAsyncWith is SendAsyncID with a reply and mentions.
func (c *Client) SendAsyncWith(clientID, conv, msgType, text string, body []byte, opt core.SendOptions) (core.Message, <-chan SendResult, error) {
	var pending core.Message
	ch, err := c.loop.start(func(cr *core.Core, now time.Time) (uint64, error) {
		op, m, err := cr.SendWith(now, clientID, conv, msgType, text, body, opt)
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
			out <- SendResult{Message: deref(r.Message), Err: r.Err}
		case <-c.loop.done:
			out <- SendResult{Err: c.loop.stopped()}
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
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.Resend(now, clientID) })
	return deref(r.Message), err
}

// Discard drops a pending or failed message from the outbox; whoever waits
// for its ack gets proto.CodeAborted. A message already written may still be stored
// by the relay.
func (c *Client) Discard(clientID string) error {
	var err error
	if lerr := c.loop.do(func(cr *core.Core, now time.Time) { err = cr.Discard(now, clientID) }); lerr != nil {
		return lerr
	}
	return err
}

// MarkRead moves the read cursor of conv to seq (0: everything).
func (c *Client) MarkRead(ctx context.Context, conv string, seq uint64) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.MarkRead(now, conv, seq) })
	return err
}

// CreateGroup creates a group conversation with members (and this user;
// at least one other member is required). id "" lets the client choose
// one; a retry with the same id is idempotent. Offline, the request waits
// for the connection; when ctx ends before it was written, it never is.
func (c *Client) CreateGroup(ctx context.Context, id, name string, members []string) (core.Conversation, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.CreateGroup(now, id, name, members) })
	return deref(r.Conversation), err
}

// Conversations returns the conversation list from the local cache, most
// recent first.
func (c *Client) Conversations() ([]core.Conversation, error) {
	var out []core.Conversation
	err := c.loop.do(func(cr *core.Core, _ time.Time) { out = cr.Conversations() })
	return out, err
}

// Conversation returns one conversation from the cache.
func (c *Client) Conversation(id string) (core.Conversation, bool) {
	var cv core.Conversation
	var ok bool
	_ = c.loop.do(func(cr *core.Core, _ time.Time) { cv, ok = cr.Conversation(id) })
	return cv, ok
}

// Messages returns up to limit (default 50) messages of conv before seq
// before (0: the newest, followed by the pending ones), ascending: from the
// cache, and from the relay for a range the cache does not hold yet
// (core.CacheCovers) or no longer holds whole (core.CacheMisses: a store
// under a size limit evicted it; the relay's copy is cached again). Offline,
// the cache is all there is.
func (c *Client) Messages(ctx context.Context, conv string, before uint64, limit int) ([]core.Message, error) {
	ms, _, err := c.messages(ctx, conv, before, limit)
	return ms, err
}

// messages is Messages that also reports cacheOnly: the page needed the
// relay for what the cache lacks, but it could not be asked (offline), so
// the page is what the cache holds.
func (c *Client) messages(ctx context.Context, conv string, before uint64, limit int) (ms []core.Message, cacheOnly bool, err error) {
	if limit <= 0 {
		limit = 50
	}
	var pending []core.Message
	var covered bool
	if err := c.loop.do(func(cr *core.Core, _ time.Time) {
		covered = cr.CacheCovers(conv, before)
		if before == 0 {
			pending = cr.Pending(conv)
		}
	}); err != nil {
		return nil, false, err
	}
	cached, err := c.opts.Store.Messages(conv, before, limit)
	if err != nil {
		return nil, false, err
	}
	var missing []uint64
	if covered {
		// A store under a size limit may have evicted part of the page.
		if err := c.loop.do(func(cr *core.Core, _ time.Time) { missing = cr.CacheMisses(conv, before, limit, cached) }); err != nil {
			return nil, false, err
		}
	}
	if !covered || len(missing) > 0 {
		r, ferr := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
			if covered {
				return cr.RefillHistory(now, conv, before, limit, missing)
			}
			return cr.FetchHistory(now, conv, before, limit)
		})
		switch {
		case ferr == nil:
			cached = keepCached(r.Messages, cached)
		case errors.Is(ferr, &proto.Error{Code: proto.CodeNotConnected}):
			cacheOnly = true
		default:
			return nil, false, ferr
		}
	}
	return append(cached, pending...), cacheOnly, nil
}

// HistoryPage is a page of History.
type HistoryPage struct {
	Messages []core.Message // sent messages shown to this user, ascending by seq
	HasMore  bool           // older messages may be left: page on with before = Messages[0].Seq
}

// History returns up to limit (default 50, at most proto.MaxPageLimit) sent
// messages of conv before seq before (0: the newest), ascending, as Messages
// reads them but without the pending ones, and whether older ones are left.
// Entries a page does not show take seqs too (lifecycle events, messages
// deleted for this user): History reads on past them, older, until it holds
// limit messages or has read seq 1, so a page is short only when nothing
// older is shown. Seqs are contiguous from 1, so HasMore is false once
// seq 1 was read, and once the relay has nothing older. Offline the page is
// what the cache holds, and HasMore stays true while seqs this user may read
// (core.Core.ReadableBefore) are left below it: the relay still has the ones
// the cache lacks (evicted, say), and a later call online fetches them.
func (c *Client) History(ctx context.Context, conv string, before uint64, limit int) (HistoryPage, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, proto.MaxPageLimit)
	var shown []core.Message
	var oldest uint64
	cacheOnly := false
	for {
		ms, partial, err := c.messages(ctx, conv, before, limit)
		if err != nil {
			return HistoryPage{}, err
		}
		raw := ms[:0:0]
		for _, m := range ms {
			if m.Status == core.StatusSent && m.Seq > 0 {
				raw = append(raw, m)
			}
		}
		if len(raw) == 0 {
			cacheOnly = partial
			break
		}
		oldest = raw[0].Seq
		page := make([]core.Message, 0, len(raw)+len(shown))
		for _, m := range raw {
			if !proto.IsLifecycle(m.Type) && !m.Hidden {
				page = append(page, m)
			}
		}
		shown = append(page, shown...)
		if len(shown) >= limit || oldest <= 1 {
			break
		}
		before = oldest
	}
	if len(shown) > limit {
		return HistoryPage{Messages: shown[len(shown)-limit:], HasMore: true}, nil
	}
	more := oldest > 1
	if cacheOnly {
		// The cache holds nothing below before (oldest, once a read
		// returned some): the relay may, if this user can read seqs there.
		if err := c.loop.do(func(cr *core.Core, _ time.Time) { more = cr.ReadableBefore(conv, before) }); err != nil {
			return HistoryPage{}, err
		}
	}
	return HistoryPage{Messages: shown, HasMore: more}, nil
}

// keepCached returns the relay's page with the cached copy of each message
// the cache still holds (it carries what only this device knows, such as
// localTime).
func keepCached(fetched, cached []core.Message) []core.Message {
	if len(cached) == 0 {
		return fetched
	}
	bySeq := make(map[uint64]*core.Message, len(cached))
	for i := range cached {
		bySeq[cached[i].Seq] = &cached[i]
	}
	for i := range fetched {
		if m := bySeq[fetched[i].Seq]; m != nil && m.ConvID == fetched[i].ConvID {
			fetched[i] = *m
		}
	}
	return fetched
}

// Search returns the messages cached on this device whose text contains
// text, newest first: what sync and history brought in and what this
// device sent or still has in its outbox. Matching ignores case
// (core.FoldRune) and whitespace around text; it is a substring match, so
// it finds words in languages written without spaces. Page with
// opts.Before = core.CursorOf(&page[len(page)-1]). It works offline and
// never asks the relay. Bad arguments fail with proto.CodeInvalidArgument;
// a store that cannot search (not a Searcher) with proto.CodeNotSupported.
func (c *Client) Search(text string, opts core.SearchOptions) ([]core.Message, error) {
	q, err := core.NewSearch(text, opts)
	if err != nil {
		return nil, err
	}
	s, ok := c.opts.Store.(Searcher)
	if !ok {
		return nil, &proto.Error{Code: proto.CodeNotSupported, Message: "this store cannot search"}
	}
	var outbox []core.Message
	if err := c.loop.do(func(cr *core.Core, _ time.Time) { outbox = cr.Pending(q.ConvID) }); err != nil {
		return nil, err
	}
	stored, err := s.Search(&q)
	if err != nil {
		return nil, err
	}
	return q.Merge(stored, outbox), nil
}

// WaitSynced waits until the client is connected with nothing left to sync,
// fill or send.
func (c *Client) WaitSynced(ctx context.Context) error { return c.loop.waitSynced(ctx) }

// Probe checks the connection now because the platform says the network
// changed: a ping goes out, and a connection that answers nothing within
// timeout is dropped and redialled; while waiting to retry, it dials now.
// It never waits.
func (c *Client) Probe(timeout time.Duration) {
	c.loop.postNow(func(cr *core.Core, now time.Time) { cr.Probe(now, timeout) })
}

// Reconnect dials now if the client is waiting to retry or gave up after
// MaxAttempts (e.g. the network came back); a client stopped by a terminal
// close or not started stays as it is. It never waits.
func (c *Client) Reconnect() {
	c.loop.postNow(func(cr *core.Core, now time.Time) { cr.Reconnect(now) })
}

// Close ends the session, stops the loop and closes the store. Messages
// still in the outbox stay in the store for the next start.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.loop.close()
		c.eventsMu.Lock()
		c.eventsDone = true
		d := c.events.Load()
		c.eventsMu.Unlock()
		if d != nil {
			d.close()
		}
	})
	return c.closeErr
}

// deref is *p, or the zero value for nil: what an operation that failed
// returns beside its error.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
