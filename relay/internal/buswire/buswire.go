// Package buswire encodes what relay nodes send each other over a message
// bus: one envelope, addressed by the bus subject, as a compact byte string.
//
// The layout is one kind byte, the except session id and the kick device as
// uvarint-length-prefixed strings, then the frame (for a delivery), the
// kick's time as a uvarint (for a kick) or the control message (for a
// control). Nodes trust each other, but the decoder still checks every
// length: bytes from the network are untrusted.
package buswire

import (
	"encoding/binary"
	"errors"
)

// Envelope is the body of one bus message.
type Envelope struct {
	Except string // session id the frame is not for
	Kick   string // device id to close; when set, Frame is empty
	KickAt uint64 // with Kick: when the kicking session began (unix ns); older sessions close
	Frame  []byte // an encoded proto frame
	// Control, when set, is a message between relay nodes about the
	// user's sessions (the relay's roster and kicks); Frame and Kick are
	// then empty.
	Control []byte
}

const (
	kindFrame byte = 1
	kindKick  byte = 2
	kindCtl   byte = 3

	// MaxID bounds the except and kick strings; session and device ids are
	// far shorter.
	MaxID = 256
)

// ErrMalformed is returned for bytes that are not an envelope.
var ErrMalformed = errors.New("buswire: malformed envelope")

// Encode returns the bytes of e.
func Encode(e Envelope) []byte {
	kind := kindFrame
	frame := e.Frame
	if e.Kick != "" {
		kind, frame = kindKick, nil
	} else if e.Control != nil {
		kind, frame = kindCtl, e.Control
	}
	b := make([]byte, 0, 1+2*binary.MaxVarintLen16+len(e.Except)+len(e.Kick)+len(frame))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(e.Except)))
	b = append(b, e.Except...)
	b = binary.AppendUvarint(b, uint64(len(e.Kick)))
	b = append(b, e.Kick...)
	if kind == kindKick {
		return binary.AppendUvarint(b, e.KickAt)
	}
	return append(b, frame...)
}

// Decode parses b. The returned Frame aliases b.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) == 0 || (b[0] != kindFrame && b[0] != kindKick && b[0] != kindCtl) {
		return e, ErrMalformed
	}
	kind := b[0]
	b = b[1:]
	str := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > MaxID || n > uint64(len(b)-w) {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	var ok bool
	if e.Except, ok = str(); !ok {
		return Envelope{}, ErrMalformed
	}
	if e.Kick, ok = str(); !ok {
		return Envelope{}, ErrMalformed
	}
	switch kind {
	case kindKick:
		at, w := binary.Uvarint(b)
		if e.Kick == "" || w <= 0 || w != len(b) {
			return Envelope{}, ErrMalformed
		}
		e.KickAt = at
	case kindCtl:
		if e.Kick != "" || len(b) == 0 {
			return Envelope{}, ErrMalformed
		}
		e.Control = b
	default:
		if e.Kick != "" || e.KickAt != 0 || len(b) == 0 {
			return Envelope{}, ErrMalformed
		}
		e.Frame = b
	}
	return e, nil
}
