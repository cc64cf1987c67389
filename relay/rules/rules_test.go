package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// equal fails t unless got and want are deeply equal.
func equal[T any](t testing.TB, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// code is err's code, 0 for nil.
func code(err *proto.Error) proto.Code {
	if err == nil {
		return 0
	}
	return err.Code
}

func TestAdmitFrame(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		authed bool
		f      proto.Frame
		ok     bool
	}{
		{"connected/hello", false, proto.Frame{Type: proto.TypeHello}, true},
		{"connected/send", false, proto.Frame{Type: proto.TypeSend, ID: 1}, false},
		{"connected/ping", false, proto.Frame{Type: proto.TypePing, ID: 1}, false},
		{"welcomed/hello", true, proto.Frame{Type: proto.TypeHello, ID: 1}, false},
		{"welcomed/send", true, proto.Frame{Type: proto.TypeSend, ID: 1}, true},
		{"welcomed/send without id", true, proto.Frame{Type: proto.TypeSend}, false},
		{"welcomed/sync without id", true, proto.Frame{Type: proto.TypeSync}, false},
		{"welcomed/history without id", true, proto.Frame{Type: proto.TypeHistory}, false},
		{"welcomed/read without id", true, proto.Frame{Type: proto.TypeRead}, false},
		{"welcomed/create-group without id", true, proto.Frame{Type: proto.TypeCreateGroup}, false},
		{"welcomed/ping without id", true, proto.Frame{Type: proto.TypePing}, true},
		{"welcomed/pong", true, proto.Frame{Type: proto.TypePong}, true},
		{"welcomed/deliver", true, proto.Frame{Type: proto.TypeDeliver}, false},
		{"welcomed/ack", true, proto.Frame{Type: proto.TypeAck, ID: 1}, false},
		{"welcomed/close", true, proto.Frame{Type: proto.TypeClose}, false},
	}
	for _, c := range cases {
		err := AdmitFrame(c.authed, c.f)
		if (err == nil) != c.ok {
			t.Errorf("%s: got %v", c.name, err)
		}
		if err != nil {
			equal(t, err.Code, proto.CodeProtocolError, c.name)
		}
	}
}

func TestAdmitSize(t *testing.T) {
	t.Parallel()
	equal(t, code(AdmitSize(1024, 1024)), 0, "at the limit")
	equal(t, code(AdmitSize(1025, 1024)), proto.CodeFrameTooLarge, "one byte above")
}

func TestDecodeFrame(t *testing.T) {
	t.Parallel()
	hello := proto.MustEncode(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: "t", DeviceID: "d"}})
	ping := proto.MustEncode(proto.Frame{Type: proto.TypePing, ID: 2, Body: &proto.Ping{Time: 5}})
	cases := []struct {
		name   string
		msg    []byte
		binary bool
		authed bool
		want   proto.Type
		code   proto.Code
	}{
		{"connected/hello", hello, true, false, proto.TypeHello, 0},
		{"connected/hello as text/4006", hello, false, false, 0, proto.CodeProtocolError},
		{"connected/ping first/4006", ping, true, false, 0, proto.CodeProtocolError},
		{"welcomed/ping", ping, true, true, proto.TypePing, 0},
		{"welcomed/second hello/4006", hello, true, true, 0, proto.CodeProtocolError},
		{"welcomed/malformed cbor/4006", []byte{0xff, 0x00, 0x13}, true, true, 0, proto.CodeProtocolError},
		{"welcomed/unknown type/4006", []byte{0xa1, 0x01, 0x18, 0x63}, true, true, 0, proto.CodeProtocolError},
		{"welcomed/above the limit/4007", make([]byte, 2048), true, true, 0, proto.CodeFrameTooLarge},
	}
	for _, c := range cases {
		f, err := DecodeFrame(c.msg, c.binary, 1024, c.authed)
		equal(t, code(err), c.code, c.name+" code")
		if err == nil {
			equal(t, f.Type, c.want, c.name+" type")
		}
	}
}

