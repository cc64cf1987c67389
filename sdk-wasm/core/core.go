package core

import (
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

type phase uint8

const (
	phaseIdle    phase = iota // no connection, maybe waiting to retry
	phaseDialing              // ActDial issued, waiting for HandleOpen
	phaseHello                // Hello written, waiting for Welcome
	phaseReady                // welcomed
)

type reqKind uint8

const (
	reqHello reqKind = iota + 1
	reqSend
	reqSync
	reqFill    // gap fill of a conversation
	reqHistory // application history request
	reqRead
	reqCreateGroup
	reqPing
)

type request struct {
	kind     reqKind
	op       uint64 // application operation to resolve, 0 for internal ones
	conv     string
	clientID string
	deadline time.Time // zero: none (sends wait for their ack)
}

type aheadMsg struct {
	m         Message
	announced bool // the application already saw it (own send, acked)
}

// maxAhead bounds out-of-order messages buffered per conversation while a
// gap is being filled; past it they are dropped and refetched by the fill.
const maxAhead = 4096

// Core is Parley's sans-IO client: feed it inputs with the current time,
// drain the resulting actions with Poll, and arm one timer at NextDeadline.
// It does no I/O, starts no goroutines and never reads the clock. A Core is
// not safe for concurrent use; its driver serialises every call.
type Core struct {
	cfg Config

	state         State
	everConnected bool
	phase         phase
	conn          uint64 // current connection id, 0 when none
	connSeq       uint64
	attempts      int
	retryAt       time.Time
	phaseDeadline time.Time // dial + hello must finish by then
	lastRecv      time.Time
	nextPing      time.Time
	heartbeat     time.Duration
	hbTimeout     time.Duration
	closeCode     proto.Code // from a Close frame on the current connection
	closeReason   string
	tokenWarnAt   time.Time

	meta  Meta
	convs map[string]*Conversation
	ahead map[string]map[uint64]aheadMsg

	outbox   []*OutboxEntry // ascending Order
	byClient map[string]*OutboxEntry
	inflight map[string]uint64    // client id → request id
	retryMsg map[string]time.Time // client id → not before
	sendOps  map[string][]uint64  // client id → operations waiting for its ack
	reads    map[string]uint64    // read cursors not yet confirmed by the relay

	nextReq uint64
	reqs    map[uint64]*request
	nextOp  uint64

	syncing   bool
	syncAgain bool
	inSync    bool // syncStart emitted, syncEnd not yet
	filling   map[string]bool
	fillQueue []string

	acts  []Action
	mark  int // index in acts where the current input's actions start
	batch Batch
}

// New returns a Core restored from snap, in StateIdle.
func New(cfg Config, snap Snapshot) (*Core, error) {
	cfg.defaults()
	if !proto.ValidName(cfg.DeviceID) {
		return nil, &proto.Error{Code: proto.CodeInvalidArgument, Message: "core: invalid device id"}
	}
	if cfg.Rand == nil {
		return nil, &proto.Error{Code: proto.CodeInvalidArgument, Message: "core: Config.Rand is required"}
	}
	c := &Core{
		cfg:      cfg,
		state:    StateIdle,
		meta:     snap.Meta,
		convs:    make(map[string]*Conversation),
		ahead:    make(map[string]map[uint64]aheadMsg),
		byClient: make(map[string]*OutboxEntry),
		inflight: make(map[string]uint64),
		retryMsg: make(map[string]time.Time),
		sendOps:  make(map[string][]uint64),
		reads:    make(map[string]uint64),
		reqs:     make(map[uint64]*request),
		filling:  make(map[string]bool),
	}
	c.meta.DeviceID = cfg.DeviceID
	for i := range snap.Conversations {
		cv := snap.Conversations[i]
		c.convs[cv.ID] = &cv
	}
	for i := range snap.Outbox {
		e := snap.Outbox[i]
		c.outbox = append(c.outbox, &e)
		c.byClient[e.Message.ClientID] = &e
		if e.Order >= c.meta.NextOrder {
			c.meta.NextOrder = e.Order + 1
		}
	}
	sort.Slice(c.outbox, func(i, j int) bool { return c.outbox[i].Order < c.outbox[j].Order })
	return c, nil
}

// State returns the connection state.
func (c *Core) State() State { return c.state }

// UserID returns the user the relay welcomed, or the cached one.
func (c *Core) UserID() string { return c.meta.UserID }

// DeviceID returns this device's id.
func (c *Core) DeviceID() string { return c.meta.DeviceID }

// Poll returns the actions produced since the last call, in order.
func (c *Core) Poll() []Action {
	a := c.acts
	c.acts = nil
	return a
}

// Start begins connecting.
func (c *Core) Start(now time.Time) {
	c.begin()
	if c.state != StateIdle && c.state != StateDisconnected {
		return
	}
	c.attempts = 0
	c.dial(now)
	c.flush()
}

// Reconnect dials at once when the core is waiting to retry or stopped by a
// non-fatal limit, e.g. because the host says the network is back.
func (c *Core) Reconnect(now time.Time) {
	c.begin()
	switch {
	case c.state == StateClosed:
		return
	case c.phase == phaseIdle:
		c.attempts = 0
		c.dial(now)
	}
	c.flush()
}

// Close ends the session: the connection is closed, waiting operations are
// rejected with CodeClientClosed, the outbox is kept for the next start.
func (c *Core) Close(now time.Time) {
	c.begin()
	if c.state == StateClosed {
		return
	}
	if c.conn != 0 {
		c.act(Action{Kind: ActCloseConn, Conn: c.conn, Code: 1000, Reason: "client closed"})
	}
	c.dropConnection()
	c.failOps(&proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}, true)
	c.setState(StateClosed, 0, "")
	c.flush()
}

