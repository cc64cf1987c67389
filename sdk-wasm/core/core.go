package core

import (
	"encoding/base32"
	"encoding/binary"
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

// Config configures a Core. Zero fields take the documented defaults.
type Config struct {
	// DeviceID identifies this device to the relay. Required by New.
	DeviceID string
	// ClientName goes into Hello for the relay's logs. Defaults to "parley-go".
	ClientName string
	// Platform goes into Hello: web, node, react-native, miniapp (the
	// relay's device policy limits sessions per platform). Defaults to
	// empty, which the relay counts as "other".
	Platform string
	// Heartbeat is how often to ping when the relay does not say. Defaults to 25 s.
	Heartbeat time.Duration
	// HeartbeatTimeout closes a connection on which nothing arrived for this
	// long. Defaults to heartbeat + max(heartbeat / 2, 5 s): 37.5 s with the
	// default 25 s heartbeat.
	HeartbeatTimeout time.Duration
	// RequestTimeout bounds handshakes, syncs and application requests other
	// than sends (sends wait in the outbox as long as it takes). Defaults to 15 s.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the full-jitter exponential reconnect
	// delay. Default to 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts stops reconnecting after this many failures in a row.
	// Defaults to 0, unlimited.
	MaxAttempts int
	// SendWindow is how many sends may await their ack at once. Defaults to 64.
	SendWindow int
	// HistoryPage is how many messages one gap-fill request asks for.
	// Defaults to proto.MaxPageLimit (500), the most the relay sends in one
	// page (it also stops a page at about 64 KiB of content): an offline
	// sync takes as few round trips and storage writes as the protocol
	// allows.
	HistoryPage int
	// MaxFrame bounds frames read from the relay. Defaults to 8 MiB.
	MaxFrame int
	// TokenRefresh says the driver fetches a fresh token for every dial, so
	// an expired-token close (4002) is retried instead of being terminal,
	// and shortly before the session's token expires the core asks for one
	// (ActFetchToken) to renew the session in-band. Defaults to false.
	TokenRefresh bool
	// Rand returns uniformly random 64-bit values; it drives backoff jitter
	// and client ids, so a test with a seeded source replays identically.
	// Required by New.
	Rand func() uint64
}

func (c *Config) defaults() {
	if c.ClientName == "" {
		c.ClientName = "parley-go"
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 25 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.SendWindow <= 0 {
		c.SendWindow = 64
	}
	if c.HistoryPage <= 0 || c.HistoryPage > proto.MaxPageLimit {
		c.HistoryPage = proto.MaxPageLimit
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = 8 << 20
	}
}

// Core is Parley's sans-IO client; see the package documentation for the
// contract. Its fields are grouped by the concept that owns them, and each
// concept has its file.
type Core struct {
	cfg Config

	// connection.go: the lifecycle of the current connection.
	state         State
	everConnected bool
	phase         phase
	conn          uint64 // current connection id, 0 when none
	connSeq       uint64
	attempts      int
	gaveUp        bool // disconnected by MaxAttempts, not by a terminal close: Reconnect may dial
	retryAt       time.Time
	phaseDeadline time.Time // dial + hello must finish by then
	lastRecv      time.Time
	nextPing      time.Time
	heartbeat     time.Duration
	maxFrame      int // the largest frame the relay takes (Welcome.MaxFrame)
	hbTimeout     time.Duration
	closeCode     proto.Code // from a Close frame on the current connection
	closeReason   string
	tokenWarnAt   time.Time
	renewAt       time.Time // when to ask the driver for a fresh token (TokenRefresh)
	tokenExp      int64     // unix seconds the session's token expires, 0 when unknown
	probeSent     time.Time // a probe ping went out then (zero: none pending)
	probeBy       time.Time // and the connection is dropped if nothing arrived by then
	nextReq       uint64
	reqs          map[uint64]*request // requests awaiting their reply on this connection

	// outbox.go: sends not acknowledged yet.
	outbox   []*OutboxEntry // ascending Order
	byClient map[string]*OutboxEntry
	inflight map[string]uint64    // client id → request id
	retryMsg map[string]time.Time // client id → not before
	retries  map[string]int       // client id → refusals so far, for its growing backoff
	window   int                  // the send window after a refusal, reopening by doubling; 0: Config.SendWindow
	sendOps  map[string][]uint64  // client id → operations waiting for its ack

	// conversations.go: groups asked for while offline, written on the next welcome.
	groupQueue []queuedGroup

	// conversations.go: the cache's view, sync and gap filling.
	meta      Meta
	convs     map[string]*Conversation
	ahead     map[string]map[uint64]aheadMsg
	reads     map[string]uint64 // read cursors not yet confirmed by the relay
	syncing   bool
	syncAgain bool
	inSync    bool // syncStart emitted, syncEnd not yet
	filling   map[string]bool
	fillQueue []string

	// typing.go: when this device last said it types, per conversation.
	typedAt map[string]time.Time

	// calls.go: the live calls of this device, by id.
	calls map[string]*Call
	// contacts.go: the user's feed and drafts.
	acct account

	// presence.go: subscriptions made here and the profile cache.
	pres presenceState

	// actions.go: the outputs of the input being handled.
	acts  []Action
	mark  int // index in acts where the current input's actions start
	early int // actions at mark that go ahead of the input's store write (requestEarly)
	// batch gathers the input's store writes; flush hands it over whole
	// and starts a new one, so a pointer to it names one store write
	// (Action.Stored). Never nil.
	batch *Batch
	// lastFresh is the last message setLast copied in this input, while no
	// copy of its conversation holds it (conversations.go).
	lastFresh *Message
	nextOp    uint64
}

// New returns a Core restored from snap, in StateIdle.
func New(cfg Config, snap Snapshot) (*Core, error) {
	cfg.defaults()
	if !proto.ValidName(cfg.DeviceID) {
		return nil, invalid("core: invalid device id")
	}
	if cfg.Rand == nil {
		return nil, invalid("core: Config.Rand is required")
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
		retries:  make(map[string]int),
		sendOps:  make(map[string][]uint64),
		reads:    make(map[string]uint64),
		reqs:     make(map[uint64]*request),
		filling:  make(map[string]bool),
		batch:    new(Batch),
	}
	c.meta.DeviceID = cfg.DeviceID
	c.loadAccount(snap.Meta.Account)
	c.loadProfiles(snap.Meta.Profiles) // presence.go
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

// Conn returns the id of the current connection, 0 when there is none.
func (c *Core) Conn() uint64 { return c.conn }

// P2P returns the id of the one-to-one conversation with peer.
func (c *Core) P2P(peer string) string { return proto.P2PID(c.meta.UserID, peer) }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random 16-character id from the configured source.
func (c *Core) newID() string {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:8], c.cfg.Rand())
	binary.LittleEndian.PutUint16(b[8:], uint16(c.cfg.Rand()))
	return idEncoding.EncodeToString(b[:])
}

// invalid builds the error of a bad argument; out of line because its
// inlined copies cost parley.wasm more than the call.
//
//go:noinline
func invalid(msg string) *proto.Error {
	return &proto.Error{Code: proto.CodeInvalidArgument, Message: msg}
}

// sortStrings sorts s in increasing order. The core sorts with sort.Slice,
// not the generic slices.Sort (which sort.Strings calls): each element type
// given to a generic sort links its own copy of pdqsort into parley.wasm,
// about 20 KB of code each, where sort.Slice is one copy for every type.
func sortStrings(s []string) {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
}
