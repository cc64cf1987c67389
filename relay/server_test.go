//go:build !js

package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
)

func helloFrame(token string, version uint16, device string) []byte {
	return proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: version, Token: token, DeviceID: device}})
}

// rawJWT builds a token from JSON parts, signed with HMAC-SHA256 over secret
// whatever header says, or unsigned when secret is empty.
func rawJWT(header, payload, secret string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if secret == "" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestHelloWelcome(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Heartbeat = 7 * time.Second; o.MaxFrame = 32 << 10 })
	c := dial(t, r, true)
	c.writeRaw(helloFrame(r.token("alice"), proto.Version, "phone"))
	f := c.reply(1)
	equal(t, f.Type, proto.TypeWelcome, "reply type")
	w := f.Body.(*proto.Welcome)
	equal(t, w.UserID, "alice", "user")
	equal(t, w.Version, uint16(proto.Version), "version")
	equal(t, w.Epoch, r.srv.store.Epoch(), "epoch")
	equal(t, w.HeartbeatMs, uint32(7000), "heartbeat")
	equal(t, w.MaxFrame, uint32(32<<10), "max frame")
	if w.SessionID == "" || w.TokenExp < time.Now().Unix() || abs(w.ServerTime-time.Now().UnixMilli()) > 5000 {
		t.Fatalf("welcome: %+v", w)
	}
	c.quiet("after welcome")
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestHandshakeCloses covers every way a connection ends before or at Hello.
func TestHandshakeCloses(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(time.Hour).Unix()
	missingExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice"}).SignedString([]byte(testSecret))
	ok(t, err)
	forged, err := MintToken("another-secret-0123456789abcdef0123", "alice", time.Hour, time.Now())
	ok(t, err)
	expired, err := MintToken(testSecret, "alice", time.Hour, time.Now().Add(-2*time.Hour))
	ok(t, err)
	badSub := rawJWT(`{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"al ice","exp":%d}`, future), testSecret)
	algNone := rawJWT(`{"alg":"none","typ":"JWT"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, future), "")
	rs256 := rawJWT(`{"alg":"RS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, future), testSecret)
	valid := func(r *testRelay) string { return r.token("alice") }

	cases := []struct {
		name  string
		opts  func(*Options)
		frame func(r *testRelay) []byte // nil: send nothing
		code  proto.Code
	}{
		{"hello/garbage token/4001", nil, func(*testRelay) []byte { return helloFrame("not.a.jwt", proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/forged token/4001", nil, func(*testRelay) []byte { return helloFrame(forged, proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/alg none/4001", nil, func(*testRelay) []byte { return helloFrame(algNone, proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/RS256 header/4001", nil, func(*testRelay) []byte { return helloFrame(rs256, proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/missing exp/4001", nil, func(*testRelay) []byte { return helloFrame(missingExp, proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/invalid subject/4001", nil, func(*testRelay) []byte { return helloFrame(badSub, proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/missing token/4001", nil, func(*testRelay) []byte { return helloFrame("", proto.Version, "d") }, proto.CodeUnauthorized},
		{"hello/expired token/4002", nil, func(*testRelay) []byte { return helloFrame(expired, proto.Version, "d") }, proto.CodeTokenExpired},
		{"hello/version too new/4005", nil, func(r *testRelay) []byte { return helloFrame(valid(r), proto.Version+1, "d") }, proto.CodeUnsupportedVersion},
		{"hello/version zero/4005", nil, func(r *testRelay) []byte { return helloFrame(valid(r), 0, "d") }, proto.CodeUnsupportedVersion},
		{"hello/invalid device/4006", nil, func(r *testRelay) []byte { return helloFrame(valid(r), proto.Version, "a b") }, proto.CodeProtocolError},
		{"hello/platform not lowercase/4006", nil, func(r *testRelay) []byte {
			return proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: valid(r), DeviceID: "d", Platform: "Web"}})
		}, proto.CodeProtocolError},
		{"connected/ping first/4006", nil, func(*testRelay) []byte {
			return proto.MustEncode(proto.Frame{Type: proto.TypePing, ID: 1, Body: &proto.Ping{}})
		}, proto.CodeProtocolError},
		{"connected/malformed cbor/4006", nil, func(*testRelay) []byte { return []byte{0xff, 0x00, 0x13} }, proto.CodeProtocolError},
		{"connected/unknown frame type/4006", nil, func(*testRelay) []byte { return []byte{0xa1, 0x01, 0x18, 0x63} }, proto.CodeProtocolError},
		{"connected/oversize frame/4007", nil, func(*testRelay) []byte { return make([]byte, proto.DefaultMaxFrame+1) }, proto.CodeFrameTooLarge},
		{"connected/oversize small limit/4007", func(o *Options) { o.MaxFrame = 2048 }, func(r *testRelay) []byte {
			return helloFrame(valid(r), proto.Version, strings.Repeat("d", 3000))
		}, proto.CodeFrameTooLarge},
		{"connected/silent/4001", func(o *Options) { o.AuthTimeout = 150 * time.Millisecond }, nil, proto.CodeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, tc.opts)
			c := dial(t, r, true)
			if tc.frame != nil {
				c.writeRaw(tc.frame(r))
			}
			if got := c.expectClose(tc.code); len(got) != 0 {
				t.Fatalf("frames before close: %v", types(got))
			}
			equal(t, r.metric(fmt.Sprintf(`parley_closes_total{code="%d"}`, tc.code)), "1", "closes metric")
		})
	}
}

func TestTextMessageCloses(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	c := dial(t, r, true)
	ok(t, c.c.Write(context.Background(), websocket.MessageText, []byte("hello")))
	c.expectClose(proto.CodeProtocolError)
}

// TestSessionCloses covers frames that end an authenticated session.
func TestSessionCloses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		frame func(r *testRelay) []byte
		code  proto.Code
	}{
		{"welcomed/second hello/4006", func(r *testRelay) []byte { return helloFrame(r.token("alice"), proto.Version, "d") }, proto.CodeProtocolError},
		{"welcomed/server-only ack/4006", func(*testRelay) []byte {
			return proto.MustEncode(proto.Frame{Type: proto.TypeAck, ID: 5, Body: &proto.Ack{ConvID: "g:x"}})
		}, proto.CodeProtocolError},
		{"welcomed/request without id/4006", func(*testRelay) []byte {
			return proto.MustEncode(proto.Frame{Type: proto.TypeSync, Body: &proto.Sync{}})
		}, proto.CodeProtocolError},
		{"welcomed/malformed cbor/4006", func(*testRelay) []byte { return []byte{0xa1, 0x01} }, proto.CodeProtocolError},
		{"welcomed/unknown frame type/4006", func(*testRelay) []byte { return []byte{0xa1, 0x01, 0x18, 0x63} }, proto.CodeProtocolError},
		{"welcomed/oversize frame/4007", func(*testRelay) []byte {
			return proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: 9, Body: &proto.Send{
				ConvID: proto.P2PID("alice", "bob"), ClientID: "c", MsgType: proto.MsgCustom, Body: make([]byte, proto.DefaultMaxFrame)}})
		}, proto.CodeFrameTooLarge},
	}
	r := startRelay(t, nil)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := login(t, r, "alice", fmt.Sprintf("dev%d", i))
			c.writeRaw(tc.frame(r))
			c.expectClose(tc.code)
		})
	}
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		origins []string
		origin  string
		status  int // 0: upgraded
	}{
		{"default/any origin", nil, "https://anywhere.example", 0},
		{"allow-list/allowed", []string{"app.example.com"}, "https://app.example.com", 0},
		{"allow-list/pattern", []string{"*.example.com"}, "https://chat.example.com", 0},
		{"allow-list/forbidden", []string{"app.example.com"}, "https://evil.example", 4008},
		{"allow-list/scheme matches", []string{"https://app.example.com"}, "https://app.example.com", 0},
		{"allow-list/scheme differs", []string{"https://app.example.com"}, "http://app.example.com", 4008},
		{"allow-list/scheme and pattern", []string{"https://*.example.com"}, "https://chat.example.com", 0},
		{"allow-list/no origin header", []string{"app.example.com"}, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) { o.Origins = tc.origins })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.url, "http")+"/v1/ws",
				&websocket.DialOptions{HTTPClient: plainHTTP, HTTPHeader: h})
			// Every origin is upgraded: a browser sees a refusal only as a
			// close code.
			ok(t, err)
			defer c.CloseNow()
			if tc.status == 0 {
				// Welcomed: the session is open.
				ok(t, c.Write(ctx, websocket.MessageBinary, helloFrame(r.token("alice"), proto.Version, "d")))
				_, b, err := c.Read(ctx)
				ok(t, err)
				f, err := proto.Decode(b, 0)
				ok(t, err)
				equal(t, f.Type, proto.TypeWelcome, "reply to hello")
				return
			}
			_, b, err := c.Read(ctx)
			ok(t, err)
			f, err := proto.Decode(b, 0)
			ok(t, err)
			equal(t, f.Body.(*proto.Close).Code, proto.Code(tc.status), "close frame")
			_, _, err = c.Read(ctx)
			equal(t, websocket.CloseStatus(err), websocket.StatusCode(tc.status), "websocket close status")
		})
	}
}

