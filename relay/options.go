package relay

import (
	"fmt"
	"log/slog"
	"path"
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

	// Serves, when set, is the users this relay serves: a hello whose token
	// is for another user is refused with 4015 (proto.CodeWrongShard) and
	// the connection closed. (The Workers relay gives each shard the users
	// that hash to it: ShardOf.) Defaults to nil: every user.
	Serves func(user string) bool

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

	// GroupIDs says who names groups: "server" (the relay names every
	// group; a client-chosen id is refused, 4258), "client" (a client-chosen
	// id must be g:<creator>.<rest>, so no user can squat another's ids;
	// "namespaced" is the same) or "any" (any id, first come first served:
	// one user can take an id another expects and have that user's sends
	// land in their group). An empty id always gets a relay-assigned one.
	// Defaults to "server".
	GroupIDs string

	// RecallWindow is how long after sending a sender may recall or delete
	// for everyone a message of theirs; a group's owner and admins may at
	// any time. Defaults to 2 minutes; negative means never.
	RecallWindow time.Duration

	// InvitePolicy is how users come into a group: "direct" (whoever may
	// add members lists them, and they are members at once) or "consent"
	// (each one added, at creation too, gets a pending invitation to
	// accept or decline, and is a member only once it is accepted).
	// Defaults to "direct".
	InvitePolicy string

	// MaxGroupsPerUser is how many groups one user may create in all; the
	// next create-group is refused (4257). Defaults to 500; negative means
	// no limit. Counted by the store, so it holds across relays.
	MaxGroupsPerUser int

	// MaxGroupsPerHour is how many groups one user may create in any hour
	// (4257 above it). Defaults to 60; negative means no limit.
	MaxGroupsPerHour int

	// MaxRelations caps a user's relation entries: contacts, requests made
	// and received, blocks, and the entries contacts leave when they end.
	// A request or block that would make one more for a user at the cap is
	// refused (4259); changing an existing one never is. Defaults to
	// 5,000; negative means no cap.
	MaxRelations int

	// Origins are the Origin patterns allowed to open a WebSocket: hosts
	// ("app.example.com", "*.example.com"), matched in any scheme, or
	// origins ("https://app.example.com"), whose scheme must match too (see
	// rules.AdmitOrigin). A refused origin is upgraded, then closed with
	// 4008. Defaults to empty: any origin, because authentication is by
	// token in the first frame, never by cookie, so cross-site requests
	// carry no ambient authority.
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
	// It must be above MaxInflightPerConn (when that bound is on), which
	// is how many acks one connection's sends can queue at once.
	SendQueue int

	// SendQueueBytes bounds the bytes waiting for one connection's writer,
	// as SendQueue bounds the frames; a connection above it is closed
	// (4102). One frame is always accepted into an empty queue. Defaults
	// to 4 MiB: above what one sender's UserByteRate burst can put in a
	// reading member's queue at once.
	SendQueueBytes int

	// MaxSessionsPerUser is the most sessions one user may hold open on
	// this relay node at once, all devices together; one more is closed
	// with 4106 (retryable), unless it replaces a session of the same
	// device. Several nodes each apply it to their own sessions. Defaults
	// to 64; negative disables the limit.
	MaxSessionsPerUser int

	// UserRateLimit is the sustained number of frames a second one user
	// may send across all of their sessions on this node, on top of each
	// connection's RateLimit; above it the session that sent the frame is
	// closed (4104). Its burst is twice the rate. Defaults to 1000;
	// negative disables it.
	UserRateLimit float64

	// UserByteRate is the sustained number of bytes a second one user may
	// send across all of their sessions on this node; above it the session
	// that sent the frame is closed (4104). Its burst is one second's
	// worth, and at least 4 × MaxFrame. Defaults to 2 MiB; negative
	// disables it.
	UserByteRate float64

	// WriteTimeout bounds one frame write; a connection that does not take
	// a frame in time is closed (4102). Defaults to 10 s.
	WriteTimeout time.Duration

	// BatchMax is the most sends committed in one store transaction.
	// Defaults to 256.
	BatchMax int

	// MaxInflightSends bounds the sends the relay holds admitted and not
	// answered yet (waiting for the committer or in its transaction). A
	// send beyond it is refused at once with 4301 (busy) and a retry hint,
	// instead of queueing behind seconds of backlog; the SDK keeps it in
	// its outbox and resends it after a backoff. Defaults to 1024.
	// Negative disables the bound.
	MaxInflightSends int

	// MaxInflightBytes bounds the bytes of those sends (content plus a
	// small allowance per send), the memory a burst of large messages can
	// pin. Defaults to 16 MiB. Negative disables the bound.
	MaxInflightBytes int64

	// MaxInflightPerConn bounds one connection's sends in flight, so that
	// one client cannot take the relay's whole budget. Defaults to 256
	// (the SDK's send window is 64). Negative disables the bound.
	MaxInflightPerConn int

	// MaxQueuedFrames refuses sends (4301) while more frames than this wait
	// in all connections' send queues together: fan-out the relay has not
	// written yet is backlog too, and admitting more messages would only
	// deepen it. Defaults to 65536. Negative disables the bound.
	MaxQueuedFrames int

	// MaxSendDelay refuses sends (4301) while more than two commit batches
	// (2 × BatchMax) of sends are in flight and the send answered last waited longer than this from
	// read to ack. The count bounds above hold as many seconds of work as
	// the relay happens to be slow; this one holds the wait itself, on any
	// machine. Defaults to 250 ms. Negative disables the bound.
	MaxSendDelay time.Duration

	// OverloadRetryAfter is the hint a refused send carries (ErrorBody.
	// RetryAfter): the least a client waits before resending. Defaults to
	// 200 ms.
	OverloadRetryAfter time.Duration

	// Synchronous is the SQLite synchronous mode of the default store,
	// "FULL" or "NORMAL". FULL syncs the WAL on every commit so an ack
	// survives power loss; NORMAL survives a process crash only. Defaults
	// to "FULL".
	Synchronous string

	// MaxConns is the most TCP connections Serve holds open at once, of
	// every kind (WebSockets, HTTP keep-alives, connections still sending
	// their request); one above it is closed as soon as it is accepted.
	// Defaults to 10000; negative disables the limit. Keep it below the
	// process's file descriptor limit (ulimit -n).
	MaxConns int

	// MaxConnsPerIP is the most connections Serve holds open from one
	// remote address. Defaults to 256; negative disables the limit. Behind
	// a reverse proxy every connection comes from the proxy: raise it or
	// disable it there, and limit per client at the proxy.
	MaxConnsPerIP int

	// ReadHeaderTimeout bounds how long Serve waits for a request's
	// headers. Defaults to 5 s.
	ReadHeaderTimeout time.Duration

	// ReadTimeout bounds how long Serve waits for a whole request,
	// headers and body, before the WebSocket upgrade (the upgraded
	// connection has its own heartbeat). Defaults to 15 s.
	ReadTimeout time.Duration

	// IdleTimeout closes an HTTP keep-alive connection idle this long
	// between requests. Defaults to 5 s: clients of the relay open a
	// WebSocket, not a stream of requests, so a parked connection is only
	// a held file descriptor.
	IdleTimeout time.Duration

	// DevicePolicy limits each user's sessions open at once per platform,
	// across every relay node, e.g. "web=1,node=unlimited,react-native=1,
	// miniapp=1" (rules.ParseDevicePolicy): when one more opens, the oldest
	// of that platform is closed with 4012. Defaults to empty: no limit
	// but one session per device id.
	DevicePolicy string

	// NodeID names this relay node in the store's presence counts and
	// leases. A node started again under the same id takes back, at once,
	// the sessions its killed predecessor left counted; under a new id they
	// are reclaimed when the old lease expires. Up to 64 bytes of letters,
	// digits and "._-". Defaults to a random id per process.
	NodeID string

	// NodeLease is how long a node's liveness lease lasts; the node renews
	// it, and reclaims the sessions of nodes whose lease expired, every
	// third of it. A node that dies without a word has its users offline
	// within NodeLease plus a third of it. At least 1 s. Defaults to 15 s;
	// negative turns leases off (the edge relay, one node that hibernates):
	// then the counts of a dead node stay in the store until the node,
	// started again under the same NodeID, calls Server.RestartPresence.
	NodeLease time.Duration

	// AdminSecret turns on the admin API (AdminHandler, /admin/v1/...): a
	// request must carry it as "Authorization: Bearer <secret>". At least
	// MinSecretBytes long. Defaults to empty: the admin API is off.
	AdminSecret string

	// Webhook is the URL the relay POSTs events to (after-message,
	// after-group-change, user online and offline), signed with
	// WebhookSecret. Defaults to empty: no webhooks.
	Webhook string

	// WebhookSecret signs webhook requests (HMAC-SHA256), at least
	// MinSecretBytes long. Defaults to AdminSecret; required with Webhook.
	WebhookSecret string

	// WebhookQueue is how many events may wait for delivery; an event
	// beyond it is dropped and counted (parley_webhook_dropped_total),
	// never waited for. Defaults to 4096.
	WebhookQueue int

	// WebhookTimeout bounds one webhook request. Defaults to 5 s.
	WebhookTimeout time.Duration

	// WebhookRetries is how many times a failed delivery is retried, with
	// exponential backoff from WebhookBackoff (doubling, at most 1 min).
	// Defaults to 5; negative means none.
	WebhookRetries int

	// WebhookBackoff is the wait before the first retry. Defaults to 1 s.
	WebhookBackoff time.Duration

	// Logger receives the relay's logs. Defaults to slog.Default().
	Logger *slog.Logger

	// Calls configure call signaling (calls.go).
	Calls CallOptions
	// Blobs keeps uploaded attachments (POST /v1/uploads). Defaults to a
	// LocalBlobStore in Data/uploads; NewS3BlobStore keeps them in an
	// S3-compatible bucket, which several relays can share. Under js/wasm
	// there is no default: without Blobs, uploads are not served and
	// attachment messages are refused (4215).
	Blobs BlobStore

	// MaxUpload is the largest attachment accepted, in bytes; a larger one
	// is refused with 413 (4240). Defaults to 100 MiB.
	MaxUpload int64

	// UploadTypes are the media types an upload may have ("image/png",
	// "image/*", "*/*"); others are refused with 415 (4241). Defaults to
	// DefaultUploadTypes.
	UploadTypes []string

	// UploadsPerMinute is how many uploads one user may start per minute
	// on this node, all devices together (429, 4301 above it). Defaults to
	// 60; negative disables it.
	UploadsPerMinute float64

	// UploadByteRate is the sustained number of upload bytes a second one
	// user may send on this node, with a burst of MaxUpload (429, 4301
	// above it). Defaults to 1 MiB/s; negative disables it.
	UploadByteRate float64
}

