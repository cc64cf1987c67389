package client

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/parley-im/parley/sdk-wasm/internal/jsonclaim"
)

// Version is this SDK's version, sent to the relay in Hello for its logs.
const Version = "0.1.0"

// Options configure a Client. Zero fields take the documented defaults; the
// fields mirror the options of the JavaScript createClient.
type Options struct {
	// Config is the core's: DeviceID, Heartbeat, HeartbeatTimeout,
	// RequestTimeout, MinBackoff, MaxBackoff, MaxAttempts, SendWindow,
	// HistoryPage, MaxFrame, TokenRefresh, each with its default. DeviceID
	// defaults to the one in Store, or a new random one that is then
	// persisted. ClientName defaults to "parley-go/<Version>" natively and
	// "parley-wasm/<Version>" under js. Rand defaults to a source seeded
	// with Seed.
	core.Config

	// URL is the relay's WebSocket endpoint, e.g. ws://127.0.0.1:8787/v1/ws.
	// Required. Every dial adds the token's user to its query
	// (?user=alice), which a relay split into shards routes by; other
	// parameters stay.
	URL string
	// Token is the JWT presented on every connect. Ignored when TokenFunc is
	// set; one of them is required.
	Token string
	// TokenFunc fetches the token before every dial. When it returns a
	// fresh token each time, set TokenRefresh too, so that an expired token
	// (4002) is replaced instead of ending the session.
	TokenFunc func(ctx context.Context) (string, error)
	// Store is the local cache; the Client owns it and closes it. Defaults
	// to a MemoryStore.
	Store Store
	// Seed seeds Rand (backoff jitter, client ids, the device id), so a test
	// replays identically. Defaults to a random seed.
	Seed uint64
	// Dial opens a connection to url. Defaults to a WebSocket:
	// coder/websocket natively, the host's WebSocket constructor under
	// js/wasm. Tests pass an in-memory pipe.
	Dial func(ctx context.Context, url string) (Socket, error)
	// OnEvent receives every event on the client's loop goroutine, in
	// order, before the operation that produced it resolves. It must not
	// block: hand the event off. Defaults to nil; On registers handlers that
	// run on a goroutine of their own instead.
	OnEvent func(core.Event)
	// OnEventJSON receives every event as the JSON text of a BridgeEvent
	// (bindings/src/bridge.gen.ts), right after OnEvent and as it does.
	// The event of a message that a store write encoded as JSON (the
	// host's storage adapter) reuses that message's JSON instead of
	// encoding it again; when the host keeps that write's batch parsed
	// (from is not nil, see NewJSStore), the event names its message in
	// the batch instead, "stored":[from.ID, index] in place of "message",
	// and CallHostEvent hands the host that message. event is valid
	// during the call only: its buffer is reused for the next event.
	// Under js/wasm only: natively it is never called. Defaults to nil.
	OnEventJSON func(event []byte, from *HostBatch)
	// Logger receives diagnostics at or above LogLevel. Defaults to nil,
	// which discards them.
	Logger func(level LogLevel, msg string)
	// LogLevel is the least severe diagnostic Logger gets. Defaults to
	// LevelWarn. LevelInfo adds every connection state change and retry.
	LogLevel LogLevel
	// ConnectTimeout bounds how long Connect waits for the relay's welcome:
	// past it Connect fails with proto.CodeConnectTimeout (retryable) while
	// the client keeps retrying in the background. Defaults to 10 s;
	// negative waits without a limit (until the context ends).
	ConnectTimeout time.Duration
}

// LogLevel orders diagnostics, as the JavaScript logLevel option does.
type LogLevel int8

// Log levels. The zero value is LevelWarn, the default.
const (
	LevelDebug  LogLevel = -8
	LevelInfo   LogLevel = -4
	LevelWarn   LogLevel = 0
	LevelError  LogLevel = 4
	LevelSilent LogLevel = 8 // nothing is logged
)

func (l LogLevel) String() string {
	switch {
	case l <= LevelDebug:
		return "debug"
	case l <= LevelInfo:
		return "info"
	case l <= LevelWarn:
		return "warn"
	case l <= LevelError:
		return "error"
	}
	return "silent"
}

// check validates what New can check before it starts the loop.
func (o *Options) check() error {
	switch {
	case o.Platform != "" && !proto.ValidPlatform(o.Platform):
		return invalidArg("client: platform " + o.Platform + " is not a platform name (lowercase letters, digits, '-')")
	case o.URL == "":
		return invalidArg("client: URL is required")
	case o.Token == "" && o.TokenFunc == nil:
		return invalidArg("client: Token or TokenFunc is required")
	case o.DeviceID != "" && !proto.ValidName(o.DeviceID):
		return invalidArg("client: invalid device id " + o.DeviceID)
	}
	return nil
}

// tokenSubject reads the user id (the sub claim) from a JWT without
// verifying it: only the relay can verify a token, but the client may use
// the claimed user to compute conversation ids before the first welcome.
// "" when tok is not a JWT with a valid user id.
func tokenSubject(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	sub := jsonclaim.TopString(raw, "sub")
	if !proto.ValidName(sub) {
		return ""
	}
	return sub
}

// pickDeviceID chooses the device id: the configured one, else the one the
// store remembers, else a new random one (with the platform's prefix) that
// the core then persists.
func pickDeviceID(configured, stored string, rnd func() uint64) string {
	if configured != "" {
		return configured
	}
	if stored != "" {
		return stored
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(rnd()))
	return deviceIDPrefix + hex.EncodeToString(b[:])
}

// invalidArg builds the error of a bad argument; out of line because its
// inlined copies cost parley.wasm more than the call.
//
//go:noinline
func invalidArg(msg string) *proto.Error {
	return &proto.Error{Code: proto.CodeInvalidArgument, Message: msg}
}
