// End-to-end smoke test of parley.wasm in Node against a real parley-relay:
// the WasmBridgeV1 contract of bindings/src/wasm.d.ts, driven by hand (no
// npm package), with the host's WebSocket from the `ws` package.
//
// Run by sdk-wasm/wasm/smoke_test.go, which builds everything and sets:
//   PARLEY_WASM          path to parley.wasm
//   PARLEY_WASM_EXEC     path to Go's wasm_exec.js
//   PARLEY_RELAY_BIN     path to a built parley-relay
//   PARLEY_NODE_MODULES  a node_modules folder holding ws@8
// PARLEY_SMOKE_VERBOSE=1 prints the module's diagnostics.
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import assert from 'node:assert/strict';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through go test ./sdk-wasm/wasm)`);
  return v;
};
const require = createRequire(join(env('PARLEY_NODE_MODULES'), '_'));
const { WebSocket } = require('ws');
const verbose = !!process.env.PARLEY_SMOKE_VERBOSE;
// Values cross the bridge as plain objects (the shapes of bridge.gen.ts).
const obj = (v) => {
  assert.ok(v !== null && typeof v === 'object' && !(v instanceof Uint8Array), 'the bridge hands over plain objects');
  return v;
};

const watchdog = setTimeout(() => {
  console.error('FAIL: smoke test timed out after 90 s');
  process.exit(1);
}, 90_000);

function check(name) {
  console.log(`ok   ${name}`);
}

// ---- relay ----------------------------------------------------------------

const SECRET = 'node-smoke-secret-0123456789abcdef';
const relayBin = env('PARLEY_RELAY_BIN');
const dataDir = mkdtempSync(join(tmpdir(), 'parley-smoke-'));

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const port = await freePort();
let relay = null;
async function startRelay() {
  relay = spawn(relayBin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', dataDir, '--secret', SECRET, '--log-level', 'warn'],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let start = Date.now(); ; ) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch { /* not up yet */ }
    if (Date.now() - start > 15_000) throw new Error('relay did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
}
async function killRelay() {
  const p = relay;
  relay = null;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}
const stopRelay = () => {
  if (relay && relay.exitCode === null) relay.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
};
process.on('exit', stopRelay);
await startRelay();
const url = `ws://127.0.0.1:${port}/v1/ws`;
const tokens = {};
for (const user of ['alice', 'bob']) {
  tokens[user] = execFileSync(relayBin, ['token', '--user', user, '--secret', SECRET, '--ttl', '1h']).toString().trim();
}

// ---- module ---------------------------------------------------------------

globalThis.WebSocket = WebSocket; // Node 20 has none; the module uses the host's
require(env('PARLEY_WASM_EXEC')); // defines globalThis.Go
const t0 = performance.now();
const ready = new Promise((resolve) => { globalThis.__parley_ready = resolve; });
const globalsBefore = new Set(Object.getOwnPropertyNames(globalThis));
const go = new globalThis.Go();
const { instance } = await WebAssembly.instantiate(readFileSync(env('PARLEY_WASM')), go.importObject);
go.run(instance).then(() => {
  console.error('FAIL: the Go program exited');
  process.exit(1);
});
await ready;
const tReady = performance.now();

const added = Object.getOwnPropertyNames(globalThis).filter((k) => !globalsBefore.has(k));
assert.deepEqual(added, ['__parley_v1'], 'the module adds exactly one global');
const bridge = globalThis.__parley_v1;
assert.equal(bridge.version, 1);
assert.equal(bridge.protocol, 1);
assert.equal(typeof bridge.newClient, 'function');
check(`module ready in ${(tReady - t0).toFixed(0)} ms; one global, __parley_v1 {version: 1, protocol: 1}`);

// inGo counts synchronous JS→Go calls on the stack: the contract says no
// callback into the host happens while one is.
let inGo = 0;
const violations = [];
function noReentry(what) {
  if (inGo !== 0) violations.push(what);
}
// call wraps every method call of a WasmClient.
function call(c, method, ...args) {
  inGo++;
  try {
    return c[method](...args);
  } finally {
    inGo--;
  }
}

