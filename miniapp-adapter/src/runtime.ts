// One runtime per mini-program: the global object Go's runtime sees (the
// host's global object underneath, with the polyfills Go needs on top), the
// random pool, the WebSocket shim's socket group, the WXWebAssembly loader
// and the app lifecycle (wx.onAppHide / wx.onAppShow) for every client.
import type { InstantiateHook, ParleyClient } from '@parley-im/sdk';
import { monotonicPerformance } from './polyfills.js';
import { RandomPool } from './random.js';
import { SocketGroup, type WebSocketClass } from './socket.js';
import { runGoSupport } from './wasm_exec.js';
import type { WXWebAssemblyLike, Wx } from './wx.js';

/** Something the lifecycle flushes when the app is hidden. */
interface Flushable {
  flush?(): Promise<void>;
}

interface Entry {
  client: ParleyClient;
  storage: Flushable | null;
  /** Created with lifecycle on (the default). */
  lifecycle: boolean;
}

/** How long onAppHide waits for the sockets to close: the JS thread stops about 5 s after it. */
const CLOSE_WAIT_MS = 1500;

/** Runtime is what every client of a mini-program shares. @internal */
export class Runtime {
  /** The global object of parley.wasm: the host's underneath (Object.create), the polyfills on top. */
  readonly scope: Record<string, unknown>;
  readonly pool: RandomPool;
  readonly sockets: SocketGroup;
  readonly WebSocket: WebSocketClass;
  readonly instantiate: InstantiateHook;
  readonly entries = new Set<Entry>();
  hidden = false;
  /** Promise of the last pause (tests and apps may await it). */
  paused: Promise<void> = Promise.resolve();
  #lifecycle = false;

  constructor(
    readonly wx: Wx,
    wxWasm: WXWebAssemblyLike,
  ) {
    this.pool = new RandomPool(wx);
    this.sockets = new SocketGroup(wx);
    this.WebSocket = this.sockets.webSocketClass();
    const realm = globalThis as Record<string, unknown>;
    const scope = Object.create(globalThis) as Record<string, unknown>;
    // Go reads these through its global object; the host's own are used
    // when it has them, the polyfills otherwise.
    scope.TextEncoder = realm.TextEncoder;
    scope.TextDecoder = realm.TextDecoder;
    const perf = realm.performance as { now?: unknown } | undefined;
    scope.performance = perf && typeof perf.now === 'function' ? perf : monotonicPerformance();
    const crypto = realm.crypto as { getRandomValues?: unknown } | undefined;
    scope.crypto =
      crypto && typeof crypto.getRandomValues === 'function' ? crypto : { getRandomValues: <T extends ArrayBufferView | null>(v: T): T => this.pool.getRandomValues(v) };
    // Go's fs and process stubs go on the scope too, never the host's.
    scope.fs = goConsoleFS();
    scope.process = undefined;
    scope.path = undefined;
    scope.WebSocket = this.WebSocket;
    runGoSupport(
      scope,
      scope.TextEncoder,
      scope.TextDecoder,
      scope.performance as { now(): number },
      scope.crypto as { getRandomValues<T extends ArrayBufferView | null>(v: T): T },
      scope.fs as object,
      // Go.run checks `instance instanceof WebAssembly.Instance`; a
      // mini-program has WXWebAssembly, whose instances are told by shape.
      { Instance: { [Symbol.hasInstance]: (v: unknown) => typeof v === 'object' && v !== null && typeof (v as { exports?: unknown }).exports === 'object' } },
    );
    this.scope = scope;
    this.instantiate = (source, imports) => {
      if (typeof source !== 'string') return Promise.reject(new TypeError('wasmPath must be a package path string'));
      return wxWasm.instantiate(source, imports) as ReturnType<InstantiateHook>;
    };
  }

  /** add registers a client with the lifecycle (listeners are added with the first client). */
  add(client: ParleyClient, storage: Flushable | null, lifecycle: boolean): void {
    this.entries.add({ client, storage, lifecycle });
    if (lifecycle && !this.#lifecycle) {
      this.#lifecycle = true;
      this.wx.onAppHide(() => {
        this.paused = this.pause();
      });
      this.wx.onAppShow(() => this.resume());
    }
  }

  #live(): Entry[] {
    for (const e of [...this.entries]) if (e.client.state === 'closed') this.entries.delete(e);
    return [...this.entries];
  }

  /**
   * pause is the clean stop before the mini-program is suspended: the
   * sockets close with 1000 (a normal closure, so the relay sees a client
   * that left, not a failure), sockets asked for meanwhile fail at once,
   * and the storages write what is waiting. The sockets are the
   * mini-program's, shared by its clients (the module dials through one
   * global WebSocket): while any open client follows the lifecycle, every
   * socket closes; when none does, nothing happens.
   */
  async pause(): Promise<void> {
    const live = this.#live();
    if (!live.some((e) => e.lifecycle)) return;
    this.hidden = true;
    this.sockets.pause('app hidden');
    await this.sockets.closed(CLOSE_WAIT_MS);
    await Promise.all(live.map((e) => e.storage?.flush?.().catch(() => {})));
  }

  /** resume lets sockets open again and has every client dial at once; each resyncs once welcomed. */
  resume(): void {
    if (!this.hidden) return; // no pause to undo
    this.hidden = false;
    this.sockets.resume();
    for (const e of this.#live()) e.client.reconnect();
  }
}

/** goConsoleFS is the `fs` Go's runtime writes stdout and stderr to: lines to the console, nothing else. */
function goConsoleFS(): object {
  const decoder = new TextDecoder();
  const pending = ['', '', ''];
  const enosys = (): Error => Object.assign(new Error('not implemented'), { code: 'ENOSYS' });
  const fs: Record<string, unknown> = {
    constants: { O_WRONLY: -1, O_RDWR: -1, O_CREAT: -1, O_TRUNC: -1, O_APPEND: -1, O_EXCL: -1, O_DIRECTORY: -1 },
    writeSync(fd: number, buf: Uint8Array): number {
      const i = fd === 2 ? 2 : 1;
      pending[i] += decoder.decode(buf);
      const nl = pending[i]!.lastIndexOf('\n');
      if (nl !== -1) {
        (i === 2 ? console.error : console.log)(pending[i]!.slice(0, nl));
        pending[i] = pending[i]!.slice(nl + 1);
      }
      return buf.length;
    },
    write(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null, callback: (err: Error | null, n?: number) => void): void {
      if (offset !== 0 || length !== buf.length || position !== null) {
        callback(enosys());
        return;
      }
      callback(null, (fs.writeSync as (fd: number, b: Uint8Array) => number)(fd, buf));
    },
    fsync(_fd: number, callback: (err: Error | null) => void): void {
      callback(null);
    },
  };
  for (const name of [
    'chmod', 'chown', 'close', 'fchmod', 'fchown', 'fstat', 'ftruncate', 'lchown', 'link', 'lstat', 'mkdir', 'open',
    'read', 'readdir', 'readlink', 'rename', 'rmdir', 'stat', 'symlink', 'truncate', 'unlink', 'utimes',
  ]) {
    fs[name] = (...args: unknown[]) => {
      const cb = args[args.length - 1];
      if (typeof cb === 'function') (cb as (e: Error) => void)(enosys());
    };
  }
  return fs;
}