func TestAdmitHello(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		h    proto.Hello
		code proto.Code
	}{
		{"valid", proto.Hello{Version: proto.Version, Token: "t", DeviceID: "d"}, 0},
		{"oldest version", proto.Hello{Version: proto.MinVersion, Token: "t", DeviceID: "d"}, 0},
		{"version too new/4005", proto.Hello{Version: proto.Version + 1, Token: "t", DeviceID: "d"}, proto.CodeUnsupportedVersion},
		{"version zero/4005", proto.Hello{Token: "t", DeviceID: "d"}, proto.CodeUnsupportedVersion},
		{"no token/4001", proto.Hello{Version: proto.Version, DeviceID: "d"}, proto.CodeUnauthorized},
		{"bad device/4006", proto.Hello{Version: proto.Version, Token: "t", DeviceID: "a b"}, proto.CodeProtocolError},
	}
	for _, c := range cases {
		equal(t, code(AdmitHello(&c.h)), c.code, c.name)
	}
}

func TestAdmitSend(t *testing.T) {
	t.Parallel()
	ab := proto.P2PID("alice", "bob")
	cases := []struct {
		name             string
		sender, conv     string
		exists, isMember bool
		create           []string
		code             proto.Code
	}{
		{"p2p/first send", "alice", ab, false, false, []string{"alice", "bob"}, 0},
		{"p2p/existing", "bob", ab, true, true, nil, 0},
		{"p2p/outsider", "carol", ab, false, false, nil, proto.CodeForbidden},
		{"p2p/outsider existing", "carol", ab, true, false, nil, proto.CodeForbidden},
		{"group/member", "alice", "g:x", true, true, nil, 0},
		{"group/non-member", "alice", "g:x", true, false, nil, proto.CodeForbidden},
		{"group/unknown", "alice", "g:x", false, false, nil, proto.CodeForbidden},
		{"bad id", "alice", "q:x", false, false, nil, proto.CodeBadRequest},
	}
	for _, c := range cases {
		create, err := AdmitSend(c.sender, c.conv, c.exists, c.isMember)
		equal(t, code(err), c.code, c.name+" code")
		equal(t, create, c.create, c.name+" create")
	}
}

func TestAdmitRead(t *testing.T) {
	t.Parallel()
	ab := proto.P2PID("alice", "bob")
	cases := []struct {
		name             string
		user, conv       string
		exists, isMember bool
		empty            bool
		code             proto.Code
	}{
		{"p2p/party, no message yet", "alice", ab, false, false, true, 0},
		{"p2p/party", "bob", ab, true, true, false, 0},
		{"p2p/outsider", "carol", ab, true, false, false, proto.CodeForbidden},
		{"p2p/outsider, no message yet", "carol", ab, false, false, false, proto.CodeForbidden},
		{"group/member", "alice", "g:x", true, true, false, 0},
		{"group/non-member", "carol", "g:x", true, false, false, proto.CodeForbidden},
		{"group/unknown", "alice", "g:x", false, false, false, proto.CodeForbidden},
	}
	for _, c := range cases {
		empty, err := AdmitRead(c.user, c.conv, c.exists, c.isMember)
		equal(t, code(err), c.code, c.name+" code")
		equal(t, empty, c.empty, c.name+" empty")
	}
	equal(t, code(AdmitParty("carol", ab)), proto.CodeForbidden, "p2p outsider refused early")
	equal(t, code(AdmitParty("carol", "g:x")), 0, "group membership left to the store")
}

func TestDedupOutcome(t *testing.T) {
	t.Parallel()
	equal(t, code(DedupOutcome("g:x", "g:x")), 0, "same conversation: the original ack")
	equal(t, code(DedupOutcome("g:x", "g:y")), proto.CodeConflict, "another conversation")
}