function makeHost(user, storage = null) {
  const events = [];
  const waiters = [];
  const host = {
    events,
    onEvent(e) {
      noReentry('onEvent');
      obj(e);
      events.push(e);
      for (const w of [...waiters]) {
        if (w.pred(events)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    async token() {
      noReentry('token');
      return tokens[user];
    },
    storage,
    log(level, message) {
      noReentry('log');
      if (verbose) console.error(`[${user} ${level}] ${message}`);
    },
    until(pred, what) {
      if (pred(events)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20_000).unref();
      });
    },
  };
  return host;
}

function newClient(config, host) {
  inGo++;
  try {
    return bridge.newClient({ url, tokenRefresh: true, minDelayMs: 50, maxDelayMs: 500, logLevel: 'debug', ...config }, host);
  } finally {
    inGo--;
  }
}

async function rejection(p) {
  try {
    await p;
  } catch (e) {
    assert.equal(typeof e.code, 'number', 'a rejection carries a numeric code');
    assert.equal(typeof e.message, 'string', 'a rejection carries a message');
    return e;
  }
  throw new Error('expected a rejection');
}

// ---- two clients, memory storage ------------------------------------------

const bad = newClient({ url: 'ftp://nowhere' }, makeHost('alice'));
assert.equal(bad.code, 4903, 'a bad config returns a WasmError with 4903');
assert.equal(typeof bad.connect, 'undefined');
for (const [config, what] of [
  [{ seed: 1.5 }, 'seed'],
  [{ url: 42 }, 'url'],
  [{ heartbeatMs: '1000' }, 'heartbeatMs'],
  [{ tokenRefresh: 'yes' }, 'tokenRefresh'],
]) {
  const e = newClient(config, makeHost('alice'));
  assert.equal(e.code, 4903, `a config with a bad ${what} returns 4903`);
  assert.match(e.message, new RegExp(what), `the error names ${what}`);
}
inGo++;
try {
  assert.equal(bridge.newClient(new TextEncoder().encode(JSON.stringify({ url })), makeHost('alice')).code, 4903, 'config bytes are refused');
} finally {
  inGo--;
}
check('a bad config returns WasmError 4903 instead of a client');

const aliceHost = makeHost('alice');
const bobHost = makeHost('bob');
const alice = newClient({ deviceId: 'a1', seed: 1 }, aliceHost);
const bob = newClient({ deviceId: 'b1', seed: 2 }, bobHost);
assert.equal(call(alice, 'state'), 'idle');
assert.equal(call(alice, 'deviceId'), 'a1');

const tConnect = performance.now();
await Promise.all([call(alice, 'connect'), call(bob, 'connect')]);
const tConnected = performance.now();
assert.equal(call(alice, 'state'), 'connected');
assert.equal(call(alice, 'userId'), 'alice');
assert.equal(call(bob, 'userId'), 'bob');
assert.ok(aliceHost.events.some((e) => e.kind === 'state' && e.state === 'connected'), 'alice saw state connected');
check(`connect: ${(tConnected - tConnect).toFixed(0)} ms; instantiate→connected ${(tConnected - t0).toFixed(0)} ms`);

const p2p = 'p:alice:bob';
const N = 20;
const sends = [];
for (let i = 0; i < N; i++) sends.push(call(alice, 'send', p2p, 'text', `m${i}`, null));
const sent = [];
for (const [i, p] of sends.entries()) {
  const m = obj(await p);
  // The Promise settles after the events of the same input: the sent
  // update of this message was already delivered.
  assert.ok(aliceHost.events.some((e) => e.kind === 'messageUpdate' && e.message.clientId === m.clientId && e.message.status === 'sent'),
    'messageUpdate delivered before the send resolved');
  assert.equal(m.text, `m${i}`);
  assert.equal(m.status, 'sent');
  sent.push(m);
}
assert.deepEqual(sent.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1), 'acks in send order');
check(`alice sent ${N} messages, acked with seq 1..${N} in order`);

