// @parley-im/miniapp as a mini-program runs it: the package installed from
// its tarball, its one-file bundle loaded into a vm context that has only
// wx and WXWebAssembly (test/support/wx-fake.mjs), the real parley.wasm.br
// from the package instantiated by the fake's WXWebAssembly, against the
// real relay, with a Node client of @parley-im/sdk (from its tarball) on the
// other side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createMiniProgram, layCodePackage, MB, USER_DATA_PATH } from './support/wx-fake.mjs';
import { Relay } from '../../bindings/test/support/relay.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const version = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')).version;
const tarball = join(repo, 'dist', `parley-im-miniapp-${version}.tgz`);
const sdkTarball = join(repo, 'dist', `parley-im-sdk-${version}.tgz`);
const example = join(repo, 'examples', 'miniapp');
const WASM_PATH = '/parley/parley.wasm.br';

let app; // a folder with both packages installed from their tarballs
let pkg; // node_modules/@parley-im/miniapp
let sdk; // @parley-im/sdk for the Node peer
let relay;
const programs = [];
const clients = [];

before(async () => {
  // Missing pieces fail the suite: ./build.sh npm makes them.
  for (const f of [tarball, sdkTarball]) assert.ok(existsSync(f), `${f} is missing: run ./build.sh npm`);
  app = mkdtempSync(join(tmpdir(), 'parley-miniapp-install-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'mp-test', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', sdkTarball, tarball], { cwd: app, stdio: 'inherit' });
  pkg = join(app, 'node_modules', '@parley-im', 'miniapp');
  sdk = await import(pathToFileURL(join(app, 'node_modules', '@parley-im', 'sdk', 'dist', 'esm', 'index.js')).href);
  relay = await new Relay().start();
});

after(async () => {
  // The client of a killed (disposed) mini-program never answers again: its
  // close is not waited for beyond a moment, or the suite would never end.
  const settled = (p) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  for (const c of clients) await settled(c.close());
  for (const p of programs) p.dispose();
  await relay?.stop();
});

/** program lays out a code package (the example's, with the .br from the package) and starts a mini-program on it. */
function program({ userDir, storage, ...opts } = {}) {
  const pkgDir = mkdtempSync(join(tmpdir(), 'parley-mp-package-'));
  layCodePackage(example, pkgDir, { 'parley/parley.wasm.br': join(pkg, 'parley.wasm.br') });
  const mp = createMiniProgram({
    pkgDir,
    userDir: userDir ?? mkdtempSync(join(tmpdir(), 'parley-mp-user-')),
    storage,
    ...opts,
  });
  programs.push(mp);
  // What `require('@parley-im/miniapp')` loads after the devtools' "build npm":
  // the package's miniprogram folder, dist/.
  const main = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).miniprogram;
  mp.lib = mp.load(join(pkg, main, 'index.js'));
  return mp;
}

async function miniClient(mp, user, opts = {}) {
  const c = await mp.lib.createClient({
    url: relay.ws,
    token: relay.token(user),
    wasmPath: WASM_PATH,
    reconnect: { minDelayMs: 50, maxDelayMs: 1000 },
    logLevel: 'error',
    ...opts,
  });
  clients.push(c);
  return c;
}

async function nodeClient(user) {
  const c = await sdk.createClient({ url: relay.ws, token: relay.token(user), storage: 'memory', logLevel: 'error', reconnect: { minDelayMs: 20, maxDelayMs: 200 } });
  clients.push(c);
  await c.connect();
  return c;
}

/** cachedSeqs lists the seqs of conv in the file storage's message files (USER_DATA_PATH/parley/default/m/). */
function cachedSeqs(userDir, conv) {
  const dir = join(userDir, 'parley', 'default', 'm');
  const seqs = [];
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      const chunk = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (chunk.c === conv) for (const m of chunk.m) seqs.push(m.seq);
    } catch {
      /* a file being written */
    }
  }
  return seqs.sort((a, b) => a - b);
}

/** plain copies a value out of the mini-program's realm, so deepStrictEqual compares contents, not prototypes. */
const plain = (v) => JSON.parse(JSON.stringify(v));

function collect(client, pred = () => true) {
  const got = [];
  client.on('message', (m) => {
    if (pred(m)) got.push(m);
  });
  return got;
}

