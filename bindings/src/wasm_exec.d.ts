// wasm_exec.js is Go's JavaScript support for js/wasm programs
// ($(go env GOROOT)/lib/wasm/wasm_exec.js). It is not checked in: the build
// copies the one matching parley.wasm from ../dist/wasm into dist/esm and
// dist/cjs (scripts/build.mjs). Importing it defines globalThis.Go.
export {};

declare global {
  /** @internal */
  interface GoRuntime {
    importObject: WebAssembly.Imports;
    argv: string[];
    env: Record<string, string>;
    run(instance: WebAssembly.Instance): Promise<void>;
  }
  // eslint-disable-next-line no-var
  var Go: (new () => GoRuntime) | undefined;
}