const bobMessages = (evs) => evs.filter((e) => e.kind === 'message' && e.message.conversationId === p2p);
await bobHost.until((evs) => bobMessages(evs).length >= N, `bob's ${N} messages`);
const got = bobMessages(bobHost.events).map((e) => e.message);
assert.equal(got.length, N, 'no duplicates');
assert.deepEqual(got.map((m) => m.text), sent.map((m) => m.text), 'bob got every message in order');
assert.deepEqual(got.map((m) => m.seq), sent.map((m) => m.seq));
assert.ok(got.every((m) => m.sender === 'alice' && m.status === 'sent' && m.id === sent[m.seq - 1].id), 'the same ids on both sides');
check(`bob's onEvent saw all ${N} 'message' events in order`);

await Promise.all([call(alice, 'waitSynced'), call(bob, 'waitSynced')]);
const bobConvs = obj(await call(bob, 'conversations'));
assert.ok(Array.isArray(bobConvs));
const bc = bobConvs.find((c) => c.id === p2p);
assert.ok(bc, 'bob has the p2p conversation');
assert.equal(bc.type, 'p2p');
assert.equal(bc.lastSeq, N);
assert.equal(bc.unread, N);
assert.equal(bc.lastMessage.text, `m${N - 1}`);
const ac = obj(await call(alice, 'conversations')).find((c) => c.id === p2p);
assert.equal(ac.unread, 0, "alice's own messages are read");
check('conversations() returns the p2p conversation with lastSeq, unread and lastMessage');

const page = obj(await call(bob, 'messages', p2p, 0, 50));
assert.deepEqual(page.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1), 'messages() ascending');
const older = obj(await call(bob, 'messages', p2p, 11, 5));
assert.deepEqual(older.map((m) => m.seq), [6, 7, 8, 9, 10], 'messages(before 11, limit 5)');
const empty = obj(await call(bob, 'messages', 'p:bob:nobody', 0, 10));
assert.deepEqual(empty, [], 'an unknown conversation is an empty array');
check('messages() pages ascending from the cache');

await call(bob, 'markRead', p2p, 0);
assert.equal(obj(await call(bob, 'conversations')).find((c) => c.id === p2p).unread, 0);
check('markRead clears unread');

const custom = obj(await call(alice, 'send', p2p, 'custom', '', new Uint8Array([1, 2, 3])));
assert.equal(custom.type, 'custom');
assert.equal(custom.body, 'AQID', 'body crosses as bytes and comes back base64');
check('send with a Uint8Array body');

const group = obj(await call(bob, 'createGroup', '', 'bob and carol', ['carol']));
assert.equal(group.type, 'group');
assert.ok(group.id.startsWith('g:'));
assert.ok(group.members.includes('bob') && group.members.includes('carol'));
const denied = await rejection(call(alice, 'send', group.id, 'text', 'let me in', null));
assert.ok(denied.code === 4203 || denied.code === 4204, `send to a group alice is not in: ${denied.code}`);
check(`send to a group alice is not in rejects with ${denied.code}`);

assert.equal((await rejection(call(alice, 'send', 42, 'text', 'x', null))).code, 4903);
assert.equal((await rejection(call(alice, 'send', p2p, 'text', 'x', 'not bytes'))).code, 4903);
assert.equal((await rejection(call(alice, 'markRead', p2p, -1))).code, 4903);
assert.equal((await rejection(call(alice, 'createGroup', '', 'x', 'bob'))).code, 4903);
check('bad arguments reject with 4903');

await Promise.all([call(alice, 'close'), call(bob, 'close')]);
assert.equal(call(alice, 'state'), 'closed');
assert.equal(call(alice, 'userId'), 'alice', 'a closed client still knows its user');
assert.equal(aliceHost.events.at(-1).state, 'closed', 'the closed state is the last event');
assert.equal((await rejection(call(alice, 'send', p2p, 'text', 'late', null))).code, 4900);
await call(alice, 'close'); // closing twice is fine
check('close: state closed, later calls reject with 4900');

