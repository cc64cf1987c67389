/**
 * `@parley-im/sdk/errors`: the error type and codes alone. They need no
 * WebAssembly, WebSocket or TextDecoder, so adapters that run the client
 * somewhere else (React Native forwards to a WebView) throw the same
 * `ParleyError` class as the SDK in engines that could not load it.
 * @packageDocumentation
 */
export { ParleyError } from './errors.js';
export { Codes, codeName, retryable, terminal, type Code } from './codes.js';
