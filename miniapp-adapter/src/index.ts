/**
 * @parley-im/miniapp: Parley for WeChat mini-programs. The same client as
 * `@parley-im/sdk` (the same Go core compiled to the same parley.wasm, the
 * same `ParleyClient` API) over what a mini-program has: wx.connectSocket,
 * WXWebAssembly, user files and wx storage.
 *
 * ```js
 * import { createClient } from '@parley-im/miniapp';
 * const client = await createClient({
 *   url: 'wss://im.example.com/v1/ws',
 *   token: () => fetchToken(),
 *   wasmPath: '/parley/parley.wasm.br', // in a subpackage, see the README
 * });
 * client.on('message', (m) => console.log(m.sender, m.text));
 * await client.connect();
 * ```
 * @packageDocumentation
 */
// First: the SDK's modules need TextEncoder and TextDecoder as they load.
import './install.js';
import { Codes, ParleyError, createClient as createSdkClient } from '@parley-im/sdk';
import type { ClientOptions, ParleyClient, StorageAdapter } from '@parley-im/sdk';
import { Utf8TextDecoder, Utf8TextEncoder, atobPolyfill, btoaPolyfill } from './polyfills.js';
import { RandomPool } from './random.js';
import { Runtime } from './runtime.js';
import { SocketGroup } from './socket.js';
import { FileStorage, type FileStorageOptions, type StorageErrorEvent } from './storage.js';
import type { WXWebAssemblyLike, Wx } from './wx.js';

declare const wx: Wx | undefined;
declare const WXWebAssembly: WXWebAssemblyLike | undefined;

/**
 * Options of {@link createClient}: those of `@parley-im/sdk`, with
 * `wasmPath` instead of `wasmUrl`. The host primitives (`WebSocket`,
 * `instantiate`, `wasmGlobal`) are this package's to give.
 */
export interface MiniappClientOptions extends Omit<ClientOptions, 'storage' | 'wasmUrl' | 'instantiate' | 'WebSocket' | 'wasmGlobal'> {
  /**
   * The code-package path of the `parley.wasm.br` this package ships, where
   * you copied it, e.g. `'/parley/parley.wasm.br'` (a subpackage root: the
   * file is about 0.8 MB and a package may hold 2 MB). A `.wasm` path works too.
   */
  wasmPath: string;
  /**
   * The local cache. Defaults to `'file'`: {@link fileStorage} with
   * `fileStorage` as its options. `'memory'` keeps the cache in the wasm
   * module for the life of the client; a StorageAdapter is used as is.
   */
  storage?: 'file' | 'memory' | StorageAdapter;
  /** Options of the default file storage (its name, its size budget). */
  fileStorage?: Omit<FileStorageOptions, 'onError'>;
  /** Called when the file storage could not write (see {@link StorageErrorEvent}). Defaults to a console warning. */
  onStorageError?: (event: StorageErrorEvent) => void;
  /**
   * Follow the app's lifecycle: on wx.onAppHide close the connection
   * cleanly (1000) and write the cache; on wx.onAppShow reconnect and
   * resync at once. Defaults to true. The sockets are the mini-program's:
   * while another open client follows the lifecycle, this client's socket
   * closes on hide too.
   */
  lifecycle?: boolean;
}

let runtime: Runtime | null = null;
let runtimeReady: Promise<Runtime> | null = null;

/**
 * createClient loads parley.wasm (once per mini-program) and returns a
 * client that has not connected yet, like `@parley-im/sdk`'s createClient:
 * subscribe with `on`, then `connect()`. Rejects with a ParleyError 4903
 * (InvalidArgument) on bad options or outside a mini-program.
 */
export async function createClient(options: MiniappClientOptions): Promise<ParleyClient> {
  if (typeof options !== 'object' || options === null) throw invalid('createClient needs an options object');
  const o = options as MiniappClientOptions & Partial<Pick<ClientOptions, 'wasmUrl' | 'instantiate' | 'WebSocket' | 'wasmGlobal'>>;
  for (const k of ['wasmUrl', 'instantiate', 'WebSocket', 'wasmGlobal'] as const) {
    if (o[k] !== undefined) throw invalid(`options.${k} is set by @parley-im/miniapp; ${k === 'wasmUrl' ? 'use wasmPath' : 'leave it out'}`);
  }
  const { wasmPath, storage: storageOpt, fileStorage: fileOpts, onStorageError, lifecycle, ...sdkOptions } = o;
  if (typeof wasmPath !== 'string' || !/\.wasm(\.br)?$/.test(wasmPath) || /^\.\.?\//.test(wasmPath) || /^[a-z][a-z0-9+.-]*:/i.test(wasmPath)) {
    throw invalid("options.wasmPath must be the code-package path of parley.wasm.br, e.g. '/parley/parley.wasm.br'");
  }
  const w = typeof wx === 'undefined' ? undefined : wx;
  const wasm = typeof WXWebAssembly === 'undefined' ? undefined : WXWebAssembly;
  if (!w || !wasm) throw invalid('wx and WXWebAssembly are not defined: @parley-im/miniapp runs in WeChat mini-programs (base library 2.15.0 or later)');

  const rt = await getRuntime(w, wasm);

  let storage: StorageAdapter | 'memory';
  let flushable: FileStorage | null = null;
  if (storageOpt === undefined || storageOpt === 'file') {
    flushable = new FileStorage(w, { ...fileOpts, ...(onStorageError ? { onError: onStorageError } : {}) });
    storage = flushable;
  } else if (storageOpt === 'memory') {
    storage = 'memory';
  } else if (typeof storageOpt === 'object' && storageOpt !== null) {
    storage = storageOpt;
  } else {
    throw invalid("options.storage must be 'file', 'memory' or a StorageAdapter");
  }

  const client = await createSdkClient({
    ...sdkOptions,
    platform: sdkOptions.platform ?? 'miniapp',
    storage,
    wasmUrl: wasmPath,
    instantiate: rt.instantiate,
    WebSocket: rt.WebSocket,
    wasmGlobal: rt.scope,
  });
  rt.add(client, flushable ?? (typeof storage === 'object' ? (storage as { flush?(): Promise<void> }) : null), lifecycle !== false);
  return client;
}

function getRuntime(w: Wx, wasm: WXWebAssemblyLike): Promise<Runtime> {
  if (runtime) return Promise.resolve(runtime);
  runtimeReady ??= (async () => {
    const rt = new Runtime(w, wasm);
    // Go's runtime draws random bytes synchronously from its first
    // instruction on: the pool is filled before it starts.
    await rt.pool.ready();
    runtime = rt;
    return rt;
  })();
  runtimeReady.catch(() => {
    runtimeReady = null;
  });
  return runtimeReady;
}

/** @internal The shared runtime, for tests and diagnostics: socket and random-pool counters, pause/resume. */
export function _runtime(): Runtime | null {
  return runtime;
}

/** @internal The building blocks, for this package's own tests. */
export const _internals = { RandomPool, SocketGroup, Utf8TextDecoder, Utf8TextEncoder, atobPolyfill, btoaPolyfill };

function invalid(message: string): ParleyError {
  return new ParleyError(Codes.InvalidArgument, message);
}

export { fileStorage, FileStorage, FILE_STORAGE_FULL } from './storage.js';
export type { FileStorageOptions, FileStorageStats, StorageErrorEvent } from './storage.js';
export { ParleyError, Codes, foldText } from '@parley-im/sdk';
export type {
  ClientEventName,
  ClientEvents,
  ConnectionState,
  Conversation,
  Message,
  ParleyClient,
  StorageAdapter,
} from '@parley-im/sdk';
