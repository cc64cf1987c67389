// The adapter's pieces in the faked mini-program, without the wasm: the
// polyfills against Node's own implementations, the random pool, the
// socket shim against the five-socket limit, and the file storage's
// budget, eviction order and write failures.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMiniProgram, USER_DATA_PATH } from './support/wx-fake.mjs';

const bundle = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');
const programs = [];
after(() => programs.forEach((p) => p.dispose()));

function program(opts = {}) {
  assert.ok(existsSync(bundle), `${bundle} is missing: run ./build.sh npm`);
  const userDir = mkdtempSync(join(tmpdir(), 'parley-unit-user-'));
  const mp = createMiniProgram({ pkgDir: mkdtempSync(join(tmpdir(), 'parley-unit-pkg-')), userDir, ...opts });
  mp.userDir = userDir;
  programs.push(mp);
  mp.lib = mp.load(bundle);
  return mp;
}

const plain = (v) => JSON.parse(JSON.stringify(v));

test('UTF-8 codec: the same bytes and strings as Node, and fatal decoding throws', () => {
  const mp = program();
  const { Utf8TextEncoder, Utf8TextDecoder, atobPolyfill, btoaPolyfill } = mp.lib._internals;
  const enc = new Utf8TextEncoder();
  for (const s of ['', 'ascii', 'ü€𝄞小程序', '\ud800 lone', 'a\udc00b', '\u0000\u007f\u0080\u07ff\u0800\uffff']) {
    assert.deepEqual(Buffer.from(enc.encode(s)), Buffer.from(new TextEncoder().encode(s)), JSON.stringify(s));
  }
  const loose = new Utf8TextDecoder();
  const strict = new Utf8TextDecoder('utf-8', { fatal: true });
  const node = new TextDecoder('utf-8');
  const nodeStrict = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(1 + (i % 13));
    if (i % 3 === 0) b[0] = 0xe4; // start a 3-byte sequence now and then
    assert.equal(loose.decode(new Uint8Array(b)), node.decode(b), b.toString('hex'));
    let want = null;
    try {
      want = nodeStrict.decode(b);
    } catch {
      want = 'throws';
    }
    let got;
    try {
      got = strict.decode(new Uint8Array(b));
    } catch {
      got = 'throws';
    }
    assert.equal(got, want, b.toString('hex'));
  }
  assert.equal(loose.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), 'A');
  assert.throws(() => new Utf8TextDecoder('latin1'), /only UTF-8/);
  for (const s of ['', 'f', 'fo', 'foo', 'foob', '\u0000\u00ff']) {
    assert.equal(btoaPolyfill(s), btoa(s));
    assert.equal(atobPolyfill(btoa(s)), s);
  }
  assert.throws(() => atobPolyfill('a'), /not valid base64/);
});

test('random pool: filled by wx.getRandomValues, refilled before it runs dry, loud when empty, never reused', async () => {
  const mp = program();
  const { RandomPool } = mp.lib._internals;
  const pool = new RandomPool(mp.wx, { fill: 1024, lowWater: 512 });
  const view = mp.eval('new Uint8Array(16)');
  assert.throws(() => pool.getRandomValues(view), /random pool is empty/);
  await pool.ready();
  assert.equal(mp.counters.getRandomValues, 1, 'the failed draw started a fill; ready() waited for that one');
  const seen = new Set();
  for (let i = 0; i < 40; i++) {
    const v = pool.getRandomValues(mp.eval('new Uint8Array(16)'));
    const hex = Buffer.from(v).toString('hex');
    assert.ok(!seen.has(hex), 'bytes are handed out once');
    seen.add(hex);
    await new Promise((r) => setImmediate(r)); // let the background refill land
  }
  assert.ok(mp.counters.getRandomValues >= 2, 'a refill ran in the background');
  assert.throws(() => pool.getRandomValues(mp.eval('new Float64Array(2)')), /integer typed array/);
  assert.throws(() => pool.getRandomValues(mp.eval('new Uint8Array(65537)')), /at most 65536/);
  // Drained faster than wx answers: an error, not weaker randomness.
  const big = new RandomPool(mp.wx, { fill: 4096, lowWater: 64 });
  await big.ready();
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) big.getRandomValues(mp.eval('new Uint8Array(64)'));
  }, /random pool is empty/);
});

