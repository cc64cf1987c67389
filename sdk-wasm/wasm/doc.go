// Command wasm is parley.wasm: the Parley client (sdk-wasm/client) compiled
// for js/wasm, the engine of the npm package @parley-im/sdk (bindings/).
//
// This command is only the bridge between JavaScript and a client.Client.
// It registers one global, globalThis.__parley_v1, a WasmBridgeV1 whose
// call contract is written by hand in bindings/src/wasm.d.ts (the shapes
// that cross it are generated from the Go types' JSON tags into
// bindings/src/bridge.gen.ts), calls globalThis.__parley_ready() and then
// serves calls until the page or process ends. Data crosses the boundary as
// plain objects: Go writes a value as JSON text without reflection and the
// host side makes it an object with one JSON.parse; objects the host hands
// in are read field by field (sdk-wasm/client's jsvalue_js.go). The module
// has no encoding/json. Wire frames never cross, the client owns the
// WebSocket.
//
// Concurrency. The client runs as it does natively (see sdk-wasm/client):
// one loop goroutine per client owns the core. Around it:
//
//   - a JS call into a client never blocks: synchronous methods (state,
//     userId, deviceId, p2p, reconnect) read what the loop published or
//     post without waiting; Promise methods check and copy their arguments,
//     start a goroutine and return (the Promise executor only stores
//     resolve and reject);
//   - every call into the host's JavaScript — onEvent, log, token, storage
//     and the settling of Promises — is made by the client package's one
//     host queue, in order, each batch from a fresh microtask, so the host
//     is never re-entered while one of its calls into Go is on the stack,
//     and a Promise settles after the events its operation produced;
//   - waiting for a host Promise (storage, token) blocks the calling Go
//     goroutine, never a js.FuncOf callback.
//
// A panic in a call rejects that call with proto.CodePanic (4905); a panic
// in the loop stops the client with a disconnected state carrying 4905.
//
// The files ending in _js.go are the js/wasm build; config.go is shared and
// compiles natively, where main_notjs.go only explains how to build.
package main
