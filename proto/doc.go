// Package proto is Parley's wire protocol: frame types, their CBOR codec with
// strict limits, identifiers and the numeric codes shared by error replies and
// close codes. It does no I/O, starts no goroutines and reads no clock, so the
// relay, the native client and the WebAssembly client all share it.
//
// # Frames
//
// Every WebSocket binary message carries exactly one frame, a CBOR map with
// integer keys (RFC 8949 §3.1, deterministic encoding §4.2.1):
//
//	frame = {
//	  1: uint,        ; type (Type)
//	  ? 2: uint,      ; request id: set by the client on requests, echoed on the reply, absent on pushes
//	  ? 3: body,      ; a map whose schema is fixed by the type; absent for "ok"
//	}
//
//	client                              relay
//	  | -- hello{version, token, device} -> |   first frame, within the auth timeout
//	  | <- welcome{user, epoch, limits} --- |   or close{code} + WebSocket close(code)
//	  | -- send{conv, client id, …} ------> |
//	  | <- ack{seq} ----------------------- |   only after the message is committed
//	  | <- deliver{message} --------------- |   pushes to every other device of every member
//	  | -- sync{cursor} ------------------> |   conversations changed since cursor
//	  | -- history{conv, after|before} ---> |   paged messages, ascending by seq
//	  | -- ping -> / <- pong               |   application heartbeat (browsers cannot ping)
//
// # Versioning
//
// Version is negotiated in Hello; a relay accepts [MinVersion, Version] and
// answers anything else with CodeUnsupportedVersion. Within a version, new
// optional map keys may be added and decoders ignore keys they do not know;
// a removed key, a changed meaning or a new required key needs a new version.
// New frame types need a new version too, since an older peer answers an
// unknown type with CodeProtocolError — once version 1 is released; until
// then, with the SDK and relay shipping together, frames are added to it.
//
// # Decoding untrusted bytes
//
// Decode uses one DecMode built at init: duplicate map keys rejected,
// indefinite lengths and tags forbidden, nesting, array and map sizes capped,
// invalid UTF-8 rejected, and the frame size checked before parsing. The
// UTF-8 and duplicate-key rules hold in every corner of a frame, values of
// unknown keys included (valid.go). Every failure is an *Error with a Code;
// see codes.go for the ranges that tell a client whether to reconnect.
//
// docs/protocol.md is the full specification; testdata/vectors holds the
// wire vectors that the Go and TypeScript tests share.
package proto