// TestSendAckDeliver: the sender's session gets the ack and no deliver;
// every other session of every member gets exactly one deliver.
func TestSendAckDeliver(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) {
				if store == "sqlite" {
					o.Store = nil // the default: SQLite in o.Data
				}
			})
			alice1, _ := login(t, r, "alice", "phone")
			alice2, _ := login(t, r, "alice", "laptop")
			bob, _ := login(t, r, "bob", "phone")
			carol, _ := login(t, r, "carol", "phone")
			conv := proto.P2PID("bob", "alice")

			before := time.Now().UnixMilli()
			ack := alice1.ack(conv, "m1", "hello bob")
			equal(t, *ack, proto.Ack{ConvID: conv, ClientID: "m1", Seq: 1, CreatedAt: ack.CreatedAt}, "ack")
			if ack.CreatedAt < before || ack.CreatedAt > time.Now().UnixMilli() {
				t.Fatalf("createdAt %d not now", ack.CreatedAt)
			}
			want := proto.Message{ConvID: conv, Seq: 1, Sender: "alice", ClientID: "m1", MsgType: proto.MsgText,
				Text: "hello bob", CreatedAt: ack.CreatedAt, Device: "phone"}
			for name, c := range map[string]*client{"bob": bob, "alice's laptop": alice2} {
				d := c.push(proto.TypeDeliver).Body.(*proto.Deliver)
				equal(t, d.Message, want, name+" deliver")
			}
			alice1.quiet("sender after ack")
			carol.quiet("non-member")

			// Bob answers; seq follows, and alice's both devices see it.
			ack2 := bob.ack(conv, "m1", "hi alice") // client ids are per sender
			equal(t, ack2.Seq, uint64(2), "second seq")
			for _, c := range []*client{alice1, alice2} {
				equal(t, c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Seq, uint64(2), "deliver seq")
			}
			bob.quiet("bob after ack")
			equal(t, r.metric("parley_messages_stored_total"), "2", "stored metric")
		})
	}
}

