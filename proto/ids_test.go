package proto

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestP2PIDSymmetric(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"alice", "bob"},
		{"bob", "alice"},
		{"Bob", "alice"}, // bytewise order: uppercase sorts first
		{"user-10", "user-9"},
		{"a", "a.b"},
		{"x@example.com", "x_y"},
		{strings.Repeat("z", MaxNameBytes), strings.Repeat("y", MaxNameBytes)},
	}
	for _, p := range pairs {
		a, b := p[0], p[1]
		id := P2PID(a, b)
		equal(t, "P2PID("+a+","+b+") symmetric", P2PID(b, a), id)
		x, y, ok := P2PMembers(id)
		if !ok || x != min(a, b) || y != max(a, b) {
			t.Errorf("P2PMembers(%q) = %q, %q, %v; want %q, %q", id, x, y, ok, min(a, b), max(a, b))
		}
		equal(t, "KindOf("+id+")", KindOf(id), KindP2P)
		equal(t, "ValidConvID("+id+")", ValidConvID(id), true)
	}
}

func TestP2PIDRandom(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-"
	name := func() string {
		b := make([]byte, 1+r.IntN(MaxNameBytes))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 2000 {
		a, b := name(), name()
		if a == b {
			continue
		}
		id := P2PID(a, b)
		x, y, ok := P2PMembers(id)
		if P2PID(b, a) != id || !ok || x != min(a, b) || y != max(a, b) {
			t.Fatalf("seed %d: P2PID(%q, %q) = %q parses to %q, %q, %v", seed, a, b, id, x, y, ok)
		}
	}
}

func TestP2PMembersRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxNameBytes+1)
	for _, id := range []string{
		"",
		"p:",
		"p::",
		"p:alice",
		"p:alice:",
		"p::bob",
		"p:bob:alice",       // not canonical: P2PID sorts the pair
		"p:alice:alice",     // nobody has a p2p conversation with themselves
		"p:alice:bob:carol", // three members
		"p:alice::bob",
		"P:alice:bob",
		"p;alice:bob",
		"g:alice:bob",
		"alice:bob",
		" p:alice:bob",
		"p:alice:bob ",
		"p:alice:bob\n",
		"p:al ice:bob",
		"p:alice:b/ob",
		"p:alice:bob\x00",
		"p:álice:bob",
		"p:alice:" + long,
		"p:" + long + ":zz",
		"p:alice#3:bob",
	} {
		if a, b, ok := P2PMembers(id); ok || a != "" || b != "" {
			t.Errorf("P2PMembers(%q) = %q, %q, %v; want rejection", id, a, b, ok)
		}
		if KindOf(id) == KindP2P {
			t.Errorf("KindOf(%q) = p2p for a malformed id", id)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"simple", "alice", true},
		{"single char", "a", true},
		{"digits", "12345", true},
		{"every symbol", "a_b.c@d-e", true},
		{"email", "alice@example.com", true},
		{"ulid", "01JDQ4N8Z6W3F5V2K9M7TCXRHE", true},
		{"max length", strings.Repeat("x", MaxNameBytes), true},
		{"empty", "", false},
		{"too long", strings.Repeat("x", MaxNameBytes+1), false},
		{"colon", "a:b", false}, // would break p2p ids
		{"hash", "a#1", false},  // would break message ids
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"plus", "a+b", false},
		{"tab", "a\tb", false},
		{"nul", "a\x00", false},
		{"non-ascii", "ålice", false},
		{"emoji", "🙂", false},
		{"invalid utf-8", "\xff", false},
	}
	for _, c := range cases {
		equal(t, c.name, ValidName(c.in), c.want)
	}
}

func TestConvIDs(t *testing.T) {
	t.Parallel()
	maxP2P := P2PID(strings.Repeat("a", MaxNameBytes), strings.Repeat("b", MaxNameBytes))
	cases := []struct {
		id    string
		group bool
		kind  string
	}{
		{"p:alice:bob", false, KindP2P},
		{maxP2P, false, KindP2P}, // 131 bytes: p2p ids may exceed MaxIDBytes
		{"g:design-team", true, KindGroup},
		{"g:" + strings.Repeat("g", MaxNameBytes), true, KindGroup},
		{"g:" + strings.Repeat("g", MaxNameBytes+1), false, ""},
		{"g:", false, ""},
		{"g:a:b", false, ""},
		{"g:p:alice:bob", false, ""},
		{"G:team", false, ""},
		{"team", false, ""},
		{"p:bob:alice", false, ""},
		{"", false, ""},
	}
	for _, c := range cases {
		equal(t, "ValidGroupID("+c.id+")", ValidGroupID(c.id), c.group)
		equal(t, "KindOf("+c.id+")", KindOf(c.id), c.kind)
		equal(t, "ValidConvID("+c.id+")", ValidConvID(c.id), c.kind != "")
		checkConvID(t, c.id, c.kind != "")
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	equal(t, "MessageID", MessageID("p:alice:bob", 42), "p:alice:bob#42")
	m := Message{ConvID: "g:team", Seq: 18446744073709551615}
	equal(t, "Message.ID", m.ID(), "g:team#18446744073709551615")
}
