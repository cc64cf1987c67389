// Command wasm is parley.wasm: the Parley client compiled for js/wasm, the
// engine of the npm package @parley-im/sdk (bindings/).
//
// It registers one global, globalThis.__parley_v1, a WasmBridgeV1 whose
// contract is written by hand in bindings/src/wasm.d.ts, calls
// globalThis.__parley_ready() and then serves calls until the page or
// process ends. Data crosses the boundary as JSON in a Uint8Array, one copy
// per value; wire frames never cross, the module owns the WebSocket.
//
// Concurrency. Each client is driven like sdk-wasm/client drives it
// natively: one loop goroutine owns the core.Core, takes inputs from a
// channel of closures, executes the core's actions in order (a Persist is
// awaited before the next action) and arms one timer. Around it:
//
//   - a JS call into a client never blocks: synchronous methods read a
//     status the loop publishes; Promise methods copy their arguments, start
//     a goroutine and return (the Promise executor only stores resolve and
//     reject);
//   - every call into the host's JavaScript — onEvent, log, token, storage
//     and the settling of Promises — is made by one goroutine (hostQueue),
//     in order, each batch from a fresh microtask, so the host is never
//     re-entered while one of its calls into Go is on the stack, and a
//     Promise settles after the events its operation produced;
//   - waiting for a host Promise (storage, token) blocks the calling Go
//     goroutine on a channel that the Promise's then/catch callbacks fill;
//     a js.FuncOf callback never waits for anything;
//   - each connection has a reader goroutine that posts frames and the
//     close (with its WebSocket code) to the loop, and a writer goroutine
//     that sends queued frames in order.
//
// A panic in a call rejects that call with proto.CodePanic (4905); a panic
// in the loop stops the client with a disconnected state carrying 4905.
//
// The files ending in _js.go are the js/wasm build; config.go is shared and
// compiles natively, where main_notjs.go only explains how to build.
package main
