package relay

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
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

	// Secret is the HS256 key tokens are signed with (its bytes, as given).
	// Defaults to $PARLEY_SECRET, else the file Data/secret, created with 32
	// random bytes on first start.
	Secret string

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
