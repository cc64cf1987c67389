package buswire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// MACSize is the length of the tag Seal appends.
const MACSize = sha256.Size

// MinKeyBytes is the shortest cluster key Seal and Open accept in use; the
// relay refuses shorter ones at start.
const MinKeyBytes = 32

// ErrBadMAC is returned by Open for bytes without a valid tag.
var ErrBadMAC = errors.New("buswire: unsigned or badly signed envelope")

// Seal returns payload followed by HMAC-SHA256 (RFC 2104) under key of the
// subject and the payload. The subject is inside the tag so that an envelope
// signed for one user's subject cannot be replayed onto another's.
func Seal(key []byte, subject string, payload []byte) []byte {
	out := make([]byte, 0, len(payload)+MACSize)
	out = append(out, payload...)
	return append(out, tag(key, subject, payload)...)
}

// Open checks the tag Seal appended and returns the payload, which aliases b.
func Open(key []byte, subject string, b []byte) ([]byte, error) {
	if len(b) < MACSize {
		return nil, ErrBadMAC
	}
	payload, mac := b[:len(b)-MACSize], b[len(b)-MACSize:]
	if !hmac.Equal(mac, tag(key, subject, payload)) {
		return nil, ErrBadMAC
	}
	return payload, nil
}

func tag(key []byte, subject string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(subject)))])
	m.Write([]byte(subject))
	m.Write(payload)
	return m.Sum(nil)
}