// TestRequestErrors: refused requests get an error reply and the session
// goes on.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	g := bob.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:bob.s", Members: []string{"carol"}})
	equal(t, g.Type, proto.TypeConvResult, "create group")
	bob.ack(proto.P2PID("bob", "carol"), "b1", "secret")

	others := proto.P2PID("bob", "carol")
	cases := []struct {
		name string
		typ  proto.Type
		body any
		code proto.Code
	}{
		{"send/p2p of others/4203", proto.TypeSend, &proto.Send{ConvID: others, ClientID: "x1", MsgType: proto.MsgText, Text: "hi"}, proto.CodeForbidden},
		{"send/group not member/4203", proto.TypeSend, &proto.Send{ConvID: "g:bob.s", ClientID: "x2", MsgType: proto.MsgText, Text: "hi"}, proto.CodeForbidden},
		{"send/unknown group/4203", proto.TypeSend, &proto.Send{ConvID: "g:nope", ClientID: "x3", MsgType: proto.MsgText, Text: "hi"}, proto.CodeForbidden},
		{"send/invalid conv id/4200", proto.TypeSend, &proto.Send{ConvID: "x:y", ClientID: "x4", MsgType: proto.MsgText, Text: "hi"}, proto.CodeBadRequest},
		{"send/self p2p/4200", proto.TypeSend, &proto.Send{ConvID: "p:alice:alice", ClientID: "x5", MsgType: proto.MsgText, Text: "hi"}, proto.CodeBadRequest},
		{"send/empty text/4200", proto.TypeSend, &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "x6", MsgType: proto.MsgText}, proto.CodeBadRequest},
		{"send/unknown type/4200", proto.TypeSend, &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "x7", MsgType: "image"}, proto.CodeBadRequest},
		{"send/text too large/4213", proto.TypeSend, &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "x8", MsgType: proto.MsgText,
			Text: strings.Repeat("a", proto.MaxTextBytes+1)}, proto.CodeTooLarge},
		{"history/p2p of others/4203", proto.TypeHistory, &proto.History{ConvID: others}, proto.CodeForbidden},
		{"history/group not member/4203", proto.TypeHistory, &proto.History{ConvID: "g:bob.s"}, proto.CodeForbidden},
		{"history/unknown group/4203", proto.TypeHistory, &proto.History{ConvID: "g:nope"}, proto.CodeForbidden},
		{"read/p2p of others/4203", proto.TypeRead, &proto.Read{ConvID: others, Seq: 1}, proto.CodeForbidden},
		{"read/group not member/4203", proto.TypeRead, &proto.Read{ConvID: "g:bob.s", Seq: 1}, proto.CodeForbidden},
		{"create group/in another user's namespace/4258", proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:bob.s", Members: []string{"carol"}}, proto.CodeGroupID},
		{"create group/bad member/4200", proto.TypeCreateGroup, &proto.CreateGroup{Members: []string{"no body"}}, proto.CodeBadRequest},
	}
	for _, tc := range cases {
		equal(t, errCode(t, alice.call(tc.typ, tc.body)), tc.code, tc.name)
	}
	alice.quiet("after errors")
	bob.quiet("bob sees nothing of alice's attempts")
}

func TestDuplicateSend(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	conv := proto.P2PID("alice", "bob")

	first := alice.ack(conv, "c1", "once")
	time.Sleep(5 * time.Millisecond) // a retry's createdAt would differ
	again := alice.ack(conv, "c1", "once")
	equal(t, *again, proto.Ack{ConvID: conv, ClientID: "c1", Seq: first.Seq, CreatedAt: first.CreatedAt, Duplicate: true}, "retry ack")
	bob.push(proto.TypeDeliver)
	bob.quiet("one deliver only")

	f := alice.call(proto.TypeSend, &proto.Send{ConvID: proto.P2PID("alice", "carol"), ClientID: "c1", MsgType: proto.MsgText, Text: "x"})
	equal(t, errCode(t, f), proto.CodeConflict, "client id reused elsewhere")
	equal(t, r.metric("parley_send_dedup_total"), "1", "dedup metric")
}

