package main

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		code       proto.Code // 0: valid
		url        string
		level      logLevel
	}{
		{"minimal", `{"url":"ws://h/v1/ws","tokenRefresh":false}`, 0, "ws://h/v1/ws", levelWarn},
		{"https becomes wss", `{"url":"https://h/v1/ws"}`, 0, "wss://h/v1/ws", levelWarn},
		{"http becomes ws", `{"url":"http://h/v1/ws"}`, 0, "ws://h/v1/ws", levelWarn},
		{"every field", `{"url":"wss://h","deviceId":"d1","heartbeatMs":1000,"requestTimeoutMs":2000,"minDelayMs":10,
			"maxDelayMs":100,"maxAttempts":3,"sendWindow":8,"tokenRefresh":true,"seed":42,"logLevel":"debug"}`, 0, "wss://h", levelDebug},
		{"unknown fields are ignored", `{"url":"ws://h","future":{"x":1}}`, 0, "ws://h", levelWarn},
		{"not json", `{"url":`, proto.CodeInvalidArgument, "", 0},
		{"no url", `{}`, proto.CodeInvalidArgument, "", 0},
		{"ftp url", `{"url":"ftp://h"}`, proto.CodeInvalidArgument, "", 0},
		{"bad device id", `{"url":"ws://h","deviceId":"a b"}`, proto.CodeInvalidArgument, "", 0},
		{"negative duration", `{"url":"ws://h","heartbeatMs":-1}`, proto.CodeInvalidArgument, "", 0},
		{"huge duration", `{"url":"ws://h","maxDelayMs":1e12}`, proto.CodeInvalidArgument, "", 0},
		{"fractional seed", `{"url":"ws://h","seed":1.5}`, proto.CodeInvalidArgument, "", 0},
		{"bad log level", `{"url":"ws://h","logLevel":"loud"}`, proto.CodeInvalidArgument, "", 0},
		{"trailing data", `{"url":"ws://h"} {}`, proto.CodeInvalidArgument, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, level, err := parseConfig([]byte(tc.json))
			if tc.code != 0 {
				if !errors.Is(err, &proto.Error{Code: tc.code}) {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.URL != tc.url || level != tc.level {
				t.Fatalf("url %q level %v, want %q %v", cfg.URL, level, tc.url, tc.level)
			}
		})
	}
}

func TestCoreConfig(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseConfig([]byte(`{"url":"ws://h","heartbeatMs":1500,"requestTimeoutMs":2000,"minDelayMs":10,"maxDelayMs":100,"maxAttempts":3,"sendWindow":8,"tokenRefresh":true}`))
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.coreConfig("d1", func() uint64 { return 1 })
	if cc.DeviceID != "d1" || cc.Heartbeat != 1500*time.Millisecond || cc.RequestTimeout != 2*time.Second ||
		cc.MinBackoff != 10*time.Millisecond || cc.MaxBackoff != 100*time.Millisecond || cc.MaxAttempts != 3 ||
		cc.SendWindow != 8 || !cc.TokenRefresh || cc.Rand == nil || cc.ClientName != "parley-wasm/"+Version {
		t.Fatalf("core config %+v", cc)
	}
}

func TestPickDeviceID(t *testing.T) {
	t.Parallel()
	rnd := func() uint64 { return 0xdeadbeef }
	if got := pickDeviceID("cfg", "stored", rnd); got != "cfg" {
		t.Fatalf("configured: %q", got)
	}
	if got := pickDeviceID("", "stored", rnd); got != "stored" {
		t.Fatalf("stored: %q", got)
	}
	got := pickDeviceID("", "", rnd)
	if !regexp.MustCompile(`^w-[0-9a-f]{8}$`).MatchString(got) || !proto.ValidName(got) {
		t.Fatalf("generated: %q", got)
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

func TestClip(t *testing.T) {
	t.Parallel()
	if got := clip("héllo", 2); got != "h" {
		t.Fatalf("clip split a rune: %q", got)
	}
	if got := clip("abc", 5); got != "abc" {
		t.Fatalf("short: %q", got)
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
		{"not json/invalid", `{"text":`, proto.CodeInvalidArgument, "", 0},
		{"text a number/invalid", `{"text":1}`, proto.CodeInvalidArgument, "", 0},
		{"fractional limit/invalid", `{"text":"x","limit":1.5}`, proto.CodeInvalidArgument, "", 0},
		{"limit 101/invalid", `{"text":"x","limit":101}`, proto.CodeInvalidArgument, "", 0},
		{"empty text/invalid", `{"text":"  "}`, proto.CodeInvalidArgument, "", 0},
		{"bad conversation/invalid", `{"text":"x","conversationId":"x"}`, proto.CodeInvalidArgument, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := parseSearch([]byte(tc.json))
			if tc.code != 0 {
				var pe *proto.Error
				if !errors.As(err, &pe) || pe.Code != tc.code {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				return
			}
			if err != nil || q.Text != tc.text || q.Limit != tc.limit {
				t.Fatalf("query %+v, %v; want text %q, limit %d", q, err, tc.text, tc.limit)
			}
		})
	}
}