func (c *Core) dial(now time.Time) {
	c.connSeq++
	c.conn = c.connSeq
	c.phase = phaseDialing
	c.closeCode, c.closeReason = 0, ""
	c.retryAt = time.Time{}
	c.phaseDeadline = now.Add(c.cfg.RequestTimeout)
	if c.everConnected {
		c.setState(StateReconnecting, 0, "")
	} else {
		c.setState(StateConnecting, 0, "")
	}
	c.act(Action{Kind: ActDial, Conn: c.conn})
}

// HandleOpen tells the core that connection conn is open; token is the
// credential to present in Hello.
func (c *Core) HandleOpen(now time.Time, conn uint64, token string) {
	c.begin()
	defer c.flush()
	if conn != c.conn || c.phase != phaseDialing {
		return
	}
	c.phase = phaseHello
	c.lastRecv = now
	c.request(now, reqHello, &request{kind: reqHello}, proto.TypeHello, &proto.Hello{
		Version: proto.Version, Token: token, DeviceID: c.meta.DeviceID, Client: c.cfg.ClientName,
	})
}

// HandleClosed tells the core that connection conn ended (or never opened),
// with the WebSocket close code when there was one (0 otherwise).
func (c *Core) HandleClosed(now time.Time, conn uint64, code proto.Code, reason string) {
	c.begin()
	defer c.flush()
	if conn != c.conn || conn == 0 {
		return
	}
	c.connectionLost(now, code, reason)
}

// connectionLost handles the end of the current connection, whoever noticed.
func (c *Core) connectionLost(now time.Time, code proto.Code, reason string) {
	if c.closeCode != 0 { // the relay said why in a Close frame; trust that over the socket's code
		code, reason = c.closeCode, c.closeReason
	}
	c.dropConnection()
	if c.state == StateClosed {
		return
	}
	terminal := code.Terminal() && !(code == proto.CodeTokenExpired && c.cfg.TokenRefresh)
	if terminal {
		c.failOps(&proto.Error{Code: code, Message: reason}, true)
		c.setState(StateDisconnected, code, reason)
		c.emit(Event{Kind: EventKicked, Code: code, Reason: reason})
		return
	}
	c.attempts++
	if c.cfg.MaxAttempts > 0 && c.attempts >= c.cfg.MaxAttempts {
		c.failOps(&proto.Error{Code: proto.CodeNotConnected, Message: "reconnect attempts exhausted"}, true)
		c.setState(StateDisconnected, code, reason)
		return
	}
	c.retryAt = now.Add(c.backoff())
	c.setState(StateReconnecting, code, reason)
}

// backoff returns a full-jitter delay: uniform in [min, min(max, min·2^attempts)].
func (c *Core) backoff() time.Duration {
	ceil := c.cfg.MinBackoff
	for i := 1; i < c.attempts && ceil < c.cfg.MaxBackoff; i++ {
		ceil *= 2
	}
	if ceil > c.cfg.MaxBackoff {
		ceil = c.cfg.MaxBackoff
	}
	span := uint64(ceil - c.cfg.MinBackoff)
	if span == 0 {
		return ceil
	}
	return c.cfg.MinBackoff + time.Duration(c.cfg.Rand()%(span+1))
}

// dropConnection forgets the current connection and everything tied to it.
func (c *Core) dropConnection() {
	c.conn = 0
	c.phase = phaseIdle
	c.phaseDeadline = time.Time{}
	c.nextPing = time.Time{}
	c.tokenWarnAt = time.Time{}
	for id, r := range c.reqs {
		if r.op != 0 && r.kind != reqSend && r.kind != reqRead {
			c.resolve(r.op, nil, &proto.Error{Code: proto.CodeNotConnected, Message: "connection lost"})
		}
		delete(c.reqs, id)
	}
	clear(c.inflight)
	clear(c.filling)
	c.fillQueue = nil
	c.syncing, c.syncAgain = false, false
}

// failOps rejects waiting operations; with sends true, also the senders
// waiting for acks (their messages stay in the outbox).
func (c *Core) failOps(err error, sends bool) {
	if !sends {
		return
	}
	for id, ops := range c.sendOps {
		for _, op := range ops {
			c.resolve(op, nil, err)
		}
		delete(c.sendOps, id)
	}
}

