package relay

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// Options configure a Server. The zero value is a working relay: SQLite under
// ./parley-data, in-process fan-out, any origin, the limits below.
type Options struct {
	// Data is the directory holding parley.db and, when no secret is given,
	// the generated secret file. Defaults to "./parley-data".
	Data string

	// Store keeps conversations and messages. The Server owns it after New
	// and closes it in Shutdown. Defaults to a SQLite store in Data; under
	// js/wasm, which has no SQLite, it must be set.
	Store Store

	// Bus carries fan-out between relay nodes. Defaults to an in-process
	// MemoryBus, which is right for a single node; NewNATSBus serves several.
	// The Server owns it after New and closes it in Shutdown when it has a
	// Close method.
	Bus Bus

	// Secret is the HS256 key tokens are signed with (its bytes, as given),
	// at least MinSecretBytes long. Defaults to $PARLEY_SECRET, else the file
	// Data/secret, created with 32 random bytes on first start.
	Secret string

	// TokenAudience, when set, is the aud claim every token must carry
	// (RFC 7519 §4.1.3). Defaults to empty: aud is not checked.
	TokenAudience string

	// TokenIssuer, when set, is the iss claim every token must carry
	// (RFC 7519 §4.1.1). Defaults to empty: iss is not checked.
	TokenIssuer string

	// MaxTokenTTL refuses (4001) a token whose exp − iat is above it (exp −
	// now when it has no iat). Defaults to 0: any lifetime.
	MaxTokenTTL time.Duration

	// TokenLeeway is the clock skew forgiven on a token's exp, nbf and iat.
	// A session ends (4110) this long after its token's exp unless renewed.
	// Defaults to 30 s; negative means none.
	TokenLeeway time.Duration

	// GroupIDs says who names groups: "namespaced" (a client-chosen id must
	// be g:<creator>.<rest>, so no user can squat another's ids), "server"
	// (the relay names every group; a client-chosen id is refused, 4258) or
	// "any" (any id, first come first served: one user can take an id
	// another expects and have that user's sends land in their group).
	// An empty id always gets a relay-assigned one. Defaults to
	// "namespaced".
	GroupIDs string

	// InvitePolicy is how users come into a group: "direct" (the creator
	// lists them and they are members at once). "consent" (a pending
	// invitation the invitee accepts) is not built yet and is refused.
	// Defaults to "direct".
	InvitePolicy string

	// MaxGroupsPerUser is how many groups one user may create in all; the
	// next create-group is refused (4257). Defaults to 500; negative means
	// no limit. Counted by the store, so it holds across relays.
	MaxGroupsPerUser int

	// MaxGroupsPerHour is how many groups one user may create in any hour
	// (4257 above it). Defaults to 60; negative means no limit.
	MaxGroupsPerHour int

	// Origins are the Origin patterns allowed to open a WebSocket, matched as
	// coder/websocket AcceptOptions.OriginPatterns (path.Match on the host).
	// Defaults to empty: any origin, because authentication is by token in
	// the first frame, never by cookie, so cross-site requests carry no
	// ambient authority.
	Origins []string

	// MaxFrame is the largest frame accepted, in bytes. Defaults to
	// proto.DefaultMaxFrame (64 KiB).
	MaxFrame int

	// AuthTimeout is how long a new connection has to send Hello. Defaults
	// to 10 s.
	AuthTimeout time.Duration

	// Heartbeat is the ping interval announced to clients in Welcome.
	// Defaults to 25 s.
	Heartbeat time.Duration

	// HeartbeatTimeout closes a connection (4103) that sent no frame for
	// this long. Defaults to 2.5 × Heartbeat.
	HeartbeatTimeout time.Duration

	// RateLimit is the sustained number of frames a second one connection
	// may send; above it the connection is closed (4104). Defaults to 200.
	// Negative disables the limit.
	RateLimit float64

	// RateBurst is how many frames a connection may send at once above
	// RateLimit. Defaults to 2 × RateLimit (400).
	RateBurst int

	// SendQueue is how many frames may wait for one connection's writer;
	// a connection whose queue overflows is closed (4102). Defaults to 512.
	SendQueue int

	// WriteTimeout bounds one frame write; a connection that does not take
	// a frame in time is closed (4102). Defaults to 10 s.
	WriteTimeout time.Duration

	// BatchMax is the most sends committed in one store transaction.
	// Defaults to 256.
	BatchMax int

	// Synchronous is the SQLite synchronous mode of the default store,
	// "FULL" or "NORMAL". FULL syncs the WAL on every commit so an ack
	// survives power loss; NORMAL survives a process crash only. Defaults
	// to "FULL".
	Synchronous string

	// Logger receives the relay's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with every zero field set to its documented default,
// or an error for a value that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Data == "" {
		o.Data = "./parley-data"
	}
	if o.MaxFrame == 0 {
		o.MaxFrame = proto.DefaultMaxFrame
	}
	if o.MaxFrame < 1024 {
		return o, fmt.Errorf("relay: MaxFrame %d is below 1024 bytes", o.MaxFrame)
	}
	if o.MaxTokenTTL < 0 {
		return o, fmt.Errorf("relay: MaxTokenTTL %s is negative", o.MaxTokenTTL)
	}
	switch {
	case o.TokenLeeway == 0:
		o.TokenLeeway = DefaultTokenLeeway
	case o.TokenLeeway < 0:
		o.TokenLeeway = 0
	}
	switch o.GroupIDs {
	case "":
		o.GroupIDs = rules.GroupIDsNamespaced
	case rules.GroupIDsNamespaced, rules.GroupIDsServer, rules.GroupIDsAny:
	default:
		return o, fmt.Errorf("relay: GroupIDs %q is not namespaced, server or any", o.GroupIDs)
	}
	switch o.InvitePolicy {
	case "", "direct":
		o.InvitePolicy = "direct"
	case "consent":
		return o, fmt.Errorf("relay: InvitePolicy %q is not built yet; only direct is", o.InvitePolicy)
	default:
		return o, fmt.Errorf("relay: InvitePolicy %q is not direct", o.InvitePolicy)
	}
	if o.MaxGroupsPerUser == 0 {
		o.MaxGroupsPerUser = 500
	}
	if o.MaxGroupsPerHour == 0 {
		o.MaxGroupsPerHour = 60
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 25 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = o.Heartbeat * 5 / 2
	}
	if o.RateLimit == 0 {
		o.RateLimit = 200
	}
	if o.RateBurst <= 0 {
		o.RateBurst = max(1, int(2*o.RateLimit))
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 512
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 256
	}
	switch strings.ToUpper(o.Synchronous) {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL":
		o.Synchronous = strings.ToUpper(o.Synchronous)
	default:
		return o, fmt.Errorf("relay: Synchronous %q is not FULL or NORMAL", o.Synchronous)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