func TestNextReadSeq(t *testing.T) {
	t.Parallel()
	for _, c := range [][4]uint64{ // old, asked, last, want
		{0, 5, 10, 5}, {5, 3, 10, 5}, {5, 20, 10, 10}, {10, 0, 10, 10}, {0, 0, 0, 0},
	} {
		equal(t, NextReadSeq(c[0], c[1], c[2]), c[3], "NextReadSeq")
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	equal(t, PageLimit(0, 100, 500), 100, "default")
	equal(t, PageLimit(7, 100, 500), 7, "asked")
	equal(t, PageLimit(9999, 100, 500), 500, "capped")
	equal(t, SyncLimit(0), proto.MaxPageLimit, "sync default")
	equal(t, SyncLimit(9999), proto.MaxPageLimit, "sync capped")
	equal(t, HistoryLimit(0), DefaultHistoryLimit, "history default")
	equal(t, HistoryLimit(9999), proto.MaxPageLimit, "history capped")
	equal(t, HistoryLimit(3), 3, "history asked")
}

func TestPlanGroup(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1234)
	spec, err := PlanGroup("carol", &proto.CreateGroup{Name: "n", Members: []string{"bob", "alice", "bob", "carol"}}, now, func() string { return "g:new" })
	if err != nil {
		t.Fatal(err)
	}
	equal(t, spec, GroupSpec{ID: "g:new", Name: "n", Creator: "carol", Members: []string{"alice", "bob", "carol"}, CreatedAt: 1234}, "spec")
	chosen, err := PlanGroup("carol", &proto.CreateGroup{ConvID: "g:mine"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, chosen.ID, "g:mine", "the client's id")
	equal(t, chosen.Members, []string{"carol"}, "the creator alone")
	many := make([]string, proto.MaxGroupMembers)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	if _, err := PlanGroup("creator", &proto.CreateGroup{Members: many}, now, nil); err == nil || err.Code != proto.CodeGroupFull {
		t.Fatalf("1001 members, the creator with 1000 others: %v, want 4226 (group full)", err)
	}
	if _, err := PlanGroup(many[0], &proto.CreateGroup{ConvID: "g:big", Members: many}, now, nil); err != nil {
		t.Fatalf("1000 members, the creator among them: %v", err)
	}
	equal(t, SameGroup(proto.KindGroup, "carol", []string{"alice", "bob", "carol"}, spec) == nil, true, "same group")
	equal(t, code(SameGroup(proto.KindGroup, "bob", []string{"alice", "bob", "carol"}, spec)), proto.CodeConflict, "other creator")
	equal(t, code(SameGroup(proto.KindGroup, "carol", []string{"alice", "carol"}, spec)), proto.CodeConflict, "other members")
	equal(t, code(SameGroup(proto.KindP2P, "carol", []string{"alice", "bob", "carol"}, spec)), proto.CodeConflict, "not a group")
}

func TestAdmitControl(t *testing.T) {
	t.Parallel()
	enc := func(f proto.Frame) []byte { return proto.MustEncode(f) }
	ping := enc(proto.Frame{Type: proto.TypePing, Body: &proto.Ping{Time: 1}})
	equal(t, AdmitControl(ping) == nil, true, "a ping")
	// A padded ping: the body carries a key the decoder would skip, at a
	// cost; the limit refuses it from its length.
	padded := enc(proto.Frame{Type: proto.TypeSend, ID: 1, Body: &proto.Send{ConvID: "p:a:b", ClientID: "c", Text: strings.Repeat("x", 1000)}})
	padded[2] = byte(proto.TypePing) // {1: 13, …}: the type is the third byte
	equal(t, code(AdmitControl(padded)), proto.CodeFrameTooLarge, "padded ping")
	send := enc(proto.Frame{Type: proto.TypeSend, ID: 1, Body: &proto.Send{ConvID: "p:a:b", ClientID: "c", Text: strings.Repeat("x", 1000)}})
	equal(t, AdmitControl(send) == nil, true, "a send may be large")
	equal(t, AdmitControl([]byte{0xff}) == nil, true, "garbage is left to Decode")
	for _, typ := range []proto.Type{proto.TypeSync, proto.TypeHistory, proto.TypeRead, proto.TypePong, proto.TypeHello} {
		if ControlLimit(typ) == 0 {
			t.Errorf("%s has no small limit", typ)
		}
	}
}

func TestSyncFrameFits(t *testing.T) {
	t.Parallel()
	var convs []proto.Conversation
	for i := range 40 {
		convs = append(convs, proto.Conversation{ID: "g:x", Kind: proto.KindGroup, Version: uint64(i + 10),
			LastMessage: &proto.Message{Text: strings.Repeat("y", 4000)}})
	}
	b := SyncFrame(3, 7, convs, false, 32<<10)
	if len(b) > 32<<10 {
		t.Fatalf("frame of %d bytes", len(b))
	}
	f, err := proto.Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := f.Body.(*proto.SyncResult)
	n := len(res.Conversations)
	if n == 0 || n == 40 || !res.More || res.Cursor != convs[n-1].Version {
		t.Fatalf("cut page: %d conversations, more %v, cursor %d", n, res.More, res.Cursor)
	}
	empty, err := proto.Decode(SyncFrame(3, 7, nil, false, 32<<10), 0)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, empty.Body.(*proto.SyncResult).Cursor, uint64(7), "empty page keeps the cursor")
	equal(t, empty.Body.(*proto.SyncResult).Conversations, []proto.Conversation{}, "empty page is an empty list")
}

