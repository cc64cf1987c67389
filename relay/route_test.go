package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

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
		{"welcomed/hello", true, proto.Frame{Type: proto.TypeHello, ID: 1}, false},
		{"welcomed/send", true, proto.Frame{Type: proto.TypeSend, ID: 1}, true},
		{"welcomed/send without id", true, proto.Frame{Type: proto.TypeSend}, false},
		{"welcomed/ping without id", true, proto.Frame{Type: proto.TypePing}, true},
		{"welcomed/pong", true, proto.Frame{Type: proto.TypePong}, true},
		{"welcomed/deliver", true, proto.Frame{Type: proto.TypeDeliver}, false},
		{"welcomed/close", true, proto.Frame{Type: proto.TypeClose}, false},
	}
	for _, c := range cases {
		err := admitFrame(c.authed, c.f)
		if (err == nil) != c.ok {
			t.Errorf("%s: got %v", c.name, err)
		}
		if err != nil {
			equal(t, err.Code, proto.CodeProtocolError, c.name)
		}
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
		{"group/unknown", "alice", "g:x", false, false, nil, proto.CodeNotFound},
		{"bad id", "alice", "q:x", false, false, nil, proto.CodeBadRequest},
	}
	for _, c := range cases {
		create, err := admitSend(c.sender, c.conv, c.exists, c.isMember)
		var code proto.Code
		if err != nil {
			code = err.Code
		}
		equal(t, code, c.code, c.name+" code")
		equal(t, create, c.create, c.name+" create")
	}
}

func TestNextReadSeq(t *testing.T) {
	t.Parallel()
	for _, c := range [][4]uint64{ // old, asked, last, want
		{0, 5, 10, 5}, {5, 3, 10, 5}, {5, 20, 10, 10}, {10, 0, 10, 10}, {0, 0, 0, 0},
	} {
		equal(t, nextReadSeq(c[0], c[1], c[2]), c[3], "nextReadSeq")
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	equal(t, pageLimit(0, 100, 500), 100, "default")
	equal(t, pageLimit(7, 100, 500), 7, "asked")
	equal(t, pageLimit(9999, 100, 500), 500, "capped")
}

func TestPlanGroup(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1234)
	spec, err := planGroup("carol", &proto.CreateGroup{Name: "n", Members: []string{"bob", "alice", "bob", "carol"}}, now, func() string { return "g:new" })
	if err != nil {
		t.Fatal(err)
	}
	equal(t, spec, GroupSpec{ID: "g:new", Name: "n", Creator: "carol", Members: []string{"alice", "bob", "carol"}, CreatedAt: 1234}, "spec")
	many := make([]string, proto.MaxGroupMembers)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	if _, err := planGroup("creator", &proto.CreateGroup{Members: many}, now, nil); err == nil || err.Code != proto.CodeTooLarge {
		t.Fatalf("1001 members: %v", err)
	}
	equal(t, sameGroup(proto.KindGroup, "carol", []string{"alice", "bob", "carol"}, spec) == nil, true, "same group")
	equal(t, sameGroup(proto.KindGroup, "bob", []string{"alice", "bob", "carol"}, spec).Code, proto.CodeConflict, "other creator")
	equal(t, sameGroup(proto.KindP2P, "carol", []string{"alice", "bob", "carol"}, spec).Code, proto.CodeConflict, "not a group")
}

func TestBucket(t *testing.T) {
	t.Parallel()
	b := newBucket(10, 3)
	now := time.Unix(0, 0)
	for i := range 3 {
		equal(t, b.allow(now), true, "burst")
		_ = i
	}
	equal(t, b.allow(now), false, "empty")
	equal(t, b.allow(now.Add(50*time.Millisecond)), false, "half a token")
	equal(t, b.allow(now.Add(100*time.Millisecond)), true, "refilled one")
	equal(t, b.allow(now.Add(10*time.Second)), true, "refill capped at burst")
	equal(t, b.allow(now.Add(10*time.Second)), true, "2")
	equal(t, b.allow(now.Add(10*time.Second)), true, "3")
	equal(t, b.allow(now.Add(10*time.Second)), false, "burst only")
	off := newBucket(-1, 0)
	for range 1000 {
		if !off.allow(now) {
			t.Fatal("disabled bucket refused")
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
	b := syncFrame(3, 7, convs, false, 32<<10)
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
	empty, err := proto.Decode(syncFrame(3, 7, nil, false, 32<<10), 0)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, empty.Body.(*proto.SyncResult).Cursor, uint64(7), "empty page keeps the cursor")
}
