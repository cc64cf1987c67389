package rules

import "github.com/parley-im/parley/proto"

// Size limits of the client frames that carry little: a frame above its
// type's limit is refused (4007) from its length and its peeked type alone,
// before its body is decoded, so padding a ping to the frame limit buys a
// client nothing but its own disconnection. A Send or CreateGroup may use the
// whole frame limit.
const (
	MaxPingBytes    = 256      // Ping and Pong: a timestamp
	MaxRequestBytes = 512      // Sync, History, Read: a conversation id and a few numbers
	MaxHelloBytes   = 16 << 10 // Hello: the token is most of it
)

// ControlLimit returns the largest frame of type t a client may send, or 0
// when t may use the whole frame limit.
func ControlLimit(t proto.Type) int {
	switch t {
	case proto.TypePing, proto.TypePong:
		return MaxPingBytes
	case proto.TypeSync, proto.TypeHistory, proto.TypeRead, proto.TypeDevices, proto.TypeKickDevice:
		return MaxRequestBytes
	case proto.TypeHello:
		return MaxHelloBytes
	}
	return 0
}

// AdmitControl refuses a message of n bytes whose envelope names a type with
// a small limit (ControlLimit) that it exceeds, with a close (4007). It
// decodes nothing beyond the type.
func AdmitControl(msg []byte) *proto.Error {
	t, ok := proto.PeekType(msg)
	if !ok {
		return nil // Decode reports what is wrong with it
	}
	if limit := ControlLimit(t); limit > 0 && len(msg) > limit {
		return proto.Errorf(proto.CodeFrameTooLarge, "%s frame of %d bytes above its limit of %d", t, len(msg), limit)
	}
	return nil
}