func TestHistoryFrameFits(t *testing.T) {
	t.Parallel()
	var msgs []proto.Message
	for i := range 30 {
		msgs = append(msgs, proto.Message{ConvID: "g:x", Seq: uint64(i + 1), Text: strings.Repeat("z", 4000)})
	}
	page := proto.HistoryPage{ConvID: "g:x", Messages: msgs, LastSeq: 30}
	for _, c := range []struct {
		name   string
		before bool
	}{{"after/keeps the oldest", false}, {"before/keeps the newest", true}} {
		f, err := proto.Decode(HistoryFrame(4, page, c.before, 32<<10), 0)
		if err != nil {
			t.Fatal(err)
		}
		p := f.Body.(*proto.HistoryPage)
		n := len(p.Messages)
		if n == 0 || n == 30 || !p.More {
			t.Fatalf("%s: %d messages, more %v", c.name, n, p.More)
		}
		first := uint64(1)
		if c.before {
			first = uint64(30 - n + 1)
		}
		equal(t, p.Messages[0].Seq, first, c.name)
		equal(t, f.ID, uint64(4), c.name+" id")
	}
	// One message above the limit still goes: a page must make progress.
	huge := proto.HistoryPage{ConvID: "g:x", Messages: []proto.Message{{Seq: 1, Text: strings.Repeat("w", 10000)}}}
	f, err := proto.Decode(HistoryFrame(5, huge, false, 2048), 0)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, len(f.Body.(*proto.HistoryPage).Messages), 1, "a single oversize message")
}

func TestAdmitOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origin, host string
		patterns     []string
		allowed      bool
	}{
		{"https://evil.example", "relay", nil, true},
		{"", "relay", []string{"app.example.com"}, true},
		{"https://relay:8787", "relay:8787", []string{"app.example.com"}, true},
		{"https://app.example.com", "relay", []string{"app.example.com"}, true},
		{"http://app.example.com", "relay", []string{"app.example.com"}, true},
		{"https://APP.example.com", "relay", []string{"app.example.com"}, true},
		{"https://chat.example.com", "relay", []string{"*.example.com"}, true},
		{"https://app.example.com", "relay", []string{"https://app.example.com"}, true},
		{"http://app.example.com", "relay", []string{"https://app.example.com"}, false},
		{"https://app.example.com:8443", "relay", []string{"https://app.example.com"}, false},
		{"https://evil.example", "relay", []string{"app.example.com"}, false},
		{"null", "relay", []string{"app.example.com"}, false},
	} {
		err := AdmitOrigin(tc.origin, tc.host, tc.patterns)
		if (err == nil) != tc.allowed {
			t.Errorf("origin %q, patterns %q: %v, want allowed %v", tc.origin, tc.patterns, err, tc.allowed)
		}
		if err != nil && err.Code != proto.CodeOriginForbidden {
			t.Errorf("origin %q: code %d", tc.origin, err.Code)
		}
	}
}

