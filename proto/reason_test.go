package proto

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"short/kept", "bye", 10, "bye"},
		{"exact/kept", "bye", 3, "bye"},
		{"ascii/cut", "goodbye", 4, "good"},
		{"two-byte/not split", "aé", 2, "a"}, // é is 2 bytes: 3 in all
		{"three-byte/not split", "a€b", 3, "a"},
		{"three-byte/whole", "a€b", 4, "a€"},
		{"four-byte/not split", "😀x", 3, ""},
		{"zero", "x", 0, ""},
		{"negative", "x", -1, ""},
	}
	for _, c := range cases {
		if got := Clip(c.s, c.n); got != c.want {
			t.Errorf("%s: Clip(%q, %d) = %q, want %q", c.name, c.s, c.n, got, c.want)
		}
	}
}

// TestClipReason: whatever the reason, the clipped one fits a WebSocket
// close, is valid UTF-8 and is the longest prefix that is.
func TestClipReason(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{"a", "é", "€", "😀"} {
		for n := range 70 {
			s := strings.Repeat(unit, n)
			got := ClipReason(s)
			if len(got) > MaxCloseReasonBytes || !utf8.ValidString(got) || !strings.HasPrefix(s, got) {
				t.Fatalf("ClipReason(%d × %q) = %q (%d bytes)", n, unit, got, len(got))
			}
			if len(s) > MaxCloseReasonBytes && len(got)+len(unit) <= MaxCloseReasonBytes {
				t.Fatalf("ClipReason(%d × %q) cut too much: %d bytes", n, unit, len(got))
			}
		}
	}
}