async function eventually(f, ms = 20000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the mini-program has none of the Web globals, and the adapter adds none it does not need', () => {
  const mp = program();
  // program() loaded the bundle: only the polyfills the SDK's own code needs
  // were added to the global object, and only because they were missing.
  const fresh = createMiniProgram({ pkgDir: mkdtempSync(join(tmpdir(), 'p-')), userDir: mkdtempSync(join(tmpdir(), 'u-')) });
  programs.push(fresh);
  assert.equal(
    fresh.eval('[typeof WebSocket, typeof TextEncoder, typeof TextDecoder, typeof crypto, typeof performance, typeof WebAssembly, typeof atob, typeof URL, typeof queueMicrotask, typeof require, typeof process].join()'),
    'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined',
  );
  assert.throws(() => fresh.eval('eval("1")'), /Code generation from strings disallowed/);
  assert.equal(mp.eval('[typeof WebSocket, typeof crypto, typeof performance, typeof WebAssembly, typeof Go, typeof __parley_v1].join()'), 'undefined,undefined,undefined,undefined,undefined,undefined');
  assert.equal(mp.eval('[typeof TextEncoder, typeof TextDecoder, typeof atob, typeof queueMicrotask].join()'), 'function,function,function,function');
  // An app's own definition is never replaced.
  const mine = createMiniProgram({ pkgDir: mkdtempSync(join(tmpdir(), 'p-')), userDir: mkdtempSync(join(tmpdir(), 'u-')) });
  programs.push(mine);
  mine.eval('globalThis.atob = function mine() { return "app"; }');
  mine.load(join(pkg, 'dist', 'index.js'));
  assert.equal(mine.eval('atob("x")'), 'app');
});

test('chat with a Node client through the real relay; start-up measured', async () => {
  const mp = program();
  const token = relay.token('mp-alice');
  const t0 = performance.now();
  const alice = await miniClient(mp, 'mp-alice', { token });
  const created = performance.now() - t0;
  await alice.connect();
  const connected = performance.now() - t0;
  console.log(`# start-up in the fake (create → connected): create ${created.toFixed(0)} ms, connected ${connected.toFixed(0)} ms; random pool: ${mp.counters.randomBytes} bytes fetched in ${mp.counters.getRandomValues} calls`);
  // The module got the shim, the app's global object got nothing.
  assert.equal(mp.eval('typeof WebSocket'), 'undefined');
  assert.equal(mp.counters.connectSocket, 1);

  const bob = await nodeClient('mp-bob');
  const fromBob = collect(alice, (m) => m.sender === 'mp-bob');
  const fromAlice = collect(bob, (m) => m.sender === 'mp-alice');
  const conv = alice.p2p('mp-bob');
  const sent = await alice.sendText(conv, 'hello from the mini-program 小程序');
  assert.equal(sent.status, 'sent');
  assert.equal(sent.seq, 1);
  await bob.sendText(conv, 'hello back');
  await bob.send(conv, { type: 'custom', body: { n: 1, s: 'ü' } });
  await eventually(() => fromBob.length === 2 && fromAlice.length === 1, 20000, 'both sides');
  assert.equal(fromAlice[0].text, 'hello from the mini-program 小程序');
  assert.deepEqual([fromBob[0].seq, fromBob[0].text], [2, 'hello back']);
  assert.deepEqual(plain([fromBob[1].seq, fromBob[1].type, fromBob[1].body]), [3, 'custom', { n: 1, s: 'ü' }]);
  const page = await alice.messages(conv);
  assert.deepEqual(plain(page.map((m) => m.seq)), [1, 2, 3]);
  const found = await alice.search('小程序');
  assert.deepEqual(plain(found.map((m) => m.seq)), [1]);
});

test('calls: a mini-program has no WebRTC, so call() rejects with 4920 (CallUnsupported), after checking its arguments', async () => {
  const mp = program();
  const alice = await miniClient(mp, 'mp-caller');
  await alice.connect();
  assert.equal(mp.eval('typeof RTCPeerConnection'), 'undefined');
  const code = (p) => p.then(() => 'resolved', (e) => e.code);
  assert.equal(await code(alice.call('')), 4903, 'a bad argument is a bad argument everywhere');
  assert.equal(await code(alice.call('mp-callee')), 4920);
  assert.equal(await code(alice.call('mp-callee', { audio: true, video: true })), 4920);
});

