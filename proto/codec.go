package proto

import (
	"errors"
	"fmt"
	"reflect"
)

// Limits on what a decoder accepts. Frame size is negotiated per relay (see
// Welcome.MaxFrame); the rest are fixed by the protocol version.
const (
	DefaultMaxFrame = 64 << 10 // bytes in one WebSocket message
	MaxTextBytes    = 16 << 10 // Send.Text
	MaxBodyBytes    = 32 << 10 // Send.Body
	MaxIDBytes      = 128      // conversation ids
	MaxNameBytes    = 64       // user, device and client ids
	MaxGroupMembers = 1000
	MaxPageLimit    = 500 // messages or conversations in one reply

	MaxGroupNameBytes = 256 // CreateGroup.Name

	// Decoder caps: a frame nesting deeper, or holding a longer array or a
	// bigger map anywhere, is a protocol error before any field is read.
	MaxNestedLevels  = 8
	MaxArrayElements = 4096
	MaxMapPairs      = 64
)

// envelope is the wire form of Frame: {1: type, 2: id, 3: body}.
type envelope struct {
	Type Type    `cbor:"1,keyasint"`
	ID   uint64  `cbor:"2,keyasint,omitempty"`
	Body rawItem `cbor:"3,keyasint,omitempty"`
}

// peekEnvelope is the part of the envelope PeekType reads: only the type,
// which must be present and not null.
type peekEnvelope struct {
	Type *Type `cbor:"1,keyasint"`
}

// rawItem is one encoded CBOR data item kept as it is: the envelope's body,
// decoded once its type is known. Decoding one aliases the input.
type rawItem []byte

// ErrFrameTooLarge is returned by Decode for input above the size limit.
var ErrFrameTooLarge = &Error{Code: CodeFrameTooLarge, Message: "proto: frame too large"}

// Encode returns the wire bytes of f. It fails when Body's type does not
// match Type: a nil or typed-nil body for a type that has one, or any body
// for a type that has none.
func Encode(f Frame) ([]byte, error) {
	want, ok := NewBody(f.Type)
	if !ok {
		return nil, fmt.Errorf("proto: encode: unknown frame type %d", f.Type)
	}
	env := envelope{Type: f.Type, ID: f.ID}
	if want == nil && f.Body != nil {
		return nil, fmt.Errorf("proto: encode %s: body is %T, want none", f.Type, f.Body)
	}
	if want != nil {
		// A typed nil pointer would go out as CBOR null, which Decode rejects.
		if v := reflect.ValueOf(f.Body); f.Body == nil || v.Type() != reflect.TypeOf(want) || v.IsNil() {
			return nil, fmt.Errorf("proto: encode %s: body is %T, want non-nil %T", f.Type, f.Body, want)
		}
		env.Body = appendItem(make([]byte, 0, 256), f.Body)
	}
	// The envelope's keys are 1 to 3 and the body is last: 16 bytes hold
	// what comes before it.
	out := appendItem(make([]byte, 0, len(env.Body)+16), &env)
	// A Go string may hold any bytes; a frame with invalid UTF-8 would be
	// rejected by every peer, so refuse it here, where the bug is.
	if err := checkValid(out); err != nil {
		return nil, fmt.Errorf("proto: encode %s: %w", f.Type, err)
	}
	return out, nil
}

// MustEncode is Encode for frames built by the program itself, whose types
// are known to match.
func MustEncode(f Frame) []byte {
	b, err := Encode(f)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode parses one frame of untrusted bytes. maxFrame <= 0 means
// DefaultMaxFrame. Every failure is an *Error: CodeFrameTooLarge for size,
// CodeProtocolError for everything else, including unknown frame types.
func Decode(b []byte, maxFrame int) (Frame, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(b) > maxFrame {
		return Frame{}, ErrFrameTooLarge
	}
	// One pass checks the whole frame: well-formed within the limits, and
	// valid (RFC 8949 §5.3: text is UTF-8, map keys are unique) in every
	// corner, including the values of keys this version does not know,
	// so that a decoder that reads the whole item, as JavaScript ones do,
	// agrees with this one about which frames to reject.
	if err := validFrame(b); err != nil {
		return Frame{}, Errorf(CodeProtocolError, "proto: decode: %v", err)
	}
	var env envelope
	d := &decoder{b: b}
	if err := d.decode(&env); err != nil {
		return Frame{}, protocolError("envelope", err)
	}
	body, ok := NewBody(env.Type)
	if !ok {
		return Frame{}, Errorf(CodeProtocolError, "proto: unknown frame type %d", env.Type)
	}
	f := Frame{Type: env.Type, ID: env.ID}
	if body == nil {
		if len(env.Body) != 0 {
			return Frame{}, Errorf(CodeProtocolError, "proto: %s frame has a body", env.Type)
		}
		return f, nil
	}
	if len(env.Body) == 0 {
		return Frame{}, Errorf(CodeProtocolError, "proto: %s frame without body", env.Type)
	}
	// The body must be a map (major type 5, RFC 8949 §3.1). Without this
	// check null or undefined would decode as a zero body.
	if env.Body[0]>>5 != 5 {
		return Frame{}, Errorf(CodeProtocolError, "proto: %s body is not a map", env.Type)
	}
	// The body is an item of the frame validFrame accepted, so it is
	// within the limits alone too.
	*d = decoder{b: env.Body}
	if err := d.decode(body); err != nil {
		return Frame{}, protocolError(env.Type.String(), err)
	}
	f.Body = body
	return f, nil
}

func protocolError(what string, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return Errorf(CodeProtocolError, "proto: decode %s: %v", what, err)
}

// PeekType returns the type of the frame in b without decoding its body, so
// that a relay can hold a frame to its type's size limit before paying for
// the decode. The envelope as every encoder here writes it (deterministic,
// key 1 first) costs a few byte reads; any other key order costs one
// well-formedness pass over b. ok is false when b is not an envelope with a
// type; Decode then reports why.
func PeekType(b []byte) (t Type, ok bool) {
	// A map of 1 to 3 pairs (0xa1-0xa3), key 1 (0x01), then the type as a
	// small unsigned integer (0x00-0x17) or one byte after 0x18.
	if len(b) >= 3 && b[0] >= 0xa1 && b[0] <= 0xa3 && b[1] == 0x01 {
		switch v := b[2]; {
		case v <= 0x17:
			return Type(v), true
		case v == 0x18 && len(b) >= 4:
			return Type(b[3]), true
		}
	}
	var env peekEnvelope
	if err := unmarshal(b, &env); err != nil || env.Type == nil {
		return 0, false
	}
	return *env.Type, true
}