// ---- a JS storage adapter ---------------------------------------------------

// memoryStorage implements WasmStorage over plain objects, with every answer
// a macrotask away, as IndexedDB's would be.
function memoryStorage() {
  const db = { meta: null, conversations: new Map(), messages: new Map(), outbox: new Map() };
  const later = (f) => new Promise((resolve, reject) => setImmediate(() => {
    try { resolve(f()); } catch (e) { reject(e); }
  }));
  const calls = { load: 0, apply: 0, messages: 0, close: 0 };
  return {
    db,
    calls,
    load() {
      noReentry('storage.load');
      calls.load++;
      return later(() => {
        if (!db.meta) return null;
        return ({ meta: db.meta, conversations: [...db.conversations.values()], outbox: [...db.outbox.values()].sort((a, b) => a.order - b.order) });
      });
    },
    apply(batch) {
      noReentry('storage.apply');
      calls.apply++;
      const b = obj(batch);
      return later(() => {
        if (b.reset) {
          db.conversations.clear();
          db.messages.clear();
        }
        if (b.meta) db.meta = b.meta;
        for (const c of b.conversations ?? []) db.conversations.set(c.id, c);
        for (const m of b.messages ?? []) db.messages.set(`${m.conversationId}\u0000${m.seq}`, m);
        for (const e of b.outboxPut ?? []) db.outbox.set(e.message.clientId, e);
        for (const id of b.outboxDelete ?? []) db.outbox.delete(id);
      });
    },
    messages(conv, before, limit) {
      noReentry('storage.messages');
      calls.messages++;
      return later(() => {
        const out = [...db.messages.values()]
          .filter((m) => m.conversationId === conv && (before === 0 || m.seq < before))
          .sort((a, b) => a.seq - b.seq);
        return (out.slice(Math.max(0, out.length - limit)));
      });
    },
    close() {
      noReentry('storage.close');
      calls.close++;
      return later(() => {});
    },
  };
}

const storage = memoryStorage();
const a2Host = makeHost('alice', storage);
const a2 = newClient({}, a2Host); // no deviceId: generated, then persisted
await call(a2, 'connect');
await call(a2, 'waitSynced');
const deviceA2 = call(a2, 'deviceId');
assert.match(deviceA2, /^w-[0-9a-f]{8}$/, 'a generated device id');
assert.equal(storage.db.meta.deviceId, deviceA2, 'the device id is stored');
assert.equal(storage.db.meta.userId, 'alice');
const stored = storage.db.conversations.get(p2p);
assert.ok(stored, 'the synced conversation is in the JS storage');
assert.equal(stored.syncedSeq, N + 1, 'the gap fill stored every message');
assert.equal([...storage.db.messages.keys()].filter((k) => k.startsWith(p2p)).length, N + 1);
const viaStore = obj(await call(a2, 'send', p2p, 'text', 'from a2', null));
assert.equal(viaStore.seq, N + 2);
assert.equal(storage.db.outbox.size, 0, 'the outbox entry was put and deleted');
assert.ok(storage.calls.apply > 0 && storage.calls.load === 1);
await call(a2, 'close');
assert.equal(storage.calls.close, 1, 'close() closes the storage');
check(`JS storage: loaded, synced ${N + 1} messages into it, sent through it (apply ×${storage.calls.apply}), closed`);