test('background and foreground: a clean close, and what the peer sent meanwhile arrives once, in order', async () => {
  const mp = program();
  const alice = await miniClient(mp, 'bg-alice');
  await alice.connect();
  const bob = await nodeClient('bg-bob');
  const conv = alice.p2p('bg-bob');
  const got = collect(alice, (m) => m.sender === 'bg-bob');
  await bob.sendText(conv, 'before 0');
  await eventually(() => got.length === 1, 20000, 'the first message');

  mp.hide();
  await eventually(() => mp.counters.closes.length > 0, 5000, 'the pause');
  assert.deepEqual(plain(mp.counters.closes[0]), { code: 1000, reason: 'app hidden' });
  await eventually(() => alice.state === 'reconnecting', 2000, `the state after the pause (${alice.state})`);
  await eventually(() => mp.suspended, 7000, 'the suspension 5 s after onAppHide');
  // The peer goes on while the mini-program is suspended.
  for (let i = 1; i <= 5; i++) await bob.sendText(conv, `while hidden ${i}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got.length, 1, 'nothing arrives while suspended');

  const shown = performance.now();
  mp.show();
  await eventually(() => got.length >= 6, 20000, 'the messages sent while hidden');
  console.log(`# foreground → all 5 missed messages delivered: ${(performance.now() - shown).toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive now
  assert.deepEqual(got.map((m) => m.text), ['before 0', 'while hidden 1', 'while hidden 2', 'while hidden 3', 'while hidden 4', 'while hidden 5']);
  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
  assert.equal(alice.state, 'connected');
  // And it can send again.
  const fromAlice = collect(bob, (m) => m.sender === 'bg-alice');
  await alice.sendText(conv, 'back');
  await eventually(() => fromAlice.length === 1, 20000, 'a send after the foreground');
});

test('lifecycle: false: with no open client following the lifecycle, a hide closes nothing', async () => {
  const mp = program();
  const follows = await miniClient(mp, 'lc-follows'); // the default: it registers the listeners
  await follows.close();
  const off = await miniClient(mp, 'lc-off', { lifecycle: false });
  await off.connect();
  mp.hide();
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(plain(mp.counters.closes), [], 'no socket closed on hide');
  assert.equal(off.state, 'connected');
  mp.show();
});

test('a restart with the relay down shows the cached history, then syncs when the relay is back', async () => {
  const userDir = mkdtempSync(join(tmpdir(), 'parley-mp-user-'));
  const storage = new Map(); // wx storage survives the restart, like the user files
  const mp1 = program({ userDir, storage });
  const alice = await miniClient(mp1, 'rs-alice');
  await alice.connect();
  const bob = await nodeClient('rs-bob');
  const conv = alice.p2p('rs-bob');
  const got = collect(alice, (m) => m.sender === 'rs-bob');
  for (const t of ['one', 'two', 'three']) await bob.sendText(conv, t);
  await alice.sendText(conv, 'four');
  await eventually(() => got.length === 3, 20000, 'three messages');
  await alice.close();
  mp1.dispose();

  await relay.kill9();
  try {
    const mp2 = program({ userDir, storage });
    const again = await miniClient(mp2, 'rs-alice');
    void again.connect().catch(() => {}); // keeps retrying while the relay is down
    const convs = await again.conversations();
    assert.equal(convs.length, 1);
    assert.equal(convs[0].id, conv);
    assert.equal(convs[0].lastMessage?.text, 'four');
    const page = await again.messages(conv);
    assert.deepEqual(plain(page.map((m) => [m.seq, m.text])), [[1, 'one'], [2, 'two'], [3, 'three'], [4, 'four']]);
    assert.equal(again.state === 'connected', false);
    // Offline, a send waits in the outbox.
    const pending = again.sendText(conv, 'five');
    await eventually(async () => (await again.messages(conv)).some((m) => m.text === 'five' && m.status === 'pending'), 5000, 'the pending message');
    await relay.start();
    const m = await pending;
    assert.equal(m.seq, 5);
  } finally {
    if (!relay.proc) await relay.start();
  }
});

test('the mini-program killed mid-send: the restarted one sends what was persisted, each once, in order', async () => {
  const userDir = mkdtempSync(join(tmpdir(), 'parley-mp-user-'));
  const storage = new Map();
  const mp1 = program({ userDir, storage });
  const alice = await miniClient(mp1, 'kill-alice');
  await alice.connect();
  const bob = await nodeClient('kill-bob');
  const conv = alice.p2p('kill-bob');
  const got = collect(bob, (m) => m.sender === 'kill-alice');
  // Announced as pending = written to the outbox: those must survive the kill.
  const persisted = [];
  alice.on('message', (m) => {
    if (m.sender === 'kill-alice' && m.status === 'pending') persisted.push(m.text);
  });
  const N = 30;
  const acked = [];
  for (let i = 0; i < N; i++) alice.sendText(conv, `k${i}`).then((m) => acked.push(m.seq), () => {});
  await eventually(() => acked.length >= 3, 20000, 'the first acks');
  mp1.dispose(); // killed: the sockets cut, nothing of it runs any more
  const atKill = { acked: acked.length, persisted: persisted.length };
  assert.ok(atKill.acked < N, `killed before every ack (${atKill.acked} of ${N})`);

  const mp2 = program({ userDir, storage });
  const again = await miniClient(mp2, 'kill-alice');
  await again.connect();
  await again.waitSynced();
  await eventually(() => got.length >= persisted.length, 30000, `bob gets the ${persisted.length} persisted sends`);
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive now
  const texts = got.map((m) => m.text);
  console.log(`# killed mid-send: ${atKill.acked} acked and ${atKill.persisted} persisted of ${N} at the kill; bob got ${texts.length}`);
  assert.deepEqual(texts, Array.from({ length: texts.length }, (_, i) => `k${i}`), 'in order, none twice, no gap');
  assert.ok(texts.length >= persisted.length, 'every persisted send delivered');
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: texts.length }, (_, i) => i + 1));
  const stored = plain(await again.messages(conv, { limit: 100 }));
  assert.deepEqual(stored.map((m) => [m.text, m.status]), texts.map((t) => [t, 'sent']), 'the outbox is empty, the cache whole');
});

