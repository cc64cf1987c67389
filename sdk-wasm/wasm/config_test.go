package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// The objects' field types are checked by the readers (main_js.go), which
// testdata/node_smoke.mjs exercises in the module; these tests check the
// values, with the objects written as JSON for brevity.

func parseConfig(t *testing.T, text string) (bridgeConfig, error) {
	t.Helper()
	var cfg bridgeConfig
	if err := json.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, cfg.check()
}

func parseSearch(t *testing.T, text string) (searchArgs, error) {
	t.Helper()
	var a searchArgs
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		t.Fatal(err)
	}
	return a, a.check()
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		code       proto.Code // 0: valid
		url        string
		level      client.LogLevel
	}{
		{"minimal", `{"url":"ws://h/v1/ws","tokenRefresh":false}`, 0, "ws://h/v1/ws", client.LevelWarn},
		{"https becomes wss", `{"url":"https://h/v1/ws"}`, 0, "wss://h/v1/ws", client.LevelWarn},
		{"http becomes ws", `{"url":"http://h/v1/ws"}`, 0, "ws://h/v1/ws", client.LevelWarn},
		{"every field", `{"url":"wss://h","deviceId":"d1","heartbeatMs":1000,"requestTimeoutMs":2000,"minDelayMs":10,
			"maxDelayMs":100,"maxAttempts":3,"sendWindow":8,"tokenRefresh":true,"seed":42,"logLevel":"debug"}`, 0, "wss://h", client.LevelDebug},
		{"unknown fields are ignored", `{"url":"ws://h","future":{"x":1}}`, 0, "ws://h", client.LevelWarn},
		{"no url", `{}`, proto.CodeInvalidArgument, "", 0},
		{"ftp url", `{"url":"ftp://h"}`, proto.CodeInvalidArgument, "", 0},
		{"bad device id", `{"url":"ws://h","deviceId":"a b"}`, proto.CodeInvalidArgument, "", 0},
		{"negative duration", `{"url":"ws://h","heartbeatMs":-1}`, proto.CodeInvalidArgument, "", 0},
		{"huge duration", `{"url":"ws://h","maxDelayMs":1000000000000}`, proto.CodeInvalidArgument, "", 0},
		{"bad log level", `{"url":"ws://h","logLevel":"loud"}`, proto.CodeInvalidArgument, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(t, tc.json)
			if tc.code != 0 {
				if !errors.Is(err, &proto.Error{Code: tc.code}) {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.URL != tc.url || cfg.level != tc.level {
				t.Fatalf("url %q level %v, want %q %v", cfg.URL, cfg.level, tc.url, tc.level)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(t, `{"url":"ws://h","deviceId":"d1","heartbeatMs":1500,"requestTimeoutMs":2000,"minDelayMs":10,"maxDelayMs":100,"maxAttempts":3,"sendWindow":8,"tokenRefresh":true,"seed":9,"logLevel":"error"}`)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.options()
	if o.URL != "ws://h" || o.DeviceID != "d1" || o.Heartbeat != 1500*time.Millisecond || o.RequestTimeout != 2*time.Second ||
		o.MinBackoff != 10*time.Millisecond || o.MaxBackoff != 100*time.Millisecond || o.MaxAttempts != 3 ||
		o.SendWindow != 8 || !o.TokenRefresh || o.Seed != 9 || o.LogLevel != client.LevelError {
		t.Fatalf("options %+v", o)
	}
}

func TestToWasmError(t *testing.T) {
	t.Parallel()
	if we := toWasmError(&proto.Error{Code: proto.CodeForbidden, Message: "no"}, proto.CodePanic); we.Code != proto.CodeForbidden || we.Message != "no" {
		t.Fatalf("proto error: %+v", we)
	}
	if we := toWasmError(&proto.Error{Code: proto.CodeClientClosed}, proto.CodePanic); we.Message != "client closed" {
		t.Fatalf("empty message: %+v", we)
	}
	if we := toWasmError(errors.New("boom"), proto.CodePanic); we.Code != proto.CodePanic || we.Message != "boom" {
		t.Fatalf("plain error: %+v", we)
	}
	if pe := panicError("send", "nil map"); pe.Code != 4905 {
		t.Fatalf("panic code %d", pe.Code)
	}
}

func TestParseSearch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		code       proto.Code // 0: valid
		text       string
		limit      int
	}{
		{"text only/defaults", `{"text":"Ärger"}`, 0, "ärger", 20},
		{"every field/kept", `{"text":"hi","conversationId":"g:t","limit":5,"before":{"createdAt":9,"conversationId":"p:a:b","seq":2,"clientId":"c"}}`, 0, "hi", 5},
		{"a message as cursor/its other fields ignored", `{"text":"hi","before":{"id":"p:a:b#2","createdAt":9,"conversationId":"p:a:b","seq":2,"text":"x"}}`, 0, "hi", 20},
		{"limit 101/invalid", `{"text":"x","limit":101}`, proto.CodeInvalidArgument, "", 0},
		{"empty text/invalid", `{"text":"  "}`, proto.CodeInvalidArgument, "", 0},
		{"bad conversation/invalid", `{"text":"x","conversationId":"x"}`, proto.CodeInvalidArgument, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := parseSearch(t, tc.json)
			if tc.code != 0 {
				var pe *proto.Error
				if !errors.As(err, &pe) || pe.Code != tc.code {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			q, _ := core.NewSearch(a.Text, a.SearchOptions)
			if q.Text != tc.text || q.Limit != tc.limit {
				t.Fatalf("query %+v; want text %q, limit %d", q, tc.text, tc.limit)
			}
		})
	}
}