// Reload: a new client over the same storage sees the cache before it connects.
const a3Host = makeHost('alice', storage);
const a3 = newClient({}, a3Host);
const cachedConvs = obj(await call(a3, 'conversations'));
assert.equal(call(a3, 'state'), 'idle', 'not connected');
assert.equal(call(a3, 'deviceId'), deviceA2, 'the device id comes back from the storage');
const cc = cachedConvs.find((c) => c.id === p2p);
assert.ok(cc, 'the cached conversation is listed before connecting');
assert.equal(cc.lastSeq, N + 2);
assert.equal(cc.lastMessage.text, 'from a2');
const cachedPage = obj(await call(a3, 'messages', p2p, 0, 5));
assert.deepEqual(cachedPage.map((m) => m.seq), [N - 2, N - 1, N, N + 1, N + 2], 'messages from the JS cache, offline');
assert.ok(storage.calls.messages >= 1);
// Offline send: it stays in the stored outbox across a close and goes out
// from the next client.
const offline = rejection(call(a3, 'send', p2p, 'text', 'queued offline', null));
await a3Host.until((evs) => evs.some((e) => e.kind === 'message' && e.message.text === 'queued offline' && e.message.status === 'pending'), 'the pending message');
assert.equal(storage.db.outbox.size, 1, 'the pending send is in the stored outbox');
await call(a3, 'close');
assert.equal((await offline).code, 4900, 'its waiter is rejected by close; the message stays');
assert.equal(storage.db.outbox.size, 1);
check('reload over the same JS storage: cached conversation and messages before connecting; outbox persisted');

const bob2Host = makeHost('bob');
const bob2 = newClient({ deviceId: 'b2' }, bob2Host);
await call(bob2, 'connect');
const a4Host = makeHost('alice', storage);
const a4 = newClient({}, a4Host);
await call(a4, 'connect');
await call(a4, 'waitSynced');
assert.equal(storage.db.outbox.size, 0, 'the stored outbox was sent on connect');
await bob2Host.until((evs) => evs.some((e) => e.kind === 'message' && e.message.text === 'queued offline'), "bob's copy of the queued message");
check('the outbox stored by a closed client is delivered by the next one');

// A relay crash: both reconnect on their own, with the socket's close code;
// a send made meanwhile waits in the outbox and arrives once.
await killRelay();
await a4Host.until((evs) => evs.some((e) => e.kind === 'state' && e.state === 'reconnecting'), 'alice reconnecting');
assert.equal(call(a4, 'state'), 'reconnecting');
const duringOutage = call(a4, 'send', p2p, 'text', 'during the outage', null);
await startRelay();
call(a4, 'reconnect'); // as a host does when the network comes back
call(bob2, 'reconnect');
assert.equal(obj(await duringOutage).status, 'sent');
await bob2Host.until((evs) => evs.some((e) => e.kind === 'message' && e.message.text === 'during the outage'), "bob's copy after the restart");
assert.equal(bob2Host.events.filter((e) => e.kind === 'message' && e.message.text === 'during the outage').length, 1, 'exactly once');
const lost = a4Host.events.find((e) => e.kind === 'state' && e.state === 'reconnecting' && e.code);
assert.ok(lost, 'the reconnecting state carries the close code');
check(`relay killed and restarted: reconnected (close code ${lost.code}), the outage send delivered once`);
await Promise.all([call(a4, 'close'), call(bob2, 'close')]);

// A terminal close: a forged token is refused with 4001, connect() rejects
// with that code and the client stops (no reconnect loop).
const forgedHost = makeHost('alice');
forgedHost.token = async () => 'not.a.token';
const forged = newClient({ deviceId: 'a9' }, forgedHost);
const refused = await rejection(call(forged, 'connect'));
assert.equal(refused.code, 4001, `forged token: ${refused.code} ${refused.message}`);
assert.equal(call(forged, 'state'), 'disconnected');
assert.ok(forgedHost.events.some((e) => e.kind === 'kicked' && e.code === 4001), 'a kicked event with 4001');
await call(forged, 'close');
check('a forged token: connect() rejects with 4001, state disconnected, kicked event');

assert.deepEqual(violations, [], 'no host callback ran while a JS call into Go was on the stack');
check('no host callback re-entered a JS call into Go');

clearTimeout(watchdog);
console.log(JSON.stringify({ readyMs: Math.round(tReady - t0), connectMs: Math.round(tConnected - tConnect), instantiateToConnectedMs: Math.round(tConnected - t0) }));
stopRelay();
process.exit(0);
