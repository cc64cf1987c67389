package rules

import "github.com/parley-im/parley/proto"

// DefaultHistoryLimit is the page size of a History without Limit.
const DefaultHistoryLimit = 100

// NextReadSeq moves a read cursor: never backwards, never past the last
// message.
func NextReadSeq(old, asked, last uint64) uint64 {
	return max(old, min(asked, last))
}

// PageLimit turns a requested page size into the one served: 0 means def,
// anything above maxLimit is capped.
func PageLimit(asked uint32, def, maxLimit int) int {
	if asked == 0 {
		return def
	}
	return min(int(asked), maxLimit)
}

// SyncLimit is the number of conversations one Sync reply may hold: asked,
// or proto.MaxPageLimit when 0 or above it.
func SyncLimit(asked uint32) int {
	return PageLimit(asked, proto.MaxPageLimit, proto.MaxPageLimit)
}

// HistoryLimit is the number of messages one History page may hold: asked,
// DefaultHistoryLimit when 0, at most proto.MaxPageLimit.
func HistoryLimit(asked uint32) int {
	return PageLimit(asked, DefaultHistoryLimit, proto.MaxPageLimit)
}