test('storage limits: old history is evicted when the user files are full, the outbox never is; opening the conversation brings it back from the relay', async () => {
  const userDir = mkdtempSync(join(tmpdir(), 'parley-mp-user-'));
  const mp = program({ userDir });
  // The app's own files take most of the space: the platform refuses writes first.
  const fs = mp.wx.getFileSystemManager();
  await new Promise((resolve, reject) => fs.writeFile({ filePath: `${USER_DATA_PATH}/app-photo.jpg`, data: new Uint8Array(300 * 1024).buffer, success: resolve, fail: reject }));
  mp.setFileQuota(300 * 1024 + 160 * 1024);
  const errors = [];
  const alice = await miniClient(mp, 'lim-alice', { onStorageError: (e) => errors.push(e) });
  await alice.connect();
  const bob = await nodeClient('lim-bob');
  const conv = alice.p2p('lim-bob');
  const got = collect(alice, (m) => m.sender === 'lim-bob');
  const big = 'x'.repeat(1500);
  const N = 200; // 300 KB of text for 160 KB of room
  for (let i = 1; i <= N; i++) await bob.sendText(conv, `${i} ${big}`);
  await eventually(() => got.length === N, 60000, `${N} messages`);
  await alice.waitSynced();
  assert.ok(mp.usedBytes() <= 300 * 1024 + 160 * 1024, `user files ${mp.usedBytes()} within the limit`);
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1), 'every message arrived, in order');

  // The oldest history went first: the cache (the message files) holds the newest messages.
  const seqs = await eventually(() => {
    const s = cachedSeqs(userDir, conv);
    return s[s.length - 1] === N && s;
  }, 10000, 'the newest message in the cache');
  assert.ok(seqs.length < N && seqs.length > 0, `${seqs.length} of ${N} messages cached`);
  assert.ok(seqs[0] > 1, 'the oldest messages were evicted');

  // Offline sends go to the outbox even with the disk full: history makes room.
  await relay.kill9();
  const sends = ['a', 'b', 'c'].map((t) => alice.sendText(conv, `offline ${t} ${big}`));
  await eventually(async () => (await alice.messages(conv)).filter((m) => m.status === 'pending').length === 3, 10000, 'three pending');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(errors.filter((e) => e.what === 'outbox').length, 0, `no outbox write failed: ${JSON.stringify(errors)}`);
  // On disk: the newer outbox slot holds the three sends.
  const slots = ['outbox.0.json', 'outbox.1.json']
    .map((f) => join(userDir, 'parley', 'default', f))
    .filter(existsSync)
    .map((f) => JSON.parse(readFileSync(f, 'utf8')))
    .sort((a, b) => b.gen - a.gen);
  assert.deepEqual(slots[0].data.map((e) => e.message.text.slice(0, 9)), ['offline a', 'offline b', 'offline c']);
  assert.ok(mp.usedBytes() <= 300 * 1024 + 160 * 1024);
  const fromAlice = collect(bob, (m) => m.sender === 'lim-alice');
  await relay.start();
  const acked = await Promise.all(sends);
  assert.deepEqual(plain(acked.map((m) => m.seq)), [N + 1, N + 2, N + 3]);
  await eventually(() => fromAlice.length === 3, 20000, 'the outbox delivered');

  // Opening the conversation and paging back to its start shows no hole: the
  // history the cache evicted comes from the relay again (and is written
  // back, evicting other old history), while new sends go through the
  // outbox at the same time, each once.
  const total = N + 3;
  const textOf = (seq) => (seq <= N ? `${seq} ${big}` : `offline ${'abc'[seq - N - 1]} ${big}`);
  const cachedBefore = cachedSeqs(userDir, conv);
  assert.ok(cachedBefore[0] > 40, `seqs 1..${cachedBefore[0] - 1} are not cached`);
  const during = ['x', 'y', 'z'].map((t) => alice.sendText(conv, `during the refill ${t}`));
  const shown = [];
  let beforeSeq = 0;
  for (let pages = 0; pages < 50; pages++) {
    const page = plain(await alice.messages(conv, beforeSeq ? { beforeSeq, limit: 40 } : { limit: 40 }));
    const sent = page.filter((m) => m.status === 'sent'); // the newest page may hold the sends made meanwhile
    if (sent.length === 0) break;
    // Each page is whole: 40 consecutive seqs (fewer only at the start).
    const top = sent[sent.length - 1].seq;
    assert.deepEqual(sent.map((m) => m.seq), Array.from({ length: Math.min(40, top) }, (_, i) => top - Math.min(40, top) + 1 + i), `the page below ${beforeSeq || 'the end'} has no hole`);
    shown.unshift(...sent.map((m) => [m.seq, m.text]));
    beforeSeq = sent[0].seq;
  }
  assert.deepEqual(shown.map(([seq]) => seq), Array.from({ length: shown.length }, (_, i) => i + 1), 'every seq once, in order, from 1');
  assert.deepEqual(shown.filter(([seq]) => seq <= total), Array.from({ length: total }, (_, i) => [i + 1, textOf(i + 1)]), 'every message that was there');
  const ackedDuring = await Promise.all(during);
  assert.deepEqual(plain(ackedDuring.map((m) => [m.seq, m.status])), [[total + 1, 'sent'], [total + 2, 'sent'], [total + 3, 'sent']]);
  await eventually(() => fromAlice.length === 6, 20000, 'the sends made during the refill');
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive now
  assert.deepEqual(fromAlice.slice(3).map((m) => m.text), ['during the refill x', 'during the refill y', 'during the refill z']);
  assert.equal(errors.filter((e) => e.what === 'outbox').length, 0, `no outbox write failed: ${JSON.stringify(errors)}`);
  assert.ok(mp.usedBytes() <= 300 * 1024 + 160 * 1024, `user files ${mp.usedBytes()} within the limit`);
});

