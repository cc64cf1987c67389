// A WeChat mini-program, faked for Node: the `wx` object and WXWebAssembly
// as WeChat's API reference describes them, and a `vm` context that has
// what a mini-program's JavaScript has and nothing more.
//
// What it follows (WeChat's documentation, by page):
//   - every asynchronous API answers through success/fail/complete
//     callbacks, never synchronously;
//   - wx.connectSocket / SocketTask: binary frames as ArrayBuffers; at most
//     5 WebSocket connections at once (the 6th fails);
//   - wx.setStorage: data is JSON-serialised; 1 MB per key, 10 MB in all;
//     getStorage of a missing key fails "data not found";
//   - FileSystemManager under wx.env.USER_DATA_PATH: user files share 200 MB;
//     a write past it fails with errno 1300202 "the maximum size of the file
//     storage limit is exceeded"; a missing file fails "no such file or
//     directory" (1300002);
//   - wx.getRandomValues: asynchronous, at most 1048576 bytes a call;
//   - WXWebAssembly.instantiate(path, imports): path inside the code
//     package, .wasm or .wasm.br (brotli, decompressed by the platform);
//   - subpackages: the main package and each subpackage at most 2 MB
//     (checked when the code package is laid out, as the upload does);
//   - the app lifecycle: onAppHide, then the JS thread is suspended 5 s
//     later (timers and callbacks are held and delivered when the app comes
//     back, after onAppShow); sockets are cut while suspended;
//   - the JS environment: no WebSocket, TextEncoder/TextDecoder, crypto,
//     performance, WebAssembly, atob, URL or queueMicrotask; no eval or new
//     Function (code generation from strings is off).
// The limits are options so a test can reach them quickly.
import vm from 'node:vm';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, cpSync } from 'node:fs';
import { join, dirname, relative, sep } from 'node:path';
import WebSocket from 'ws';

export const MB = 1024 * 1024;
export const USER_DATA_PATH = 'wxfile://usr';

/**
 * layCodePackage copies a mini-program project into dir and checks its
 * packages against the 2 MB limit, as WeChat's upload does: the
 * subpackages of app.json, and everything else as the main package.
 * It returns the size of each package.
 */
export function layCodePackage(srcDir, dir, extra = {}) {
  rmSync(dir, { recursive: true, force: true });
  cpSync(srcDir, dir, { recursive: true });
  for (const [to, from] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, to)), { recursive: true });
    cpSync(from, join(dir, to), { recursive: true });
  }
  const app = JSON.parse(readFileSync(join(dir, 'app.json'), 'utf8'));
  const roots = (app.subpackages ?? app.subPackages ?? []).map((s) => s.root.replace(/\/$/, ''));
  const sizes = { main: 0 };
  for (const r of roots) sizes[r] = 0;
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) {
        if (f === 'node_modules') continue; // not uploaded: "build npm" copies what runs into miniprogram_npm
        walk(p);
        continue;
      }
      const rel = relative(dir, p).split(sep).join('/');
      const root = roots.find((r) => rel === r || rel.startsWith(r + '/'));
      sizes[root ?? 'main'] += statSync(p).size;
    }
  };
  walk(dir);
  for (const [name, size] of Object.entries(sizes)) {
    if (size > 2 * MB) throw new Error(`code package: ${name} is ${size} bytes, above the 2 MB limit of a package`);
  }
  return sizes;
}

/**
 * createMiniProgram returns { context, wx, hide, show, ... }: a vm context
 * in which a mini-program's code runs, with wx backed by a real relay
 * connection, a folder for user files and the code package in pkgDir.
 */
