package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// bridgeConfig is the object the host passes to newClient (read by
// readConfig). Durations are in
// milliseconds; zero or absent means the client's default. Its TypeScript
// (BridgeConfig) is generated from this type: omitempty marks what the
// host may leave out.
type bridgeConfig struct {
	URL              string `json:"url"` // ws://, wss://, http:// or https://
	DeviceID         string `json:"deviceId,omitempty"`
	HeartbeatMs      int64  `json:"heartbeatMs,omitempty"`
	RequestTimeoutMs int64  `json:"requestTimeoutMs,omitempty"`
	ConnectTimeoutMs int64  `json:"connectTimeoutMs,omitempty"` // connect() gives up waiting (4906) after this; 0: 10 s
	Token            string `json:"token,omitempty"`            // a fixed token; host.token() is not called then
	MinDelayMs       int64  `json:"minDelayMs,omitempty"`
	MaxDelayMs       int64  `json:"maxDelayMs,omitempty"`
	MaxAttempts      int    `json:"maxAttempts,omitempty"`
	SendWindow       int    `json:"sendWindow,omitempty"`
	TokenRefresh     bool   `json:"tokenRefresh"`   // host.token() returns a fresh token on every call
	Seed             uint64 `json:"seed,omitempty"` // seeds backoff jitter and client ids (tests); 0: random
	LogLevel         string `json:"logLevel,omitempty" ts:"LogLevel"`
	Platform         string `json:"platform,omitempty"` // web, node, react-native, miniapp: sent in hello

	level client.LogLevel // LogLevel, parsed
}

// logLevels are the names of client.LogLevel the host may give.
var logLevels = []client.LogLevel{client.LevelDebug, client.LevelInfo, client.LevelWarn, client.LevelError, client.LevelSilent}

// maxConfigMs bounds every duration so that a mistyped value (seconds given
// as microseconds, say) is an error instead of a client that never retries.
const maxConfigMs = 24 * 60 * 60 * 1000

// check checks a BridgeConfig the host gave and completes it (the URL's
// scheme, the parsed log level).
func (cfg *bridgeConfig) check() error {
	switch {
	case strings.HasPrefix(cfg.URL, "ws://"), strings.HasPrefix(cfg.URL, "wss://"):
	case strings.HasPrefix(cfg.URL, "http://"):
		cfg.URL = "ws://" + strings.TrimPrefix(cfg.URL, "http://")
	case strings.HasPrefix(cfg.URL, "https://"):
		cfg.URL = "wss://" + strings.TrimPrefix(cfg.URL, "https://")
	default:
		return invalidArg(fmt.Sprintf("config: url %q is not a ws://, wss://, http:// or https:// URL", cfg.URL))
	}
	if cfg.DeviceID != "" && !proto.ValidName(cfg.DeviceID) {
		return invalidArg(fmt.Sprintf("config: deviceId %q is not a valid name", cfg.DeviceID))
	}
	for _, d := range []struct {
		name string
		ms   int64
	}{
		{"heartbeatMs", cfg.HeartbeatMs}, {"requestTimeoutMs", cfg.RequestTimeoutMs}, {"connectTimeoutMs", cfg.ConnectTimeoutMs},
		{"minDelayMs", cfg.MinDelayMs}, {"maxDelayMs", cfg.MaxDelayMs},
	} {
		if d.ms < 0 || d.ms > maxConfigMs {
			return invalidArg(fmt.Sprintf("config: %s %d is outside 0..%d", d.name, d.ms, maxConfigMs))
		}
	}
	if cfg.Platform != "" && !proto.ValidPlatform(cfg.Platform) {
		return invalidArg(fmt.Sprintf("config: platform %q is not a platform name (lowercase letters, digits, '-')", cfg.Platform))
	}
	if cfg.MaxAttempts < 0 || cfg.SendWindow < 0 {
		return invalidArg("config: maxAttempts and sendWindow may not be negative")
	}
	cfg.level = client.LevelWarn
	if cfg.LogLevel != "" {
		found := false
		names := make([]string, len(logLevels))
		for i, l := range logLevels {
			names[i] = l.String()
			if names[i] == cfg.LogLevel {
				cfg.level, found = l, true
			}
		}
		if !found {
			return invalidArg(fmt.Sprintf("config: logLevel %q is not one of %s", cfg.LogLevel, strings.Join(names, ", ")))
		}
	}
	return nil
}

// options maps the bridge's config onto the client's; the host's
// functions (token, storage, events, log) are added by newClient.
func (cfg *bridgeConfig) options() client.Options {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return client.Options{
		URL:            cfg.URL,
		Token:          cfg.Token,
		Seed:           cfg.Seed,
		LogLevel:       cfg.level,
		ConnectTimeout: ms(cfg.ConnectTimeoutMs),
		Config: core.Config{
			DeviceID:       cfg.DeviceID,
			Heartbeat:      ms(cfg.HeartbeatMs),
			RequestTimeout: ms(cfg.RequestTimeoutMs),
			MinBackoff:     ms(cfg.MinDelayMs),
			MaxBackoff:     ms(cfg.MaxDelayMs),
			MaxAttempts:    cfg.MaxAttempts,
			SendWindow:     cfg.SendWindow,
			TokenRefresh:   cfg.TokenRefresh,
			Platform:       cfg.Platform,
		},
	}
}

// invalidArg builds the error of a bad argument; out of line because its
// inlined copies cost parley.wasm more than the call.
//
//go:noinline
func invalidArg(msg string) *proto.Error {
	return &proto.Error{Code: proto.CodeInvalidArgument, Message: msg}
}

// wasmError is the rejection value of every Promise (WasmError in wasm.d.ts).
type wasmError struct {
	Code    proto.Code
	Message string
}

// toWasmError maps an error to its code: a *proto.Error keeps its own, any
// other error is a failure inside the SDK and gets fallback.
func toWasmError(err error, fallback proto.Code) wasmError {
	var pe *proto.Error
	if errors.As(err, &pe) {
		msg := pe.Message
		if msg == "" {
			msg = pe.Code.String()
		}
		return wasmError{Code: pe.Code, Message: msg}
	}
	return wasmError{Code: fallback, Message: err.Error()}
}

// panicError turns a recovered panic into the error a call rejects with.
func panicError(where string, r any) *proto.Error {
	return &proto.Error{Code: proto.CodePanic, Message: fmt.Sprintf("parley: internal error in %s: %v", where, r)}
}

// searchArgs is the object WasmClient.search takes: the text as typed and
// the options.
type searchArgs struct {
	Text string `json:"text"`
	core.SearchOptions
}

// check validates the argument of WasmClient.search the way the client
// will (core.NewSearch), so that bad arguments reject before any work
// starts.
func (a *searchArgs) check() error {
	_, err := core.NewSearch(a.Text, a.SearchOptions)
	return err
}