func TestAdmitGroupName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Design team ✏️", "فريق التصميم", "עברית and English", "tab\u00a0nbsp"} {
		if perr := AdmitGroupName(name); perr != nil {
			t.Errorf("%q refused: %v", name, perr)
		}
	}
	for _, name := range []string{"evil\u202egnp.exe", "a\u202ab", "a\u202cb", "a\u2066b", "a\u2069b", "line\nbreak", "nul\x00", "del\x7f", "c1\u0085", "c1\u009f", "tab\t"} {
		if perr := AdmitGroupName(name); perr == nil || perr.Code != proto.CodeBadName {
			t.Errorf("%q: got %v, want 4256", name, perr)
		}
		if _, perr := PlanGroup("alice", &proto.CreateGroup{Name: name}, time.Now(), func() string { return "g:x" }); perr == nil || perr.Code != proto.CodeBadName {
			t.Errorf("PlanGroup with name %q: got %v, want 4256", name, perr)
		}
	}
}

// BenchmarkPaddedPing compares what a 61 KiB padded ping costs the relay
// refused by its size (admit) with what decoding it cost (decode):
//
//	go test ./relay/rules -run '^$' -bench PaddedPing
func BenchmarkPaddedPing(b *testing.B) {
	pad := 61<<10 - 12
	msg := append([]byte{0xa2, 0x01, byte(proto.TypePing), 0x03, 0xa2, 0x01, 0x01, 0x18, 99, 0x59, byte(pad >> 8), byte(pad)}, make([]byte, pad)...)
	b.Run("admit", func(b *testing.B) {
		for b.Loop() {
			if AdmitControl(msg) == nil {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := proto.Decode(msg, proto.DefaultMaxFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestAdmitGroupQuota(t *testing.T) {
	t.Parallel()
	cases := []struct {
		total, recent, maxTotal, maxHour int
		refused                          bool
	}{
		{0, 0, 500, 60, false},
		{499, 59, 500, 60, false},
		{500, 0, 500, 60, true},
		{10, 60, 500, 60, true},
		{10_000, 10_000, -1, -1, false},
		{10_000, 0, -1, 60, false},
	}
	for _, c := range cases {
		perr := AdmitGroupQuota(c.total, c.recent, c.maxTotal, c.maxHour)
		if (perr != nil) != c.refused || (perr != nil && perr.Code != proto.CodeGroupLimit) {
			t.Errorf("%+v: got %v", c, perr)
		}
	}
}

func TestAdmitGroupID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		creator, id, policy string
		ok                  bool
	}{
		{"alice", "", GroupIDsServer, true},
		{"alice", "", GroupIDsClient, true},
		{"alice", "g:alice.team", GroupIDsClient, true},
		{"alice", "g:alice.x.y", GroupIDsClient, true},
		{"alice", "g:team", GroupIDsClient, false},
		{"alice", "g:alice", GroupIDsClient, false},
		{"alice", "g:alice.", GroupIDsClient, false},
		{"alice", "g:alicex.team", GroupIDsClient, false},
		{"mallory", "g:alice.team", GroupIDsClient, false},
		{"alice", "g:alice.team", GroupIDsServer, false},
		{"mallory", "g:alice.team", GroupIDsAny, true},
	}
	for _, c := range cases {
		perr := AdmitGroupID(c.creator, c.id, c.policy)
		if (perr == nil) != c.ok || (perr != nil && perr.Code != proto.CodeGroupID) {
			t.Errorf("%s asks for %q under %s: got %v", c.creator, c.id, c.policy, perr)
		}
	}
}

// TestAdmitFrameRequestID: after welcome every frame a client may send but
// ping, pong and typing is a request whose id is mandatory (4006 without),
// as docs/protocol.md says.
func TestAdmitFrameRequestID(t *testing.T) {
	t.Parallel()
	requests := 0
	for n := 1; n < 256; n++ {
		ty := proto.Type(n)
		if AdmitFrame(true, proto.Frame{Type: ty, ID: 1}) != nil {
			continue // not a client frame after welcome
		}
		err := AdmitFrame(true, proto.Frame{Type: ty})
		switch ty {
		case proto.TypePing, proto.TypePong, proto.TypeTyping:
			if err != nil {
				t.Errorf("%s without id: %v", ty, err)
			}
		default:
			requests++
			if code(err) != proto.CodeProtocolError {
				t.Errorf("%s without id: got %v, want 4006", ty, err)
			}
		}
	}
	if requests < 20 {
		t.Fatalf("only %d request types", requests)
	}
}
