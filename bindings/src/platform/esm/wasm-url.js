// The default location of parley.wasm for the ESM build (src/wasm-url.d.ts).
// Keep the literal pattern `new URL('…', import.meta.url)`: Vite, webpack 5,
// Parcel and Rollup's asset plugins recognise it, copy parley.wasm into the
// app's output and rewrite the URL. In Node it is a file: URL. The build
// (scripts/build.mjs) adds ?v= and the start of the module's SHA-256, so
// that the URL changes with the module.
export function defaultWasmUrl() {
  return new URL('../parley.wasm', import.meta.url);
}