func (c *Core) setState(s State, code proto.Code, reason string) {
	if c.state == s && code == 0 {
		return
	}
	c.state = s
	c.emit(Event{Kind: EventState, State: s, Code: code, Reason: reason})
}

// NextDeadline returns when HandleTimeout must next be called.
func (c *Core) NextDeadline() (time.Time, bool) {
	var d time.Time
	min := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if c.phase == phaseIdle && (c.state == StateReconnecting || c.state == StateConnecting) {
		min(c.retryAt)
	}
	min(c.phaseDeadline)
	if c.phase == phaseReady {
		min(c.nextPing)
		min(c.lastRecv.Add(c.hbTimeout))
		min(c.tokenWarnAt)
		for _, t := range c.retryMsg {
			min(t)
		}
	}
	for _, r := range c.reqs {
		min(r.deadline)
	}
	return d, !d.IsZero()
}

// HandleTimeout runs every timer that is due at now.
func (c *Core) HandleTimeout(now time.Time) {
	c.begin()
	defer c.flush()
	if c.phase == phaseIdle && !c.retryAt.IsZero() && !now.Before(c.retryAt) &&
		(c.state == StateReconnecting || c.state == StateConnecting) {
		c.dial(now)
		return
	}
	if !c.phaseDeadline.IsZero() && !now.Before(c.phaseDeadline) {
		c.abort(now, proto.CodeRequestTimeout, "handshake timed out")
		return
	}
	if c.phase != phaseReady {
		return
	}
	if !now.Before(c.lastRecv.Add(c.hbTimeout)) {
		c.abort(now, proto.CodeHeartbeatTimeout, "no frame from the relay within the heartbeat timeout")
		return
	}
	for id, r := range c.reqs {
		if r.deadline.IsZero() || now.Before(r.deadline) {
			continue
		}
		if r.op == 0 { // an internal request went unanswered: the connection is not healthy
			c.abort(now, proto.CodeRequestTimeout, "relay did not answer "+kindName(r.kind))
			return
		}
		delete(c.reqs, id)
		c.resolve(r.op, nil, &proto.Error{Code: proto.CodeRequestTimeout, Message: kindName(r.kind) + " timed out"})
	}
	if !c.nextPing.IsZero() && !now.Before(c.nextPing) {
		c.write(proto.TypePing, 0, &proto.Ping{Time: now.UnixMilli()})
		c.nextPing = now.Add(c.heartbeat)
	}
	if !c.tokenWarnAt.IsZero() && !now.Before(c.tokenWarnAt) {
		c.tokenWarnAt = time.Time{}
		c.emit(Event{Kind: EventTokenWillExpire})
	}
	for id, t := range c.retryMsg {
		if !now.Before(t) {
			delete(c.retryMsg, id)
		}
	}
	c.pumpSends(now)
}

// abort closes the current connection from this side and schedules a retry.
func (c *Core) abort(now time.Time, code proto.Code, reason string) {
	if c.conn != 0 {
		c.act(Action{Kind: ActCloseConn, Conn: c.conn, Code: code, Reason: reason})
	}
	c.closeCode = 0
	c.connectionLost(now, code, reason)
}

func kindName(k reqKind) string {
	switch k {
	case reqHello:
		return "hello"
	case reqSend:
		return "send"
	case reqSync:
		return "sync"
	case reqFill, reqHistory:
		return "history"
	case reqRead:
		return "read"
	case reqCreateGroup:
		return "create group"
	}
	return "request"
}

// request writes a request frame and remembers it under a new request id.
func (c *Core) request(now time.Time, kind reqKind, r *request, t proto.Type, body any) uint64 {
	c.nextReq++
	id := c.nextReq
	if kind != reqSend && kind != reqRead {
		r.deadline = now.Add(c.cfg.RequestTimeout)
	}
	c.reqs[id] = r
	c.write(t, id, body)
	return id
}

func (c *Core) write(t proto.Type, id uint64, body any) {
	c.act(Action{Kind: ActWrite, Conn: c.conn, Bytes: proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})})
}

func (c *Core) act(a Action) { c.acts = append(c.acts, a) }

func (c *Core) emit(e Event) { c.act(Action{Kind: ActEvent, Event: e}) }

func (c *Core) resolve(op uint64, v any, err error) {
	if op != 0 {
		c.act(Action{Kind: ActResolve, Op: op, Value: v, Err: err})
	}
}

func (c *Core) newOp() uint64 {
	c.nextOp++
	return c.nextOp
}

// begin marks where the actions of a new input start.
func (c *Core) begin() { c.mark = len(c.acts) }

// flush puts the writes gathered while handling one input in front of that
// input's other actions, so that nothing is announced or sent before it is
// stored.
func (c *Core) flush() {
	if c.batch.empty() {
		return
	}
	b := c.batch
	c.batch = Batch{}
	if c.mark > len(c.acts) {
		c.mark = len(c.acts)
	}
	c.acts = append(c.acts, Action{})
	copy(c.acts[c.mark+1:], c.acts[c.mark:])
	c.acts[c.mark] = Action{Kind: ActPersist, Batch: &b}
}
