package relay

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/parley-im/parley/proto"
)

// KeyedGroupID is the id the relay gives the group creator asks for with
// idempotency key key and no id: a digest of the two, so every relay of a
// deployment, before and after a restart, answers a resend with the group
// the first request created, and no table of keys is kept (the store's
// create, idempotent by id, does the rest). It holds no dot, so it never
// falls in a user's namespace (--group-ids client), and it cannot be
// guessed without the key, which the client draws at random.
func KeyedGroupID(creator, key string) string {
	h := sha256.Sum256([]byte("parley group\x00" + creator + "\x00" + key))
	return proto.GroupPrefix + hex.EncodeToString(h[:12])
}

// newGroupID returns the id of a group asked for without one: the keyed id
// when the request has a key, a random one otherwise.
func newGroupID(creator string, req *proto.CreateGroup) func() string {
	return func() string {
		if req.Key != "" {
			return KeyedGroupID(creator, req.Key)
		}
		return proto.GroupPrefix + randomHex(12)
	}
}