// TestRacingDuplicates: two devices of one user send the same client ids at
// the same time; each id ends up stored once and both devices get its seq.
func TestRacingDuplicates(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) {
				if store == "sqlite" {
					o.Store, o.Synchronous = nil, "NORMAL"
				}
			})
			const n = 40
			conv := proto.P2PID("alice", "bob")
			devices := []*client{}
			for _, d := range []string{"a", "b"} {
				c, _ := login(t, r, "alice", d)
				devices = append(devices, c)
			}
			seqs := make([]map[string]uint64, len(devices))
			var wg sync.WaitGroup
			for i, c := range devices {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids := make(map[uint64]string)
					for k := range n {
						cid := fmt.Sprintf("c%d", k)
						ids[c.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid})] = cid
					}
					seqs[i] = make(map[string]uint64)
					for id, cid := range ids {
						f := c.reply(id)
						if f.Type != proto.TypeAck {
							t.Errorf("send %s: %v", cid, types([]proto.Frame{f}))
							return
						}
						seqs[i][cid] = f.Body.(*proto.Ack).Seq
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			equal(t, seqs[0], seqs[1], "both devices agree on every seq")
			page := devices[0].call(proto.TypeHistory, &proto.History{ConvID: conv, Limit: 500}).Body.(*proto.HistoryPage)
			equal(t, len(page.Messages), n, "stored messages")
			for i, m := range page.Messages {
				equal(t, m.Seq, uint64(i+1), "contiguous seq")
				equal(t, seqs[0][m.ClientID], m.Seq, "ack seq of "+m.ClientID)
			}
		})
	}
}

// TestPipelinedAcksInOrder: sends of one connection commit in read order and
// their acks leave in that order.
func TestPipelinedAcksInOrder(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Store, o.Synchronous, o.BatchMax = nil, "NORMAL", 8 })
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	conv := proto.P2PID("alice", "bob")
	const n = 100
	var ids []uint64
	for k := range n {
		ids = append(ids, alice.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: fmt.Sprintf("c%d", k), MsgType: proto.MsgText, Text: "x"}))
	}
	for k := range n {
		f := alice.await("ack", func(f proto.Frame) bool { return f.Type == proto.TypeAck || f.Type == proto.TypeError })
		equal(t, f.ID, ids[k], "ack order")
		equal(t, f.Body.(*proto.Ack).Seq, uint64(k+1), "seq order")
	}
	for k := range n {
		equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Seq, uint64(k+1), "deliver order")
	}
}

func TestSyncCursor(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	ab, ac := proto.P2PID("alice", "bob"), proto.P2PID("alice", "carol")
	alice.ack(ab, "1", "to bob")
	alice.ack(ac, "2", "to carol")

	sync := func(c *client, cursor uint64, limit uint32) *proto.SyncResult {
		t.Helper()
		f := c.call(proto.TypeSync, &proto.Sync{Cursor: cursor, Limit: limit})
		equal(t, f.Type, proto.TypeSyncResult, "sync reply")
		return f.Body.(*proto.SyncResult)
	}
	ids := func(res *proto.SyncResult) []string {
		var out []string
		for _, c := range res.Conversations {
			out = append(out, c.ID)
		}
		return out
	}
	all := sync(alice, 0, 0)
	equal(t, ids(all), []string{ab, ac}, "first sync, change order")
	equal(t, all.More, false, "more")
	equal(t, all.Cursor, all.Conversations[1].Version, "cursor")
	equal(t, all.Conversations[1].LastMessage.Text, "to carol", "last message")
	equal(t, all.Conversations[1].Kind, proto.KindP2P, "kind")

	paged := sync(alice, 0, 1)
	equal(t, ids(paged), []string{ab}, "limit 1")
	equal(t, paged.More, true, "more when capped")
	equal(t, ids(sync(alice, paged.Cursor, 1)), []string{ac}, "next page")

	equal(t, len(sync(alice, all.Cursor, 0).Conversations), 0, "nothing changed")
	equal(t, sync(alice, all.Cursor, 0).Cursor, all.Cursor, "cursor kept when nothing changed")

	// Bob writes in ab: only ab changed for alice.
	bob.ack(ab, "b1", "back")
	res := sync(alice, all.Cursor, 0)
	equal(t, ids(res), []string{ab}, "after bob's message")
	equal(t, res.Conversations[0].LastSeq, uint64(2), "last seq")
	equal(t, res.Conversations[0].ReadSeq, uint64(1), "read seq: her own message is read")

	// Bob reading does not change alice's view; alice reading does.
	equal(t, bob.call(proto.TypeRead, &proto.Read{ConvID: ab, Seq: 2}).Type, proto.TypeOK, "bob read")
	equal(t, len(sync(alice, res.Cursor, 0).Conversations), 0, "bob's read is not alice's change")
	equal(t, alice.call(proto.TypeRead, &proto.Read{ConvID: ab, Seq: 99}).Type, proto.TypeOK, "alice read")
	res2 := sync(alice, res.Cursor, 0)
	equal(t, ids(res2), []string{ab}, "alice's read shows up")
	equal(t, res2.Conversations[0].ReadSeq, uint64(2), "read seq capped at last seq")
	// A read that does not move the cursor changes nothing.
	alice.call(proto.TypeRead, &proto.Read{ConvID: ab, Seq: 0})
	equal(t, len(sync(alice, res2.Cursor, 0).Conversations), 0, "no-op read")
}

