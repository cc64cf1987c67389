package proto

import (
	"strconv"
	"strings"
)

// P2PID returns the conversation id of the one-to-one conversation between a
// and b. Both sides compute it without a round trip; argument order does not
// matter.
func P2PID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "p:" + a + ":" + b
}

// P2PMembers returns the two users of a p2p conversation id and whether id is
// a well-formed one.
func P2PMembers(id string) (a, b string, ok bool) {
	rest, found := strings.CutPrefix(id, "p:")
	if !found {
		return "", "", false
	}
	a, b, found = strings.Cut(rest, ":")
	if !found || !ValidName(a) || !ValidName(b) || a >= b {
		return "", "", false
	}
	return a, b, true
}

// GroupPrefix starts every group conversation id.
const GroupPrefix = "g:"

// ValidGroupID reports whether id is a well-formed group conversation id.
func ValidGroupID(id string) bool {
	rest, ok := strings.CutPrefix(id, GroupPrefix)
	return ok && len(id) <= MaxIDBytes && ValidName(rest)
}

// ValidConvID reports whether id names a p2p or group conversation.
func ValidConvID(id string) bool {
	if _, _, ok := P2PMembers(id); ok {
		return len(id) <= MaxIDBytes+8
	}
	return ValidGroupID(id)
}

// KindOf returns the kind of a conversation id, or "" when it is malformed.
func KindOf(id string) string {
	if _, _, ok := P2PMembers(id); ok {
		return KindP2P
	}
	if ValidGroupID(id) {
		return KindGroup
	}
	return ""
}

// ValidName reports whether s is a valid user, device or client id: 1 to
// MaxNameBytes characters of [A-Za-z0-9_.@-]. The narrow alphabet keeps ids
// safe in conversation ids, logs, URLs and bus subjects.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '.' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return true
}

// MessageID returns the stable id of the message at seq in conv.
func MessageID(conv string, seq uint64) string {
	return conv + "#" + strconv.FormatUint(seq, 10)
}
