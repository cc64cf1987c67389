package proto

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
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
)

// envelope is the wire form of Frame: {1: type, 2: id, 3: body}.
type envelope struct {
	Type Type            `cbor:"1,keyasint"`
	ID   uint64          `cbor:"2,keyasint,omitempty"`
	Body cbor.RawMessage `cbor:"3,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// Core deterministic encoding (RFC 8949 §4.2.1) makes wire vectors
	// byte-for-byte reproducible across Go and TypeScript.
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8,
		MaxArrayElements: 4096,
		MaxMapPairs:      64,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrFrameTooLarge is returned by Decode for input above the size limit.
var ErrFrameTooLarge = &Error{Code: CodeFrameTooLarge, Message: "proto: frame too large"}

// Encode returns the wire bytes of f. It fails when Body's type does not
// match Type.
func Encode(f Frame) ([]byte, error) {
	want, ok := NewBody(f.Type)
	if !ok {
		return nil, fmt.Errorf("proto: encode: unknown frame type %d", f.Type)
	}
	env := envelope{Type: f.Type, ID: f.ID}
	if want != nil {
		if f.Body == nil || fmt.Sprintf("%T", f.Body) != fmt.Sprintf("%T", want) {
			return nil, fmt.Errorf("proto: encode %s: body is %T, want %T", f.Type, f.Body, want)
		}
		b, err := encMode.Marshal(f.Body)
		if err != nil {
			return nil, fmt.Errorf("proto: encode %s: %w", f.Type, err)
		}
		env.Body = b
	}
	return encMode.Marshal(env)
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
	var env envelope
	if err := decMode.Unmarshal(b, &env); err != nil {
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
	if err := decMode.Unmarshal(env.Body, body); err != nil {
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