test('the .br fits the 2 MB limit of a package, and the example lays out within the limits', () => {
  const br = statSync(join(pkg, 'parley.wasm.br')).size;
  console.log(`# parley.wasm.br: ${br} bytes (${((br / (2 * MB)) * 100).toFixed(1)} % of 2 MB)`);
  assert.ok(br <= 2 * MB, `${br} bytes`);
  const sizes = layCodePackage(example, mkdtempSync(join(tmpdir(), 'parley-layout-')), {
    'parley/parley.wasm.br': join(pkg, 'parley.wasm.br'),
    'miniprogram_npm/@parley-im/miniapp': join(pkg, 'dist'),
  });
  console.log(`# example packages: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.main < 1 * MB, 'the main package stays small: the wasm is in the subpackage');
  assert.ok(sizes.parley >= br);
  // The package's own files: nothing but the bundle, its types and the .br.
  assert.deepEqual(readdirSync(pkg).sort(), ['README.md', 'dist', 'package.json', 'parley.wasm.br']);
});

test('the public contract type-checks: createClient takes the SDK options plus wasmPath and returns the SDK ParleyClient', () => {
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { createClient, type MiniappClientOptions, type StorageErrorEvent } from '@parley-im/miniapp';
import type { ClientOptions, ParleyClient } from '@parley-im/sdk';
const sdkOptions: Omit<ClientOptions, 'storage'> = { url: 'wss://im.example.com/v1/ws', token: () => 'jwt', reconnect: { maxDelayMs: 5000 } };
const options: MiniappClientOptions = { ...sdkOptions, wasmPath: '/parley/parley.wasm.br', onStorageError: (e: StorageErrorEvent) => void e.what };
export const client: Promise<ParleyClient> = createClient(options);
// @ts-expect-error wasmPath is required
createClient({ url: 'x', token: 't' });
`,
  );
  const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'ES2020', '--module', 'commonjs', '--moduleResolution', 'node10', 'consumer.ts'], { cwd: app, stdio: 'pipe' });
});
