// wasm_exec.js is Go's JavaScript support for js/wasm programs, generated
// by scripts/build.mjs from the copy `./build.sh wasm` puts beside
// parley.wasm: the file unchanged inside a function whose parameters stand
// for the globals it reads, so it runs over the object given as globalThis
// and defines Go there. Nothing reaches the host's global object.

/** The runtime class Go's wasm_exec.js defines. */
export interface GoClass {
  new (): { importObject: object; run(instance: object): Promise<void> };
}

/** The globals wasm_exec.js reads, given explicitly. */
export interface GoGlobals {
  TextEncoder: unknown;
  TextDecoder: unknown;
  performance: { now(): number };
  crypto: { getRandomValues<T extends ArrayBufferView | null>(v: T): T };
  fs: object;
  WebAssembly: { Instance: unknown };
}

/** runGoSupport runs wasm_exec.js with scope as its globalThis; it sets scope.Go. */
export declare function runGoSupport(
  scope: object,
  TextEncoder: unknown,
  TextDecoder: unknown,
  performance: GoGlobals['performance'],
  crypto: GoGlobals['crypto'],
  fs: object,
  WebAssembly: GoGlobals['WebAssembly'],
): void;
