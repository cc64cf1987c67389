package main

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-im/parley/relay"
)

// TestICEURLFlags: --stun and --turn-urls take the URLs of RFC 7064 and
// RFC 7065, the examples of their usage among them, and a bad one is named
// with its flag.
func TestICEURLFlags(t *testing.T) {
	t.Parallel()
	flags := serveFlags(t)
	example := func(flag string) string {
		m := regexp.MustCompile(`e\.g\. (\S+)`).FindStringSubmatch(flags[flag][0])
		if m == nil {
			t.Fatalf("--%s usage %q has no example", flag, flags[flag][0])
		}
		return m[1]
	}
	for _, tc := range []struct{ flag, list string }{
		{"stun", example("stun")},
		{"turn-urls", example("turn-urls")},
		{"turn-urls", "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp"},
		{"stun", "stun:turn.example.com, stuns:turn.example.com:5349"},
		{"stun", "stun:203.0.113.7:3478,stun:[2001:db8::7]:3478,STUN:turn_1.example.com"},
		{"turn-urls", "turn:[2001:db8::7]?transport=tcp,turns:203.0.113.7,turn:turn.example.com"},
	} {
		if err := checkICEURLs(tc.flag, tc.list, tc.flag == "turn-urls"); err != nil {
			t.Errorf("--%s %q refused: %v", tc.flag, tc.list, err)
		}
	}
	for _, tc := range []struct{ flag, list, named string }{
		{"stun", "stun:a.example.com,,stun:b.example.com", "stun:a.example.com,,stun:b.example.com"},
		{"stun", "stun:a.example.com,", "stun:a.example.com,"},
		{"stun", "stun:a.example.com, ,stun:b.example.com", "stun:a.example.com, ,stun:b.example.com"},
		{"stun", "turn.example.com:3478", "turn.example.com:3478"},
		{"stun", "stun:a.example.com,stun://turn.example.com", "stun://turn.example.com"},
		{"stun", "stun:turn.example.com/stun", "stun:turn.example.com/stun"},
		{"stun", "stun:turn.example.com:3478/stun", "stun:turn.example.com:3478/stun"},
		{"stun", "stun:turn.example.com?transport=udp", "stun:turn.example.com?transport=udp"},
		{"stun", "stun:turn.example.com?", "stun:turn.example.com?"},
		{"stun", "stun:turn.example.com#main", "stun:turn.example.com#main"},
		{"stun", "stun:turn.example.com:99999", "stun:turn.example.com:99999"},
		{"stun", "stun:turn.example.com:0", "stun:turn.example.com:0"},
		{"stun", "stun:turn.example.com:+3478", "stun:turn.example.com:+3478"},
		{"stun", "stun:turn.example.com;3478", "stun:turn.example.com;3478"},
		{"stun", "stun:turn..example.com", "stun:turn..example.com"},
		{"stun", "stun:203.0.113.700", "stun:203.0.113.700"},
		{"stun", "stun:[fe80::1%25eth0]:3478", "stun:[fe80::1%25eth0]:3478"},
		{"stun", "stun:me@turn.example.com", "stun:me@turn.example.com"},
		{"stun", "turn:turn.example.com:3478", "turn:turn.example.com:3478"},
		{"turn-urls", "turn:turn.example.com?transport=sctp", "turn:turn.example.com?transport=sctp"},
		{"turn-urls", "turn:turn.example.com?transport=udp&transport=tcp", "turn:turn.example.com?transport=udp&transport=tcp"},
		{"turn-urls", "turn:turn.example.com?", "turn:turn.example.com?"},
		{"turn-urls", "turn:me:secret@turn.example.com", "turn:me:secret@turn.example.com"},
		{"turn-urls", "turns:turn.example.com:5349,stun:turn.example.com", "stun:turn.example.com"},
		{"turn-urls", "http://turn.example.com", "http://turn.example.com"},
	} {
		err := checkICEURLs(tc.flag, tc.list, tc.flag == "turn-urls")
		if err == nil {
			t.Errorf("--%s %q accepted", tc.flag, tc.list)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "--"+tc.flag+" ") || !strings.Contains(msg, `"`+tc.named+`"`) {
			t.Errorf("--%s %q: message %q does not name the flag and %q", tc.flag, tc.list, msg, tc.named)
		}
	}
}

// TestEmbeddedTURNURLs: the URLs the embedded TURN server hands to calls,
// and the STUN URLs made of them, are ones --turn-urls and --stun take.
func TestEmbeddedTURNURLs(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"203.0.113.7", "2001:db8::7"} {
		e := newFlagSet("serve", io.Discard)
		check, start := callFlags(e)
		if err := e.parse([]string{"--turn-listen", "127.0.0.1:0", "--turn-public-ip", ip, "--turn-secret", "s"}); err != nil {
			t.Fatal(err)
		}
		if err := check(); err != nil {
			t.Fatal(err)
		}
		var o relay.Options
		stop, err := start(&o)
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if len(o.Calls.TURNURLs) == 0 || len(o.Calls.STUNURLs) == 0 {
			t.Fatalf("public IP %s: TURN %q, STUN %q", ip, o.Calls.TURNURLs, o.Calls.STUNURLs)
		}
		if err := checkICEURLs("turn-urls", strings.Join(o.Calls.TURNURLs, ","), true); err != nil {
			t.Error(err)
		}
		if err := checkICEURLs("stun", strings.Join(o.Calls.STUNURLs, ","), false); err != nil {
			t.Error(err)
		}
	}
}
