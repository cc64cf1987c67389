//go:build !js

package relay

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// paddedPing is a Ping frame of about size bytes: {1: Ping, 3: {1: 1, 99:
// padding}}. The padding is a key the decoder would skip, at a cost.
func paddedPing(size int) []byte {
	pad := size - 12
	b := []byte{0xa2, 0x01, byte(proto.TypePing), 0x03, 0xa2, 0x01, 0x01, 0x18, 99, 0x59, 0, 0}
	binary.BigEndian.PutUint16(b[10:], uint16(pad))
	return append(b, make([]byte, pad)...)
}

func TestPaddedPingRefused(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	c, _ := login(t, r, "alice", "d")
	c.writeRaw(paddedPing(61 << 10))
	c.expectClose(proto.CodeFrameTooLarge)
	equal(t, r.srv.metrics.limitCount(limitControlSize), 1, "refusals by the control frame limit")
	// A hello may not be padded either, before any token is checked.
	pre := dial(t, r, true)
	big := proto.MustEncode(proto.Frame{Type: proto.TypeHello, Body: &proto.Hello{Version: proto.Version, Token: string(make([]byte, 20<<10)), DeviceID: "d"}})
	pre.writeRaw(big)
	pre.expectClose(proto.CodeFrameTooLarge)
}

func TestSessionsPerUser(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.MaxSessionsPerUser = 2 })
	d1, _ := login(t, r, "alice", "d1")
	login(t, r, "alice", "d2")
	third := dial(t, r, true)
	third.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r.token("alice"), DeviceID: "d3"}})
	third.expectClose(proto.CodeTooManySessions)
	equal(t, r.srv.metrics.limitCount(limitSessionsOfUser), 1, "refusals by the sessions limit")
	// Another user is not affected, and a device reconnecting takes its own
	// old session's place.
	login(t, r, "bob", "d1")
	login(t, r, "alice", "d1")
	d1.expectClose(proto.CodeKicked)
	// The replacement took a slot only while the old session held one.
	fourth := dial(t, r, true)
	fourth.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r.token("alice"), DeviceID: "d9"}})
	fourth.expectClose(proto.CodeTooManySessions)
}

func TestSessionSlotFreed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.MaxSessionsPerUser = 1 })
	first, _ := login(t, r, "alice", "d1")
	_ = first.c.Close(websocket.StatusNormalClosure, "bye")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, r, true)
		id := c.request(proto.TypeHello, &proto.Hello{Version: proto.Version, Token: r.token("alice"), DeviceID: "d2"})
		f := c.await("welcome or close", func(f proto.Frame) bool { return f.ID == id || f.Type == proto.TypeClose })
		if f.Type == proto.TypeWelcome {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed session was never freed: %s", types([]proto.Frame{f}))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUserRateAcrossSessions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, limit string
		mod         func(*Options)
		frame       []byte
	}{
		{"frames", limitUserFrames, func(o *Options) { o.UserRateLimit = 10 }, proto.MustEncode(proto.Frame{Type: proto.TypePing, ID: 1, Body: &proto.Ping{Time: 1}})},
		{"bytes", limitUserBytes, func(o *Options) { o.UserByteRate = 16 << 10; o.MaxFrame = 8 << 10 }, proto.MustEncode(proto.Frame{
			Type: proto.TypeSend, ID: 1, Body: &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "x", MsgType: proto.MsgCustom, Body: make([]byte, 6<<10)}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) {
				o.RateLimit = -1 // only the user's limit applies
				tc.mod(o)
			})
			// Each session alone stays under a per-user budget split in
			// two; together they exceed it, and one of them is closed.
			a, _ := login(t, r, "alice", "d1")
			b, _ := login(t, r, "alice", "d2")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := 0; r.srv.metrics.limitCount(tc.limit) == 0; i++ {
				if ctx.Err() != nil {
					t.Fatal("the user's limit never refused a frame")
				}
				_ = a.c.Write(ctx, websocket.MessageBinary, tc.frame)
				_ = b.c.Write(ctx, websocket.MessageBinary, tc.frame)
			}
			// One of the two was closed with 4104.
			select {
			case <-a.done:
				equal(t, websocket.CloseStatus(a.err), websocket.StatusCode(proto.CodeRateLimited), fmt.Sprint(a.err))
			case <-b.done:
				equal(t, websocket.CloseStatus(b.err), websocket.StatusCode(proto.CodeRateLimited), fmt.Sprint(b.err))
			case <-ctx.Done():
				t.Fatal("no session closed")
			}
		})
	}
}

// TestSendQueueBytesClose: a member who stops reading is closed 4102 when
// the bytes waiting for them pass SendQueueBytes, long before the frame
// bound or a write timeout; the sender keeps being served.
//
// It pushes 12 MB through the relay as fast as it goes, so it runs alone,
// before the parallel tests: beside them it made the write timeouts of
// TestSlowConsumer's healthy member fire on a loaded machine.
func TestSendQueueBytesClose(t *testing.T) {
	const n = 400 // 400 × 30 KiB: more than socket buffers and the queue hold
	r := startRelay(t, func(o *Options) {
		o.SendQueue = 100000 // never the frame bound
		o.SendQueueBytes = 256 << 10
		o.WriteTimeout = time.Minute
		o.RateLimit, o.UserRateLimit, o.UserByteRate = -1, -1, -1
	})
	sender, _ := login(t, r, "alice", "d")
	g := sender.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.bytes", Members: []string{"carol"}})
	equal(t, g.Type, proto.TypeConvResult, "group")
	slow := dial(t, r, false)
	slow.writeRaw(helloFrame(r.token("carol"), proto.Version, "d"))

	body := make([]byte, 30<<10)
	go func() {
		for k := range n {
			if sender.c.Write(context.Background(), websocket.MessageBinary, proto.MustEncode(proto.Frame{
				Type: proto.TypeSend, ID: uint64(1000 + k), Body: &proto.Send{ConvID: "g:alice.bytes", ClientID: fmt.Sprint(k), MsgType: proto.MsgCustom, Body: body},
			})) != nil {
				return
			}
		}
	}()
	for k := range n {
		equal(t, sender.reply(uint64(1000+k)).Type, proto.TypeAck, "sender's ack")
	}
	r.waitMetric(`parley_closes_total{code="4102"}`, "1")
	if r.srv.metrics.limitCount(limitQueueBytes) == 0 {
		t.Fatal("the slow member was not closed by the bytes bound")
	}
	sender.quiet("sender still connected")
}

// TestSendQueueMustHoldTheSendWindow: every send in flight is answered by
// an ack in its connection's send queue, so a queue no longer than the
// per-connection window would close a client that pipelines its sends and
// reads promptly as a slow consumer; such options are refused.
func TestSendQueueMustHoldTheSendWindow(t *testing.T) {
	for _, tc := range []struct {
		queue, window int
		ok            bool
	}{
		{32, 0, false}, // the window's default, 256
		{256, 256, false},
		{257, 256, true},
		{32, 16, true},
		{32, -1, true}, // no window: the queue alone bounds it
		{0, 0, true},   // both defaults
	} {
		_, err := Options{Secret: testSecret, Store: NewMemoryStore(), SendQueue: tc.queue, MaxInflightPerConn: tc.window}.withDefaults()
		if (err == nil) != tc.ok {
			t.Errorf("SendQueue %d, MaxInflightPerConn %d: err %v, want ok %v", tc.queue, tc.window, err, tc.ok)
		}
	}
}
