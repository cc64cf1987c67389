// Package wiretext is the text of the wire generator's messages: which
// message it is and when it was sent, read back from every delivery. It is
// a package of its own so that fuzzing Parse does not instrument the SDK
// and SQLite that parley-bench also links.
package wiretext

import (
	"math"
	"strconv"
)

// Format carries the message index, its first send time and this
// attempt's send time (unix ns; the same but for a resend after a refusal)
// and, for a sender's first message into a conversation, an "f".
func Format(k int, at, try int64, first bool) string {
	b := make([]byte, 0, 48)
	b = append(b, "m "...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, at, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, try, 10)
	if first {
		b = append(b, " f"...)
	}
	return string(b)
}

// Parse reads what Format wrote. It runs for every delivery on
// the generator's core, so it walks the bytes once and allocates nothing.
func Parse(t []byte) (k int, at, try int64, first, ok bool) {
	if len(t) < 2 || t[0] != 'm' || t[1] != ' ' {
		return 0, 0, 0, false, false
	}
	t = t[2:]
	var n [3]int64
	for i := range n {
		v, rest, ok := num(t)
		if !ok || (i < 2 && (len(rest) == 0 || rest[0] != ' ')) {
			return 0, 0, 0, false, false
		}
		n[i], t = v, rest
		if i < 2 {
			t = t[1:]
		}
	}
	switch string(t) {
	case "":
	case " f":
		first = true
	default:
		return 0, 0, 0, false, false
	}
	if n[0] > math.MaxInt32 {
		return 0, 0, 0, false, false
	}
	return int(n[0]), n[1], n[2], first, true
}

// num reads the decimal digits t starts with (at least one, at most an
// int64's) and returns them and the rest of t.
func num(t []byte) (v int64, rest []byte, ok bool) {
	var u uint64 // 19 digits fit in it, and more are refused
	i := 0
	for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
		if i == 19 {
			return 0, t, false
		}
		u = u*10 + uint64(t[i]-'0')
	}
	if i == 0 || u > math.MaxInt64 {
		return 0, t, false
	}
	return int64(u), t[i:], true
}