export function createMiniProgram({
  pkgDir,
  userDir,
  fileQuota: initialFileQuota = 200 * MB,
  storageQuota = 10 * MB,
  keyQuota = 1 * MB,
  socketLimit = 5,
  suspendAfterMs = 5000,
  storage = new Map(),
  log = () => {},
} = {}) {
  mkdirSync(userDir, { recursive: true });
  let fileQuota = initialFileQuota;
  // ---- the JS thread: callbacks and timers, held while suspended ----
  let hidden = false;
  let suspended = false;
  let suspendTimer = null;
  const held = [];
  const counters = { connectSocket: 0, getRandomValues: 0, randomBytes: 0, socketsCut: 0, closes: [] };
  const deliver = (fn) => {
    setImmediate(() => {
      if (suspended) held.push(fn);
      else fn();
    });
  };
  const timers = new Map();
  let nextTimer = 1;
  const ctxSetTimeout = (cb, ms = 0, ...args) => {
    const id = nextTimer++;
    const h = setTimeout(() => {
      timers.delete(id);
      const run = () => cb(...args);
      if (suspended) held.push(run);
      else run();
    }, ms);
    timers.set(id, h);
    return id;
  };
  const ctxClearTimeout = (id) => {
    const h = timers.get(id);
    if (h) clearTimeout(h);
    timers.delete(id);
  };
  const ctxSetInterval = (cb, ms = 0, ...args) => {
    const id = nextTimer++;
    const h = setInterval(() => {
      if (!suspended) cb(...args);
    }, ms);
    timers.set(id, h);
    return id;
  };
  const ctxClearInterval = (id) => {
    const h = timers.get(id);
    if (h) clearInterval(h);
    timers.delete(id);
  };

  const logs = [];
  const consoleFor = (level) => (...a) => {
    const line = a.map((x) => (typeof x === 'string' ? x : x instanceof Error ? x.stack : JSON.stringify(x))).join(' ');
    logs.push(`${level}: ${line}`);
    log(level, line);
  };
  const fakeConsole = { log: consoleFor('log'), info: consoleFor('info'), warn: consoleFor('warn'), error: consoleFor('error'), debug: consoleFor('debug') };

  // The realm's own constructors, for the values handed to the app.
  let realm = null;
  const toRealmBuffer = (bytes) => {
    const ab = new realm.ArrayBuffer(bytes.length);
    new realm.Uint8Array(ab).set(bytes);
    return ab;
  };
  const bytesOf = (data) => {
    if (typeof data?.byteLength !== 'number') throw new TypeError('not an ArrayBuffer');
    return Buffer.from(new Uint8Array(data.slice ? data.slice(0) : data));
  };
  const ok = (o, name, res = {}) => deliver(() => {
    const r = { errMsg: `${name}:ok`, ...res };
    o?.success?.(r);
    o?.complete?.(r);
  });
  const failWith = (o, name, msg, errno) => deliver(() => {
    const r = { errMsg: `${name}:fail ${msg}`, ...(errno !== undefined ? { errno } : {}) };
    o?.fail?.(r);
    o?.complete?.(r);
  });

  // ---- wx.connectSocket ----
  const sockets = new Set();
  function connectSocket(o) {
    counters.connectSocket++;
    const listeners = { open: [], close: [], error: [], message: [] };
    const emit = (ev, res) => deliver(() => listeners[ev].forEach((f) => f(res)));
    let ws = null;
    let closed = false;
    const task = {
      onOpen: (f) => listeners.open.push(f),
      onClose: (f) => listeners.close.push(f),
      onError: (f) => listeners.error.push(f),
      onMessage: (f) => listeners.message.push(f),
      send(so) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return failWith(so, 'sendSocketMessage', 'WebSocket is not connected');
        const data = typeof so.data === 'string' ? so.data : bytesOf(so.data);
        ws.send(data, (err) => (err ? failWith(so, 'sendSocketMessage', err.message) : ok(so, 'sendSocketMessage')));
      },
      close(co = {}) {
        counters.closes.push({ code: co.code ?? 1000, reason: co.reason ?? '' });
        if (ws && ws.readyState <= WebSocket.OPEN) ws.close(co.code ?? 1000, co.reason ?? '');
        ok(co, 'closeSocket');
      },
    };
    if (sockets.size >= socketLimit) {
      failWith(o, 'connectSocket', `the mini-program already has ${socketLimit} WebSocket connections`);
      return task;
    }
    if (!/^wss?:\/\//.test(o.url)) {
      failWith(o, 'connectSocket', `invalid url "${o.url}"`);
      return task;
    }
    sockets.add(task);
    ws = new WebSocket(o.url, o.protocols ?? [], { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    task._ws = ws;
    const end = (code, reason) => {
      if (closed) return;
      closed = true;
      emit('close', { code, reason });
      deliver(() => sockets.delete(task));
    };
    ws.on('open', () => {
      ok(o, 'connectSocket');
      emit('open', { header: {} });
    });
    ws.on('message', (data, isBinary) => {
      emit('message', { data: isBinary ? toRealmBuffer(data) : data.toString() });
    });
    ws.on('error', (err) => emit('error', { errMsg: err.message }));
    ws.on('close', (code, reason) => end(code, reason.toString()));
    task._cut = () => {
      // The OS takes the connection away: no close handshake.
      counters.socketsCut++;
      ws.terminate();
    };
    return task;
  }

  // ---- storage ----
  const storageBytes = () => {
    let n = 0;
    for (const [k, v] of storage) n += Buffer.byteLength(k) + Buffer.byteLength(v);
    return n;
  };
  function setStorage(o) {
    const json = JSON.stringify(o.data);
    if (json === undefined) return failWith(o, 'setStorage', 'data is not JSON-serialisable');
    const size = Buffer.byteLength(o.key) + Buffer.byteLength(json);
    if (size > keyQuota) return failWith(o, 'setStorage', `entry of ${size} bytes exceeds the ${keyQuota}-byte limit of a key`);
    const old = storage.has(o.key) ? Buffer.byteLength(o.key) + Buffer.byteLength(storage.get(o.key)) : 0;
    if (storageBytes() - old + size > storageQuota) return failWith(o, 'setStorage', `exceed storage max size ${storageQuota} bytes`);
    storage.set(o.key, json);
    ok(o, 'setStorage');
  }
  function getStorage(o) {
    if (!storage.has(o.key)) return failWith(o, 'getStorage', 'data not found');
    const data = realm.JSON.parse(storage.get(o.key));
    ok(o, 'getStorage', { data });
  }
  function removeStorage(o) {
    storage.delete(o.key);
    ok(o, 'removeStorage');
  }

  // ---- files ----
  const userPath = (p) => {
    if (typeof p !== 'string' || !(p === USER_DATA_PATH || p.startsWith(USER_DATA_PATH + '/'))) return null;
    const rel = p.slice(USER_DATA_PATH.length).replace(/^\/+/, '');
    if (rel.split('/').includes('..')) return null;
    return join(userDir, rel);
  };
  const readablePath = (p) => userPath(p) ?? (typeof p === 'string' && !p.includes('://') && !p.split('/').includes('..') ? join(pkgDir, p.replace(/^\/+/, '')) : null);
  const usedBytes = (d = userDir) => {
    let n = 0;
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      const s = statSync(p);
      n += s.isDirectory() ? usedBytes(p) : s.size;
    }
    return n;
  };
  const fs = {
    readFile(o) {
      const p = readablePath(o.filePath);
      if (!p) return failWith(o, 'readFile', `permission denied, open ${o.filePath}`, 1300013);
      if (!existsSync(p) || statSync(p).isDirectory()) return failWith(o, 'readFile', `no such file or directory, open ${o.filePath}`, 1300002);
      const b = readFileSync(p);
      ok(o, 'readFile', { data: o.encoding === 'utf8' || o.encoding === 'utf-8' ? b.toString('utf8') : toRealmBuffer(b) });
    },
    writeFile(o) {
      const p = userPath(o.filePath);
      if (!p) return failWith(o, 'writeFile', `permission denied, open ${o.filePath}`, 1300013);
      if (!existsSync(dirname(p))) return failWith(o, 'writeFile', `no such file or directory, open ${o.filePath}`, 1300002);
      const b = typeof o.data === 'string' ? Buffer.from(o.data, 'utf8') : bytesOf(o.data);
      const old = existsSync(p) ? statSync(p).size : 0;
      if (usedBytes() - old + b.length > fileQuota) {
        return failWith(o, 'writeFile', 'the maximum size of the file storage limit is exceeded', 1300202);
      }
      writeFileSync(p, b);
      ok(o, 'writeFile');
    },
    unlink(o) {
      const p = userPath(o.filePath);
      if (!p || !existsSync(p)) return failWith(o, 'unlink', `no such file or directory ${o.filePath}`, 1300002);
      unlinkSync(p);
      ok(o, 'unlink');
    },
    mkdir(o) {
      const p = userPath(o.dirPath);
      if (!p) return failWith(o, 'mkdir', `permission denied ${o.dirPath}`, 1300013);
      if (existsSync(p)) return failWith(o, 'mkdir', `file already exists ${o.dirPath}`, 1301005);
      if (!o.recursive && !existsSync(dirname(p))) return failWith(o, 'mkdir', `no such file or directory ${o.dirPath}`, 1300002);
      mkdirSync(p, { recursive: true });
      ok(o, 'mkdir');
    },
    readdir(o) {
      const p = userPath(o.dirPath);
      if (!p || !existsSync(p)) return failWith(o, 'readdir', `no such file or directory ${o.dirPath}`, 1300002);
      ok(o, 'readdir', { files: realm.Array.from(readdirSync(p)) });
    },
    stat(o) {
      const p = readablePath(o.path);
      if (!p || !existsSync(p)) return failWith(o, 'stat', `no such file or directory ${o.path}`, 1300002);
      const s = statSync(p);
      ok(o, 'stat', { stats: { size: s.size, lastModifiedTime: Math.floor(s.mtimeMs / 1000), isFile: () => s.isFile(), isDirectory: () => s.isDirectory() } });
    },
  };

  // ---- lifecycle ----
  const hideListeners = new Set();
  const showListeners = new Set();
  function hide() {
    if (hidden) return;
    hidden = true;
    for (const f of hideListeners) deliver(() => f());
    suspendTimer = setTimeout(() => {
      suspended = true;
      // Sockets die soon after: the connection is cut, the close reaches
      // the app when it is back.
      for (const t of sockets) t._cut?.();
    }, suspendAfterMs);
  }
  function show() {
    if (!hidden) return;
    hidden = false;
    clearTimeout(suspendTimer);
    suspended = false;
    for (const f of showListeners) setImmediate(() => f({ scene: 1001 }));
    const pending = held.splice(0);
    setImmediate(() => pending.forEach((f) => f()));
  }

  const wx = {
    env: { USER_DATA_PATH },
    connectSocket,
    getRandomValues(o) {
      counters.getRandomValues++;
      if (!Number.isInteger(o?.length) || o.length < 1 || o.length > 1048576) {
        return failWith(o, 'getRandomValues', 'length must be an integer from 1 to 1048576');
      }
      counters.randomBytes += o.length;
      ok(o, 'getRandomValues', { randomValues: toRealmBuffer(randomBytes(o.length)) });
    },
    setStorage,
    getStorage,
    removeStorage,
    getFileSystemManager: () => fs,
    onAppHide: (f) => hideListeners.add(f),
    offAppHide: (f) => hideListeners.delete(f),
    onAppShow: (f) => showListeners.add(f),
    offAppShow: (f) => showListeners.delete(f),
  };

  const WXWebAssembly = {
    instantiate(path, imports) {
      return new realm.Promise((resolve, reject) => {
        setImmediate(async () => {
          try {
            if (typeof path !== 'string' || !/\.wasm(\.br)?$/.test(path)) throw new Error(`WXWebAssembly.instantiate: "${path}" is not a .wasm or .wasm.br path in the code package`);
            const p = readablePath(path);
            if (!p || userPath(path) || !existsSync(p)) throw new Error(`WXWebAssembly.instantiate: no file "${path}" in the code package`);
            let bytes = readFileSync(p);
            if (path.endsWith('.br')) bytes = zlib.brotliDecompressSync(bytes);
            const { instance, module } = await WebAssembly.instantiate(bytes, imports);
            deliver(() => resolve({ instance, module }));
          } catch (e) {
            deliver(() => reject(new realm.Error(e.message)));
          }
        });
      });
    },
  };

  const context = vm.createContext(
    {
      wx,
      WXWebAssembly,
      console: fakeConsole,
      setTimeout: ctxSetTimeout,
      clearTimeout: ctxClearTimeout,
      setInterval: ctxSetInterval,
      clearInterval: ctxClearInterval,
    },
    { name: 'mini-program', codeGeneration: { strings: false, wasm: false } },
  );
  // V8 gives every context WebAssembly; a mini-program has only WXWebAssembly.
  vm.runInContext('delete globalThis.WebAssembly;', context);
  realm = vm.runInContext('({ ArrayBuffer, Uint8Array, Array, JSON, Promise, Error })', context);

  /** load runs a CommonJS file in the context, as the mini-program's require does, and returns its exports. */
  function load(file) {
    const src = readFileSync(file, 'utf8');
    const fn = vm.runInContext(`(function (module, exports, require) {${src}\n})`, context, { filename: file });
    const module = { exports: {} };
    fn(module, module.exports, (spec) => {
      throw new Error(`${file}: require("${spec}") — the bundle must be self-contained`);
    });
    return module.exports;
  }

  return {
    context,
    wx,
    WXWebAssembly,
    load,
    hide,
    show,
    logs,
    counters,
    sockets,
    storage,
    usedBytes: () => usedBytes(),
    /** setFileQuota changes the user-file limit (a test's way to fill the disk). */
    setFileQuota: (n) => {
      fileQuota = n;
    },
    get hidden() {
      return hidden;
    },
    get suspended() {
      return suspended;
    },
    /** eval runs an expression in the context (the test's window into the mini-program). */
    eval: (code) => vm.runInContext(code, context),
    /** dispose cuts the sockets and stops the timers. */
    dispose() {
      clearTimeout(suspendTimer);
      for (const t of sockets) t._ws?.terminate();
      for (const [, h] of timers) {
        clearTimeout(h);
        clearInterval(h);
      }
      timers.clear();
      suspended = true; // nothing runs any more
    },
  };
}