test('socket shim: binary frames both ways, and the sixth socket fails as the platform refuses it', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  await new Promise((r) => wss.once('listening', r));
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  try {
    const mp = program();
    const { SocketGroup } = mp.lib._internals;
    const group = new SocketGroup(mp.wx);
    const WS = group.webSocketClass();
    const open = (s) => new Promise((resolve, reject) => {
      s.addEventListener('open', resolve);
      s.addEventListener('close', (e) => reject(new Error(`closed ${e.code} ${e.reason}`)));
    });
    const socks = [];
    for (let i = 0; i < 5; i++) socks.push(new WS(url));
    await Promise.all(socks.map(open));
    const echo = new Promise((r) => socks[0].addEventListener('message', (e) => r(e.data)));
    socks[0].send(mp.eval('new Uint8Array([1, 2, 3, 250]).subarray(1)'));
    const got = await echo;
    assert.equal(typeof got.byteLength, 'number', 'an ArrayBuffer');
    assert.deepEqual([...Buffer.from(got)], [2, 3, 250]);
    const sixth = new WS(url);
    const closed = await new Promise((r) => sixth.addEventListener('close', r));
    assert.equal(closed.code, 1006);
    assert.match(closed.reason, /5 WebSocket connections/);
    // A closed one frees a place.
    const gone = new Promise((r) => socks[4].addEventListener('close', r));
    socks[4].close(1000, 'done');
    assert.equal((await gone).code, 1000);
    await new Promise((r) => setTimeout(r, 20));
    const again = new WS(url);
    await open(again);
    // Paused: open sockets close normally, new ones fail at once.
    group.pause('app hidden');
    await group.closed(2000);
    assert.ok(socks.slice(0, 4).every((s) => s.readyState === 3) && again.readyState === 3);
    const during = new WS(url);
    assert.equal((await new Promise((r) => during.addEventListener('close', r))).code, 1006);
    group.resume();
    await open(new WS(url));
    assert.throws(() => again.close(1006), /InvalidAccessError/);
  } finally {
    wss.close();
  }
});

function msg(conv, seq, text, createdAt = 1_000_000 + seq) {
  return { id: `${conv}#${seq}`, clientId: `c${seq}`, conversationId: conv, seq, sender: 'bob', type: 'text', text, createdAt, status: 'sent' };
}
// The adapter takes and returns plain objects.
const bytes = (mp, v) => v;
// Its objects belong to the mini-program's realm: copied into this one to
// compare them.
const parse = (mp, v) => {
  assert.ok(v !== null && typeof v === 'object' && !ArrayBuffer.isView(v), 'the adapter returns objects, not bytes');
  return JSON.parse(JSON.stringify(v));
};

test('file storage: the budget evicts the oldest history first, never the outbox', async () => {
  const mp = program();
  const st = mp.lib.fileStorage({ name: 'budget', maxBytes: 64 * 1024 });
  await st.load();
  const entry = { order: 1, message: { ...msg('p:a:b', 0, 'unsent'), clientId: 'out-1', status: 'pending', seq: 0 } };
  await st.apply(bytes(mp, { meta: { deviceId: 'd', userId: 'a', epoch: 'e', syncCursor: 0, nextOrder: 2 }, outboxPut: [entry] }));
  const text = 'y'.repeat(300);
  // Four conversations, one after the other in time, one file (~28 KB) each:
  // the 64 KB budget holds two.
  for (const [k, conv] of ['g:c1', 'g:c2', 'g:c3', 'g:c4'].entries()) {
    for (let s = 1; s <= 63; s += 9) {
      await st.apply(bytes(mp, { messages: Array.from({ length: 9 }, (_, i) => msg(conv, s + i, text, 10000 * (k + 1) + s + i)) }));
    }
  }
  const stats = st.getStats();
  assert.ok(stats.bytes <= 64 * 1024, `${stats.bytes} bytes within the budget`);
  assert.equal(stats.evictedFiles, 2);
  const count = async (conv) => parse(mp, await st.messages(conv, 0, 0)).length;
  assert.deepEqual([await count('g:c1'), await count('g:c2'), await count('g:c3'), await count('g:c4')], [0, 0, 63, 63], 'the two oldest went');
  await st.close();
  // A restart sees the same, and the outbox.
  const again = mp.lib.fileStorage({ name: 'budget', maxBytes: 64 * 1024 });
  const snap = parse(mp, await again.load());
  assert.deepEqual(snap.outbox.map((e) => e.message.clientId), ['out-1']);
  assert.deepEqual(plain(parse(mp, await again.messages('g:c4', 0, 3)).map((m) => m.seq)), [61, 62, 63]);
  assert.deepEqual(plain(parse(mp, await again.messages('g:c4', 20, 2)).map((m) => m.seq)), [18, 19]);
  await again.close();
});