// withDefaults returns o with every zero field set to its documented default,
// or an error for a value that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Data == "" {
		o.Data = "./parley-data"
	}
	for _, p := range o.Origins {
		_, host, hasScheme := strings.Cut(p, "://")
		if !hasScheme {
			host = p
		}
		if _, err := path.Match(host, ""); err != nil || host == "" {
			return o, fmt.Errorf("relay: origin pattern %q is not a host or origin pattern", p)
		}
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
	switch {
	case o.RecallWindow == 0:
		o.RecallWindow = rules.DefaultRecallWindow
	case o.RecallWindow < 0:
		o.RecallWindow = -1
	}
	switch o.GroupIDs {
	case "":
		o.GroupIDs = rules.GroupIDsServer
	case "namespaced":
		o.GroupIDs = rules.GroupIDsClient
	case rules.GroupIDsClient, rules.GroupIDsServer, rules.GroupIDsAny:
	default:
		return o, fmt.Errorf("relay: GroupIDs %q is not server, client or any", o.GroupIDs)
	}
	switch o.InvitePolicy {
	case "", "direct":
		o.InvitePolicy = "direct"
	case "consent":
	default:
		return o, fmt.Errorf("relay: InvitePolicy %q is not direct or consent", o.InvitePolicy)
	}
	if o.MaxGroupsPerUser == 0 {
		o.MaxGroupsPerUser = 500
	}
	if o.MaxGroupsPerHour == 0 {
		o.MaxGroupsPerHour = 60
	}
	if o.MaxRelations == 0 {
		o.MaxRelations = rules.DefaultMaxRelations
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 25 * time.Second
	}
	if o.NodeLease == 0 {
		o.NodeLease = 15 * time.Second
	}
	if o.NodeLease > 0 && o.NodeLease < time.Second {
		return o, fmt.Errorf("relay: node lease %v is below 1s", o.NodeLease)
	}
	if o.NodeID != "" && !ValidNodeID(o.NodeID) {
		return o, fmt.Errorf("relay: node id %q is not 1 to 64 bytes of letters, digits and ._-", o.NodeID)
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
	if o.SendQueueBytes <= 0 {
		o.SendQueueBytes = 4 << 20
	}
	if o.MaxSessionsPerUser == 0 {
		o.MaxSessionsPerUser = 64
	}
	if o.UserRateLimit == 0 {
		o.UserRateLimit = 1000
	}
	if o.UserByteRate == 0 {
		o.UserByteRate = 2 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 256
	}
	if o.MaxInflightSends == 0 {
		o.MaxInflightSends = 1024
	}
	if o.MaxInflightBytes == 0 {
		o.MaxInflightBytes = 16 << 20
	}
	if o.MaxInflightPerConn == 0 {
		o.MaxInflightPerConn = 256
	}
	if o.MaxQueuedFrames == 0 {
		o.MaxQueuedFrames = 65536
	}
	if o.MaxSendDelay == 0 {
		o.MaxSendDelay = 250 * time.Millisecond
	}
	if o.OverloadRetryAfter <= 0 {
		o.OverloadRetryAfter = 200 * time.Millisecond
	}
	// Each send in flight is answered by an ack in the connection's send
	// queue, and the committer answers a whole batch at once: a queue no
	// longer than the window would close a client that reads promptly as
	// a slow consumer.
	if o.MaxInflightPerConn > 0 && o.SendQueue <= o.MaxInflightPerConn {
		return o, fmt.Errorf("relay: SendQueue %d is not above MaxInflightPerConn %d: the acks of a connection's sends in flight would close it as a slow consumer", o.SendQueue, o.MaxInflightPerConn)
	}
	switch strings.ToUpper(o.Synchronous) {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL":
		o.Synchronous = strings.ToUpper(o.Synchronous)
	default:
		return o, fmt.Errorf("relay: Synchronous %q is not FULL or NORMAL", o.Synchronous)
	}
	if o.MaxConns == 0 {
		o.MaxConns = 10000
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = 256
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 5 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 15 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := o.Calls.withDefaults(); err != nil {
		return o, err
	}
	return o.sessionDefaults() // sessions.go
}

// ValidNodeID reports whether id may name a relay node (Options.NodeID):
// 1 to 64 bytes of letters, digits and ._-.
func ValidNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
