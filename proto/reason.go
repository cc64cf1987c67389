package proto

// A close reason travels twice when the relay ends a connection: in the
// Close frame, where MaxReasonBytes bounds it, and in the WebSocket close,
// whose payload RFC 6455 §5.5 caps at 125 bytes, two of them the code.
const (
	MaxReasonBytes      = 256 // Close.Reason
	MaxCloseReasonBytes = 123 // the reason of a WebSocket close
)

// ClipReason cuts a close reason to what a WebSocket close can carry
// (MaxCloseReasonBytes), without splitting a UTF-8 sequence. Both ends use
// it: a longer reason makes the close itself fail.
func ClipReason(s string) string { return Clip(s, MaxCloseReasonBytes) }

// Clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	// s[n] is the first byte cut off; while it continues a sequence, the
	// sequence's start is cut off too.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
