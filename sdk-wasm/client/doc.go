// Package client is the Parley client in Go: one package for native
// programs (bots, tests, load tools, examples/go-chat) and for js/wasm,
// where sdk-wasm/wasm puts a JavaScript bridge in front of it for the npm
// package @parley-im/sdk.
//
// A Client runs a core.Core (the sans-IO protocol) and gives it what it
// lacks: a clock, sockets, a store and an application. The files that
// differ per platform are twins, x_notjs.go and x_js.go; everything else is
// shared:
//
//	client.go        Client and its operations
//	options.go       Options (embeds core.Config), Version
//	loop.go          the goroutine that owns the core
//	conn.go          one connection over a Socket: one ordered write queue, one reader
//	socket_*.go      the default Socket: coder/websocket, or the host's WebSocket
//	store.go         Store, Searcher, MemoryStore
//	store_sqlite_notjs.go, store_js.go   SQLite natively; the host's storage adapter
//	host_*.go        platform defaults; under js, the one queue of calls into the host
//	events.go        handlers registered with On, in order
//
// # Concurrency
//
// Every method of Client is safe for concurrent use. One loop goroutine per
// client owns the core: every input (a frame, a close, a timer, an
// operation) reaches it as a closure on a channel, and it executes the
// core's actions in order; the loop is the Store's only writer. A native
// Store (memory, SQLite) is written synchronously: nothing after a Persist
// runs before the Store has applied it, so nothing is written to the
// relay, announced or resolved before what it depends on is stored. The
// host's storage adapter (js/wasm: IndexedDB, or the application's own) is
// written behind: the loop starts the write, up to 64 in flight (three
// history pages of messages at most), in the core's order, and takes its
// next input (the next sync page) while the write commits. A read of the
// store made after the write started finds it. A write that puts a send
// into the outbox holds the frames and events after it until it has
// landed (a message reaches the relay, and is announced as pending, only
// once it survives a restart); after any other write, which stores what the
// relay sent, they go on at once: what a crash takes before the commit, the
// relay still has and the next sync brings back. An operation resolves
// only once the writes before its result have landed.
// WaitSynced returns only with no write in flight, and Close waits for the
// writes in flight before it closes the store. Queries answered by the core (Conversations,
// Conversation, State) may already include what a write in flight stores. Each connection adds a reader goroutine, which posts frames
// and the close to the loop, and a writer goroutine, which drains the
// connection's queue in order; a Socket therefore sees Read from one
// goroutine and Write from another, never two of either at once.
//
// Events reach Options.OnEvent on the loop goroutine, before the operation
// that produced them resolves (it must not block), and handlers registered
// with On on a goroutine of their own, in the same order. State, UserID,
// DeviceID and P2P never wait for the loop: they read what it published
// before it executed the actions of its last input.
//
// Under js/wasm, no call blocks a JavaScript callback: every call into the
// host's JavaScript (storage, token, events, logs) is made from one
// goroutine, the host queue, and the Go goroutine that needs its answer
// waits on a channel.
package client