func TestReadPushesConvUpdate(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice1, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	conv := proto.P2PID("alice", "bob")
	bob.ack(conv, "1", "a")
	bob.ack(conv, "2", "b")
	alice1.push(proto.TypeDeliver)
	alice1.push(proto.TypeDeliver)
	alice2.push(proto.TypeDeliver)
	alice2.push(proto.TypeDeliver)

	equal(t, alice1.call(proto.TypeRead, &proto.Read{ConvID: conv, Seq: 1}).Type, proto.TypeOK, "read")
	u := alice2.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation
	equal(t, [3]uint64{u.ReadSeq, u.LastSeq, boolU(u.Version > 0)}, [3]uint64{1, 2, 1}, "pushed state")
	equal(t, u.LastMessage.ClientID, "2", "last message")
	alice1.quiet("reader gets no update")
	p := bob.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation
	equal(t, [3]uint64{p.PeerReadSeq, p.ReadSeq, p.LastSeq}, [3]uint64{1, 0, 2}, "the peer gets the reader's cursor, not as its own")
	bob.quiet("the peer gets nothing else")
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestCreateGroup(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice1, _ := login(t, r, "alice", "one")
	alice2, _ := login(t, r, "alice", "two")
	bob, _ := login(t, r, "bob", "d")
	carol, _ := login(t, r, "carol", "d")
	dave, _ := login(t, r, "dave", "d")

	f := alice1.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"carol", "bob", "bob"}})
	equal(t, f.Type, proto.TypeConvResult, "reply")
	g := f.Body.(*proto.ConvResult).Conversation
	if !proto.ValidGroupID(g.ID) {
		t.Fatalf("generated id %q", g.ID)
	}
	equal(t, [2]any{g.Kind, g.Name}, [2]any{proto.KindGroup, "trip"}, "group")
	equal(t, g.Members, []string{"alice", "bob", "carol"}, "members: sorted, deduplicated, creator included")
	equal(t, alice2.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation, g, "pushed group: the creator's view")
	theirs := g
	theirs.Role, theirs.ReadSeq = proto.RoleMember, 0
	for _, c := range []*client{bob, carol} {
		equal(t, c.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation, theirs, "pushed group: a member's view")
	}
	// The group's first entry: {event: created, by, users}, delivered to
	// every session but the creating one, whose reply carried it.
	equal(t, g.LastSeq, uint64(1), "the created message is the group's first")
	for _, c := range []*client{alice2, bob, carol} {
		m := c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message
		ev, err := proto.DecodeGroupEvent(m.Body)
		ok(t, err)
		equal(t, [4]any{m.Seq, m.MsgType, ev.Event, ev.By}, [4]any{uint64(1), proto.MsgSystem, proto.EventCreated, "alice"}, "created message")
		equal(t, ev.Users, []string{"bob", "carol"}, "created: the other members")
	}
	equal(t, g.LastMessage.ClientID, createdClientID(g.ID), "the reply's last message")
	alice1.quiet("creator's session")
	dave.quiet("non-member")

	// A client-chosen id is idempotent for the same group, a conflict else.
	req := &proto.CreateGroup{ConvID: "g:alice.fixed", Members: []string{"bob"}}
	g1 := alice1.call(proto.TypeCreateGroup, req).Body.(*proto.ConvResult).Conversation
	g2 := alice1.call(proto.TypeCreateGroup, req).Body.(*proto.ConvResult).Conversation
	equal(t, g2, g1, "idempotent create")
	equal(t, errCode(t, alice1.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.fixed", Members: []string{"carol"}})), proto.CodeConflict, "other members")
	equal(t, errCode(t, bob.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.fixed", Members: []string{"alice"}})), proto.CodeGroupID, "another creator, in alice's namespace")
	bob.push(proto.TypeConvUpdate) // g:fixed, once
	bob.push(proto.TypeDeliver)    // its created message, once
	alice2.push(proto.TypeConvUpdate)
	alice2.push(proto.TypeDeliver)
	bob.quiet("g:fixed told once")

	// Members talk; the sender's own session gets only the ack.
	ack := bob.ack(g.ID, "b1", "hello group")
	for _, c := range []*client{alice1, alice2, carol} {
		equal(t, c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Seq, ack.Seq, "group deliver")
	}
	bob.quiet("sender")
	dave.quiet("non-member after send")
}

// TestHistoryPaging pages both ways through a conversation.
func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "d")
	conv := proto.P2PID("alice", "bob")
	empty := alice.call(proto.TypeHistory, &proto.History{ConvID: conv}).Body.(*proto.HistoryPage)
	equal(t, [2]any{len(empty.Messages), empty.LastSeq}, [2]any{0, uint64(0)}, "empty p2p")
	for k := range 10 {
		alice.ack(conv, fmt.Sprint(k), fmt.Sprint(k))
	}
	cases := []struct {
		name                 string
		after, before, limit uint64
		first, last          uint64 // 0, 0: empty
		more                 bool
	}{
		{"forward/first page", 0, 0, 3, 1, 3, true},
		{"forward/middle", 3, 0, 3, 4, 6, true},
		{"forward/exact end", 7, 0, 3, 8, 10, false},
		{"forward/short end", 9, 0, 3, 10, 10, false},
		{"forward/past end", 10, 0, 3, 0, 0, false},
		{"forward/default limit", 0, 0, 0, 1, 10, false},
		{"backward/newest", 0, 11, 3, 8, 10, true},
		{"backward/middle", 0, 8, 3, 5, 7, true},
		{"backward/short start", 0, 3, 3, 1, 2, false},
		{"backward/nothing before 1", 0, 1, 3, 0, 0, false},
		{"backward/bounded by after", 4, 8, 10, 5, 7, false},
	}
	for _, tc := range cases {
		p := alice.call(proto.TypeHistory, &proto.History{ConvID: conv, After: tc.after, Before: tc.before, Limit: uint32(tc.limit)}).Body.(*proto.HistoryPage)
		var first, last uint64
		if n := len(p.Messages); n > 0 {
			first, last = p.Messages[0].Seq, p.Messages[n-1].Seq
			for i, m := range p.Messages {
				equal(t, m.Seq, first+uint64(i), tc.name+": ascending")
			}
		}
		equal(t, [3]any{first, last, p.More}, [3]any{tc.first, tc.last, tc.more}, tc.name)
		equal(t, p.LastSeq, uint64(10), tc.name+": last seq")
	}
}

// TestPagesFitMaxFrame: a page of large messages is cut to the frame limit
// rather than sent oversize.
func TestPagesFitMaxFrame(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.MaxFrame = 20 << 10 })
	alice, _ := login(t, r, "alice", "d")
	conv := proto.P2PID("alice", "bob")
	for k := range 6 {
		alice.ack(conv, fmt.Sprint(k), strings.Repeat("x", 6<<10))
	}
	fwd := alice.call(proto.TypeHistory, &proto.History{ConvID: conv})
	p := fwd.Body.(*proto.HistoryPage)
	if n := len(p.Messages); n == 0 || n >= 6 || !p.More || p.Messages[0].Seq != 1 {
		t.Fatalf("forward page: %d messages, more %v", n, p.More)
	}
	back := alice.call(proto.TypeHistory, &proto.History{ConvID: conv, Before: 7}).Body.(*proto.HistoryPage)
	if n := len(back.Messages); n == 0 || n >= 6 || !back.More || back.Messages[n-1].Seq != 6 {
		t.Fatalf("backward page: %d messages, more %v", n, back.More)
	}
	for _, f := range []proto.Frame{fwd, {Type: proto.TypeHistoryPage, ID: 2, Body: back}} {
		if n := len(proto.MustEncode(f)); n > 20<<10 {
			t.Fatalf("page of %d bytes", n)
		}
	}
}

