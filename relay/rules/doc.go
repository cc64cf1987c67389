// Package rules holds the relay's decisions: which frame is acceptable when,
// who may write or read a conversation, how fast a connection may send, how
// read cursors move and pages are sized, how a group is normalised, and how a
// reply is cut to fit the frame limit.
//
// Every rule is a pure function of its arguments — no sockets, no SQL, no
// goroutines, no clock of its own (the time is an argument) — so the same
// rules run inside each store's transaction (where a check and the write it
// guards can never race), in the relay's sessions, and in any other runtime
// that terminates the connections, such as a js/wasm build. A test keeps the
// package free of I/O imports for the host and for js/wasm.
//
// A refusal is a *proto.Error whose code says what the client gets: close
// codes (40xx) from the admission rules, request errors (42xx) from the
// authorisation rules.
//
// # Concurrency
//
// Functions are safe for concurrent use.
package rules
