// Loads parley.wasm once per realm and hands out its bridge (wasm.d.ts).
import { Codes } from './codes.js';
import { ParleyError, invalid, toParleyError } from './errors.js';
import type { InstantiateHook, WasmImports, WebSocketConstructor } from './types.js';
import type { WasmBridgeV1 } from './wasm.js';
import { defaultWasmUrl } from './wasm-url.js';

type WasmSource = string | URL | ArrayBuffer | Uint8Array;

// The load in progress or done, shared by every copy of this package in the
// realm (an app may end up with both the ESM and the CJS build): a second
// copy of the Go program would fight the first over __parley_v1.
const LOADING = Symbol.for('@parley-im/sdk/bridge');
// The realm is globalThis, or the module's own global object (options.wasmGlobal).
type Realm = {
  [LOADING]?: Promise<WasmBridgeV1>;
  Go?: (new () => GoRuntime) | undefined;
  __parley_v1?: WasmBridgeV1 | undefined;
  __parley_ready?: (() => void) | undefined;
};

/** isNode reports whether this is Node.js (or a runtime posing as it) rather than a browser. @internal */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

/**
 * loadBridge loads parley.wasm (first call in the realm) and resolves with
 * its bridge. Later calls share the first load and ignore their options. A
 * failed load is forgotten, so the next call tries again.
 * @internal
 */
export function loadBridge(opts: {
  wasmUrl?: WasmSource | undefined;
  instantiate?: InstantiateHook | undefined;
  wasmGlobal?: object | undefined;
}): Promise<WasmBridgeV1> {
  const realm = (opts.wasmGlobal ?? globalThis) as Realm;
  const ready = realm.__parley_v1;
  if (ready) return Promise.resolve(ready);
  let p = realm[LOADING];
  if (!p) {
    p = start(opts.wasmUrl ?? defaultWasmUrl(), opts.instantiate, realm);
    realm[LOADING] = p;
    p.catch(() => {
      if (realm[LOADING] === p) delete realm[LOADING];
    });
  }
  return p;
}

async function start(source: WasmSource, hook: InstantiateHook | undefined, realm: Realm): Promise<WasmBridgeV1> {
  // The fetch and the compile need nothing from Go's runtime, so they start
  // first and run while wasm_exec.js loads (an unbundled page fetches it as
  // one more module, after all the others): the compile is most of a cold
  // start, and it cannot begin before the module's first bytes arrive.
  const compiled = hook ? null : compile(source);
  compiled?.catch(() => {});
  // A host may have loaded its own wasm_exec.js (mini-program adapters run
  // it over a global object of their own, options.wasmGlobal); otherwise use
  // the copy built with parley.wasm.
  if (realm === globalThis && typeof globalThis.Go !== 'function') await import('./wasm_exec.js');
  const Go = realm.Go;
  if (typeof Go !== 'function') {
    throw new ParleyError(Codes.Panic, realm === globalThis ? 'wasm_exec.js did not define globalThis.Go' : 'options.wasmGlobal holds no Go class (run wasm_exec.js over it first)');
  }
  const go = new Go();

  let instance: WebAssembly.Instance;
  try {
    if (hook) {
      const r = await hook(source, go.importObject as WasmImports);
      instance = ('instance' in r ? r.instance : r) as WebAssembly.Instance;
    } else {
      instance = await WebAssembly.instantiate(await compiled!, go.importObject);
    }
  } catch (e) {
    if (e instanceof ParleyError) throw e;
    throw invalidWithCause(`could not load parley.wasm from ${describe(source)}: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  await new Promise<void>((resolve, reject) => {
    realm.__parley_ready = resolve;
    go.run(instance).then(
      () => reject(new ParleyError(Codes.Panic, 'parley.wasm exited before it was ready')),
      (e: unknown) => reject(toParleyError(e)),
    );
  });
  delete realm.__parley_ready;

  const bridge = realm.__parley_v1;
  if (!bridge || bridge.version !== 1) {
    throw new ParleyError(Codes.Panic, `parley.wasm speaks bridge version ${String(bridge?.version)}, this package speaks 1`);
  }
  return bridge;
}

/**
 * compile fetches (or, in Node, reads) and compiles the module. Compiling
 * from the response as it streams in (compileStreaming) is what lets the
 * browser reuse the code it compiled on an earlier visit.
 */
async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof ArrayBuffer || source instanceof Uint8Array) return fromBytes(source);
  if (isNode() && isFile(source)) {
    const { readFileBytes } = await import('./node.js');
    return fromBytes(await readFileBytes(source));
  }
  const res = await fetch(source);
  if (!res.ok) throw invalid(`could not load parley.wasm from ${describe(source)}: HTTP ${res.status}`);
  // compileStreaming insists on Content-Type: application/wasm, which many
  // static servers and CDNs do not send; read the bytes then.
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/wasm' && typeof WebAssembly.compileStreaming === 'function') {
    return WebAssembly.compileStreaming(res);
  }
  return fromBytes(await res.arrayBuffer());
}

function fromBytes(bytes: ArrayBuffer | Uint8Array): Promise<WebAssembly.Module> {
  // The cast: a Uint8Array may view a SharedArrayBuffer, which the DOM
  // typings exclude from BufferSource; compiling from one is fine.
  return WebAssembly.compile(bytes as BufferSource);
}

/** isFile reports whether a source names a file: a file: URL or a path (no scheme, or a drive letter). */
function isFile(source: string | URL): boolean {
  if (source instanceof URL) return source.protocol === 'file:';
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source);
  return !scheme || scheme[1]!.length === 1 || scheme[1]!.toLowerCase() === 'file';
}

function describe(source: WasmSource): string {
  return typeof source === 'string' || source instanceof URL ? String(source) : `${source.byteLength} bytes`;
}

function invalidWithCause(message: string, cause: unknown): ParleyError {
  return new ParleyError(Codes.InvalidArgument, message, { cause });
}

/**
 * ensureWebSocket makes the WebSocket of the module's global object
 * (globalThis, or options.wasmGlobal) the constructor the client should dial
 * with: the wasm module reads it from there on every dial, so a per-client
 * constructor cannot exist.
 * @internal
 */
export async function ensureWebSocket(
  given: WebSocketConstructor | undefined,
  log: (level: 'warn', message: string) => void,
  wasmGlobal?: object,
): Promise<void> {
  const realm = (wasmGlobal ?? globalThis) as { WebSocket?: unknown };
  if (given) {
    if (realm.WebSocket !== given) {
      if (realm.WebSocket && realm === globalThis) log('warn', 'options.WebSocket replaces globalThis.WebSocket: the wasm module dials through the global');
      realm.WebSocket = given;
    }
    return;
  }
  if (typeof realm.WebSocket === 'function') return;
  if (isNode()) {
    const { nodeWebSocket } = await import('./node.js');
    realm.WebSocket = await nodeWebSocket();
    return;
  }
  throw invalid('no WebSocket in this environment: pass options.WebSocket');
}