func TestSameDeviceReplaced(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	old, _ := login(t, r, "alice", "phone")
	other, _ := login(t, r, "alice", "laptop")
	newer, _ := login(t, r, "alice", "phone")
	old.expectClose(proto.CodeKicked)
	bob, _ := login(t, r, "bob", "d")
	bob.ack(proto.P2PID("alice", "bob"), "1", "hi")
	newer.push(proto.TypeDeliver)
	other.push(proto.TypeDeliver)
	r.waitMetric("parley_connections", "3")
}

// A kick from another node closes the device's older session there, and a
// kick that arrives late (NATS held it while reconnecting) closes nothing
// newer than the session that sent it.
func TestKickFromAnotherNode(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	before := time.Now().UnixNano()
	phone, _ := login(t, r, "alice", "phone")
	laptop, _ := login(t, r, "alice", "laptop")
	ctx := context.Background()
	// A stale kick: its session began before this node's phone session.
	ok(t, r.srv.bus.Publish(ctx, Envelope{Users: []string{"alice"}, Except: "elsewhere-1", Kick: "phone", KickAt: before}))
	phone.write(proto.Frame{Type: proto.TypePing, ID: 7, Body: &proto.Ping{Time: 1}})
	if f := phone.reply(7); f.Type != proto.TypePong {
		t.Fatalf("phone after a stale kick: %s", f.Type)
	}
	// A newer session of the phone on another node.
	ok(t, r.srv.bus.Publish(ctx, Envelope{Users: []string{"alice"}, Except: "elsewhere-2", Kick: "phone", KickAt: time.Now().UnixNano()}))
	phone.expectClose(proto.CodeKicked)
	laptop.write(proto.Frame{Type: proto.TypePing, ID: 8, Body: &proto.Ping{Time: 1}})
	if f := laptop.reply(8); f.Type != proto.TypePong {
		t.Fatalf("laptop after the phone's kick: %s", f.Type)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	// Generous margins: the suite runs in parallel on two cores under -race.
	r := startRelay(t, func(o *Options) { o.Heartbeat = 100 * time.Millisecond; o.HeartbeatTimeout = time.Second })
	silent, w := login(t, r, "alice", "silent")
	equal(t, w.HeartbeatMs, uint32(100), "announced heartbeat")
	alive, _ := login(t, r, "alice", "alive")
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		f := alive.call(proto.TypePing, &proto.Ping{Time: 42})
		equal(t, f.Body.(*proto.Pong).Time, int64(42), "pong echoes time")
		time.Sleep(100 * time.Millisecond)
	}
	silent.expectClose(proto.CodeHeartbeatTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %s", d)
	}
	alive.quiet("pinging client stays up")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.RateLimit = 20; o.RateBurst = 10 })
	calm, _ := login(t, r, "alice", "calm")
	flood, _ := login(t, r, "alice", "flood")
	for k := range 40 {
		if err := flood.c.Write(context.Background(), websocket.MessageBinary,
			proto.MustEncode(proto.Frame{Type: proto.TypePing, ID: uint64(k + 1), Body: &proto.Ping{}})); err != nil {
			break // closed already
		}
	}
	got := flood.expectClose(proto.CodeRateLimited)
	if len(got) < 5 || len(got) > 11 {
		t.Fatalf("%d pongs before the close, want about the burst (9 after hello)", len(got))
	}
	calm.quiet("other connection of the same user")
}

