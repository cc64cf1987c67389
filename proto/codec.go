package proto

import (
	"errors"
	"fmt"
	"reflect"

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

	MaxGroupNameBytes = 256 // CreateGroup.Name

	// Decoder caps: a frame nesting deeper, or holding a longer array or a
	// bigger map anywhere, is a protocol error before any field is read.
	MaxNestedLevels  = 8
	MaxArrayElements = 4096
	MaxMapPairs      = 64
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
	// Nil slices go out as empty arrays, never null, so a peer reading
	// HistoryPage.Messages or SyncResult.Conversations always finds an array.
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = eo.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  MaxNestedLevels,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
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
		b, err := encMode.Marshal(f.Body)
		if err != nil {
			return nil, fmt.Errorf("proto: encode %s: %w", f.Type, err)
		}
		env.Body = b
	}
	out, err := encMode.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("proto: encode %s: %w", f.Type, err)
	}
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
	var env envelope
	if err := decMode.Unmarshal(b, &env); err != nil {
		return Frame{}, protocolError("envelope", err)
	}
	if err := checkValid(b); err != nil {
		return Frame{}, Errorf(CodeProtocolError, "proto: decode: %v", err)
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
	var env struct {
		Type *Type `cbor:"1,keyasint"`
	}
	if err := decMode.Unmarshal(b, &env); err != nil || env.Type == nil {
		return 0, false
	}
	return *env.Type, true
}
