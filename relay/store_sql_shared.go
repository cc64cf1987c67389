package relay

import "math"

// What the SQL stores (SQLite, PostgreSQL) share; SQLite also builds
// under js/wasm, PostgreSQL does not.

// change names a user's state in a conversation.
type change struct{ user, conv string }

// clampInt64 maps a uint64 from the wire into bigint's range.
func clampInt64(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

type senderClient struct{ sender, clientID string }