// TestSlowConsumer: a member that never reads is disconnected with 4102
// while another member keeps receiving every message in order.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	// The queue holds every message of the flood, so the healthy member can
	// never overflow it however the scheduler treats it; the sloth's writer
	// blocks once its socket buffers are full and times out. The timeout is
	// what the healthy member must never reach: its reader, and the relay
	// in the same process, may be off the CPU for hundreds of milliseconds
	// on a loaded machine (300 ms closed it, under -race).
	// TestSendQueueOverflow covers the other path to 4102.
	const n = 400 // 400 × 30 KiB: far more than the socket buffers hold
	r := startRelay(t, func(o *Options) {
		o.SendQueue = n + 16
		o.SendQueueBytes = (n + 16) * 31 << 10
		o.WriteTimeout = 2 * time.Second
		o.RateLimit, o.UserRateLimit, o.UserByteRate = -1, -1, -1
		// The sender pipelines all n sends: no admission bound refuses
		// them, and the committer's intake paces its reader.
		o.MaxInflightPerConn, o.MaxInflightSends, o.MaxSendDelay = -1, -1, -1
	})
	sender, _ := login(t, r, "alice", "d")
	healthy, _ := login(t, r, "bob", "d")
	g := sender.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.flood", Members: []string{"bob", "carol"}})
	equal(t, g.Type, proto.TypeConvResult, "group")
	healthy.push(proto.TypeConvUpdate)
	healthy.push(proto.TypeDeliver) // the created message, seq 1

	// carol says hello, then never reads again.
	slow := dial(t, r, false)
	slow.writeRaw(helloFrame(r.token("carol"), proto.Version, "d"))

	body := make([]byte, 30<<10)
	acks := make(chan error, 1)
	go func() {
		for k := range n {
			if err := sender.c.Write(context.Background(), websocket.MessageBinary, proto.MustEncode(proto.Frame{
				Type: proto.TypeSend, ID: uint64(1000 + k), Body: &proto.Send{ConvID: "g:alice.flood", ClientID: fmt.Sprint(k), MsgType: proto.MsgCustom, Body: body},
			})); err != nil {
				acks <- err
				return
			}
		}
		acks <- nil
	}()
	for k := range n {
		d := healthy.push(proto.TypeDeliver).Body.(*proto.Deliver)
		equal(t, d.Message.Seq, uint64(k+2), "healthy member's deliver")
	}
	ok(t, <-acks)
	for k := range n {
		f := sender.reply(uint64(1000 + k))
		equal(t, f.Type, proto.TypeAck, "sender's ack")
	}
	r.waitMetric(`parley_closes_total{code="4102"}`, "1")
	healthy.quiet("healthy member still connected")
	sender.quiet("sender still connected")
}