test('file storage: a write the platform refuses is an event, kept in memory and written once there is room', async () => {
  const mp = program();
  const events = [];
  const st = mp.lib.fileStorage({ name: 'full', onError: (e) => events.push(plain(e)) });
  await st.load();
  mp.setFileQuota(mp.usedBytes()); // not one byte more, and no history to evict
  const entry = { order: 1, message: { ...msg('p:a:b', 0, 'must not be lost'), clientId: 'keep-me', status: 'pending', seq: 0 } };
  await assert.rejects(st.apply(bytes(mp, { outboxPut: [entry] })), /maximum size of the file storage/);
  assert.deepEqual(events[0], { what: 'outbox', code: 1300202, message: 'writeFile:fail the maximum size of the file storage limit is exceeded', retrying: true });
  // Room again: the next flush (the app being hidden, or any batch) writes it.
  mp.setFileQuota(200 * 1024 * 1024);
  await st.flush();
  const slots = ['outbox.0.json', 'outbox.1.json'].map((f) => join(mp.userDir, 'parley', 'full', f)).filter(existsSync);
  const newest = slots.map((f) => JSON.parse(readFileSync(f, 'utf8'))).sort((a, b) => b.gen - a.gen)[0];
  assert.deepEqual(newest.data.map((e) => e.message.clientId), ['keep-me']);
  // Messages that could not be written are not claimed by the stored conversation.
  mp.setFileQuota(mp.usedBytes());
  const conv = { id: 'p:a:b', type: 'p2p', members: ['a', 'b'], lastSeq: 3, readSeq: 0, unread: 3, syncedSeq: 3, version: 1 };
  await assert.rejects(st.apply(bytes(mp, { conversations: [conv], messages: [msg('p:a:b', 2, 'x'), msg('p:a:b', 3, 'y')] })));
  assert.equal(events.at(-1).what, 'messages');
  mp.setFileQuota(200 * 1024 * 1024);
  await st.close();
  const snap = parse(mp, await mp.lib.fileStorage({ name: 'full' }).load());
  assert.equal(snap.conversations[0].syncedSeq, 1, 'the next start fetches seqs 2 and 3 again');
});

test('file storage: wx storage full leaves a stale index out, and the next start rebuilds it from the files', async () => {
  const storage = new Map();
  const mp = program({ storage, storageQuota: 64 });
  const events = [];
  const st = mp.lib.fileStorage({ name: 'idx', onError: (e) => events.push(plain(e)) });
  await st.load();
  await st.apply(bytes(mp, { messages: [msg('g:x', 1, 'a'), msg('g:x', 70, 'b')] }));
  await st.close();
  assert.equal(events[0]?.what, 'index');
  assert.equal(storage.has('parley:idx:index'), false);
  const again = mp.lib.fileStorage({ name: 'idx' });
  assert.deepEqual(plain(parse(mp, await again.messages('g:x', 0, 0)).map((m) => m.seq)), [1, 70]);
  assert.ok(USER_DATA_PATH.startsWith('wxfile://'));
});