func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := New(Options{Data: dir, Secret: testSecret, Logger: testLogger(), Synchronous: "NORMAL"})
	ok(t, err)
	ln, err := listen()
	ok(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	r := &testRelay{t: t, srv: srv, url: "http://" + ln.Addr().String()}
	alice, _ := login(t, r, "alice", "d")
	conv := proto.P2PID("alice", "bob")
	const n = 50
	var first uint64
	for k := range n {
		id := alice.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: fmt.Sprint(k), MsgType: proto.MsgText, Text: "x"})
		if k == 0 {
			first = id
		}
	}
	equal(t, alice.reply(first).Type, proto.TypeAck, "first send") // committed; the rest may or may not be
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok(t, srv.Shutdown(ctx))
	equal(t, <-served, error(http.ErrServerClosed), "serve result")
	frames := append(alice.backlog, alice.expectClose(proto.CodeShutdown)...)
	acked := map[uint64]bool{1: true}
	for _, f := range frames {
		switch f.Type {
		case proto.TypeAck:
			acked[f.Body.(*proto.Ack).Seq] = true
		case proto.TypeError:
			equal(t, errCode(t, f), proto.CodeUnavailable, "refused while draining")
		default:
			t.Fatalf("unexpected %s", f.Type)
		}
	}
	// Every acknowledged message is in the store, and nothing else.
	store, err := OpenSQLite(dir, SQLiteOptions{})
	ok(t, err)
	defer store.Close()
	p, err := store.History(context.Background(), "alice", proto.History{ConvID: conv, Limit: 500})
	ok(t, err)
	equal(t, len(p.Messages), len(acked), "stored = acked")
	for _, m := range p.Messages {
		if !acked[m.Seq] {
			t.Fatalf("seq %d stored but never acked", m.Seq)
		}
	}
	if _, err := plainHTTP.Get(r.url + "/healthz"); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

// TestHealthMetrics covers the relay's HTTP routes besides the WebSocket;
// static files, the profiler and development tokens are the binary's
// (cmd/parley-relay TestServeExtras).
func TestHealthMetrics(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	code, body := r.get("/healthz")
	equal(t, [2]any{code, body}, [2]any{200, "ok\n"}, "healthz")

	c, _ := login(t, r, "alice", "d")
	c.ack(proto.P2PID("alice", "bob"), "1", "x")
	r.waitMetric("parley_frames_out_total", "2") // counted once written, maybe after the client read it
	_, metrics := r.get("/metrics")
	for _, name := range []string{
		"parley_connections 1", "parley_frames_in_total 2",
		"parley_messages_stored_total 1", "parley_send_dedup_total 0", "# TYPE parley_closes_total counter",
		`parley_commit_batch_size_bucket{le="1"} 1`, "parley_commit_batch_size_count 1",
		`parley_ack_latency_seconds_bucket{le="+Inf"} 1`, "go_goroutines ", "go_memstats_heap_inuse_bytes ",
		"process_resident_memory_bytes ",
		// Latency histograms: frame admit, store commit, send→ack, fan-out.
		"# TYPE parley_frame_admit_seconds histogram", "parley_frame_admit_seconds_count 2",
		"# TYPE parley_store_commit_seconds histogram", "parley_store_commit_seconds_count 1",
		"# TYPE parley_ack_latency_seconds histogram",
		"# TYPE parley_fanout_seconds histogram", "parley_fanout_seconds_count 1",
		"# TYPE parley_request_seconds histogram", `parley_request_seconds_count{frame="send"} 1`,
		`parley_request_seconds_count{frame="hello"} 1`,
		// Queue depths.
		"parley_commit_queue_sends 0", "parley_send_queue_frames ", "parley_send_queue_max_frames ",
		// The standard collectors.
		"go_gc_duration_seconds", "go_info{", "go_threads ", "process_cpu_seconds_total ",
		"process_open_fds ", "process_start_time_seconds ",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("metrics lack %q", name)
		}
	}

	for _, path := range []string{"/", "/index.html", "/debug/pprof/"} {
		code, _ = r.get(path)
		equal(t, code, http.StatusNotFound, path+": the relay serves only its own routes")
	}
	// The public handler has no metrics: they are the operator's.
	rec := httptest.NewRecorder()
	r.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	equal(t, rec.Code, http.StatusNotFound, "/metrics on the public handler")
	resp, err := plainHTTP.Post(r.url+"/dev/token?user=alice", "", nil)
	ok(t, err)
	resp.Body.Close()
	equal(t, resp.StatusCode, http.StatusNotFound, "no development tokens from the relay package")
}

func TestStoreDownAtHealthz(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	r := startRelay(t, func(o *Options) { o.Store = store })
	store.Close()
	code, _ := r.get("/healthz")
	equal(t, code, http.StatusServiceUnavailable, "healthz with a closed store")
	c, _ := login(t, r, "alice", "d")
	equal(t, errCode(t, c.call(proto.TypeSync, &proto.Sync{})), proto.CodeUnavailable, "sync with a closed store")
	equal(t, errCode(t, c.sendText(proto.P2PID("alice", "bob"), "1", "x")), proto.CodeUnavailable, "send with a closed store")
	c.expectClose(proto.CodeOverloaded) // later sends must not overtake the refused one
}
