// The IndexedDB StorageAdapter (dist build) over fake-indexeddb: the
// WasmStorage contract, and the merge rules that make it safe for several
// tabs writing one database.
import 'fake-indexeddb/auto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedDBStorage, foldText, ParleyError, Codes } from '@parley-im/sdk';

// The adapter takes and returns plain objects.
const bytes = (v) => v;
const parse = (v) => {
  assert.ok(!(v instanceof Uint8Array), 'the adapter returns objects, not bytes');
  return v;
};

let dbs = 0;
const freshName = () => `test-${process.pid}-${++dbs}`;

const meta = (over = {}) => ({ deviceId: 'd1', userId: 'alice', epoch: 'e1', syncCursor: 0, nextOrder: 1, ...over });
const msg = (conv, seq, over = {}) => ({
  id: `${conv}#${seq}`, clientId: `c-${conv}-${seq}`, conversationId: conv, seq, sender: 'alice',
  type: 'text', text: `m${seq}`, createdAt: 1000 + seq, status: 'sent', ...over,
});
const conv = (id, over = {}) => ({
  id, type: 'p2p', members: ['alice', 'bob'], lastSeq: 0, readSeq: 0, unread: 0, syncedSeq: 0, version: 0, ...over,
});
const pending = (clientId, order) => ({
  order, message: { id: `local:${clientId}`, clientId, conversationId: 'p:alice:bob', seq: 0, sender: 'alice', type: 'text', text: clientId, createdAt: 1, localTime: 1, status: 'pending' },
});

async function load(s) {
  return parse(await s.load());
}
async function convOf(s, id) {
  return (await load(s)).conversations.find((c) => c.id === id);
}

test('empty database loads as null', async () => {
  const s = indexedDBStorage({ name: freshName() });
  assert.equal(await s.load(), null);
  await s.close();
});

test('apply then load round-trips meta, conversations and the outbox in order', async () => {
  const s = indexedDBStorage({ name: freshName() });
  await s.apply(bytes({
    meta: meta({ syncCursor: 7, nextOrder: 4 }),
    conversations: [conv('p:alice:bob', { lastSeq: 2, readSeq: 1, unread: 1, lastMessage: msg('p:alice:bob', 2) })],
    messages: [msg('p:alice:bob', 1), msg('p:alice:bob', 2)],
    outboxPut: [pending('c3', 3), pending('c1', 1), pending('c2', 2)],
  }));
  const snap = await load(s);
  assert.deepEqual(snap.meta, meta({ syncCursor: 7, nextOrder: 4 }));
  assert.equal(snap.conversations.length, 1);
  assert.equal(snap.conversations[0].lastMessage.seq, 2);
  assert.deepEqual(snap.outbox.map((e) => e.message.clientId), ['c1', 'c2', 'c3']);

  await s.apply(bytes({ outboxDelete: ['c2'] }));
  assert.deepEqual((await load(s)).outbox.map((e) => e.message.clientId), ['c1', 'c3']);
  await s.close();
});

test('messages: before, limit, ascending, only the asked conversation', async () => {
  const s = indexedDBStorage({ name: freshName() });
  const a = 'p:alice:bob';
  const b = 'p:alice:bobby'; // shares a prefix with a
  await s.apply(bytes({
    messages: [...Array.from({ length: 10 }, (_, i) => msg(a, i + 1)), msg(b, 1), msg(b, 2)],
  }));
  const seqs = async (c, before, limit) => parse(await s.messages(c, before, limit)).map((m) => m.seq);
  assert.deepEqual(await seqs(a, 0, 3), [8, 9, 10]);
  assert.deepEqual(await seqs(a, 8, 3), [5, 6, 7]);
  assert.deepEqual(await seqs(a, 3, 10), [1, 2]);
  assert.deepEqual(await seqs(a, 1, 10), []);
  assert.deepEqual(await seqs(a, 0, 0), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(await seqs(b, 0, 50), [1, 2]);
  assert.deepEqual(await seqs('g:nobody', 0, 50), []);
  // Idempotent puts: the same message twice is stored once.
  await s.apply(bytes({ messages: [msg(a, 10)] }));
  assert.deepEqual(await seqs(a, 0, 50), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await s.close();
});

test('messages: out-of-order, repeated and replacing writes from two tabs over many blocks read back like a map by seq', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  let x = seed;
  const rand = (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const name = freshName();
  const tabs = [indexedDBStorage({ name }), indexedDBStorage({ name })];
  const a = 'p:alice:bob';
  const b = 'p:alice:carol';
  const want = new Map([[a, new Map()], [b, new Map()]]);
  const batches = (round) => Array.from({ length: 30 }, (_, i) => {
    const c = rand(3) ? a : b;
    const start = 1 + rand(400);
    const batch = [];
    for (let k = 0; k < 1 + rand(90); k++) {
      // Backwards now and then; a seq written again in a later round gets
      // a new text.
      const seq = rand(5) ? start + k : start + rand(200);
      const m = msg(c, seq, { text: `r${round} ${seq}` });
      batch.push(m);
      want.get(c).set(seq, m);
    }
    return tabs[i % 2].apply(bytes({ messages: batch }));
  });
  // The two tabs' batches of a round race each other; within a round one
  // seq always has one text, so whichever lands last, the result is known.
  for (let round = 0; round < 3; round++) await Promise.all(batches(round));
  for (const [c, byseq] of want) {
    const all = [...byseq.values()].sort((p, q) => p.seq - q.seq);
    assert.deepEqual(parse(await tabs[0].messages(c, 0, 0)), all, `seed ${seed}: every message of ${c}, once, ascending, the last write of each`);
    for (const [before, limit] of [[0, 1], [0, 70], [65, 3], [129, 64], [128, 200], [300, 0], [1, 10], [2, 1]]) {
      const older = all.filter((m) => !before || m.seq < before);
      const page = limit ? older.slice(-limit) : older;
      assert.deepEqual(parse(await tabs[1].messages(c, before, limit)), page, `seed ${seed}: ${c} before ${before} limit ${limit}`);
    }
  }
  await Promise.all(tabs.map((t) => t.close()));
});

test('two tabs on one database: a stale write does not regress a conversation', async () => {
  const name = freshName();
  const tabA = indexedDBStorage({ name });
  const tabB = indexedDBStorage({ name });
  const id = 'p:alice:bob';
  await tabA.apply(bytes({
    conversations: [conv(id, { lastSeq: 10, readSeq: 8, unread: 2, syncedSeq: 10, version: 5, lastMessage: msg(id, 10) })],
  }));
  // Tab B is behind: older seqs, older version, older last message.
  await tabB.apply(bytes({
    conversations: [conv(id, { name: 'stale', lastSeq: 7, readSeq: 7, unread: 0, syncedSeq: 7, version: 3, lastMessage: msg(id, 7) })],
  }));
  let c = await convOf(tabA, id);
  assert.equal(c.lastSeq, 10);
  assert.equal(c.readSeq, 8);
  assert.equal(c.unread, 2);
  assert.equal(c.syncedSeq, 10);
  assert.equal(c.version, 5);
  assert.equal(c.lastMessage.seq, 10);
  assert.equal(c.name, undefined, 'name and members come from the newer version');

  // Tab B then reads everything: its read cursor is ahead, so it wins that field.
  await tabB.apply(bytes({ conversations: [conv(id, { lastSeq: 7, readSeq: 10, unread: 0, version: 3 })] }));
  c = await convOf(tabB, id);
  assert.equal(c.readSeq, 10);
  assert.equal(c.unread, 0);
  assert.equal(c.lastSeq, 10);
  assert.equal(c.lastMessage.seq, 10, 'a write without a last message keeps the stored one');

  // A newer version from B replaces name and members.
  await tabB.apply(bytes({ conversations: [conv(id, { type: 'p2p', name: 'renamed', lastSeq: 11, readSeq: 10, version: 6, lastMessage: msg(id, 11) })] }));
  c = await convOf(tabA, id);
  assert.equal(c.name, 'renamed');
  assert.equal(c.unread, 1);
  assert.equal(c.lastMessage.seq, 11);
  await tabA.close();
  await tabB.close();
});

test('two tabs racing: concurrent batches merge to the maximum', async () => {
  const name = freshName();
  const tabs = [indexedDBStorage({ name }), indexedDBStorage({ name })];
  const id = 'g:team';
  const writes = [];
  for (let i = 1; i <= 40; i++) {
    const seq = ((i * 7) % 40) + 1; // every seq 1..40 once, out of order
    writes.push(tabs[i % 2].apply(bytes({
      meta: meta({ syncCursor: seq, nextOrder: seq }),
      conversations: [conv(id, { type: 'group', lastSeq: seq, readSeq: seq - 1, syncedSeq: seq, version: seq, lastMessage: msg(id, seq) })],
      messages: [msg(id, seq)],
    })));
  }
  await Promise.all(writes);
  const snap = await load(tabs[0]);
  assert.equal(snap.meta.syncCursor, 40);
  assert.equal(snap.meta.nextOrder, 40);
  const c = snap.conversations[0];
  assert.deepEqual([c.lastSeq, c.readSeq, c.unread, c.syncedSeq, c.version, c.lastMessage.seq], [40, 39, 1, 40, 40, 40]);
  assert.equal(parse(await tabs[1].messages(id, 0, 100)).length, 40);
  await Promise.all(tabs.map((t) => t.close()));
});

test('meta: cursors are monotonic within an epoch; a new epoch or user is taken as given', async () => {
  const s = indexedDBStorage({ name: freshName() });
  await s.apply(bytes({ meta: meta({ syncCursor: 50, nextOrder: 9 }) }));
  await s.apply(bytes({ meta: meta({ deviceId: 'd2', syncCursor: 20, nextOrder: 3 }) }));
  assert.deepEqual((await load(s)).meta, meta({ deviceId: 'd2', syncCursor: 50, nextOrder: 9 }));
  await s.apply(bytes({ meta: meta({ epoch: 'e2', syncCursor: 1, nextOrder: 2 }) }));
  assert.deepEqual((await load(s)).meta, meta({ epoch: 'e2', syncCursor: 1, nextOrder: 2 }));
  await s.apply(bytes({ meta: meta({ epoch: 'e2', userId: 'bob', syncCursor: 0, nextOrder: 1 }) }));
  assert.deepEqual((await load(s)).meta, meta({ epoch: 'e2', userId: 'bob', syncCursor: 0, nextOrder: 1 }));
  await s.close();
});

test('reset clears conversations and messages, sets the meta as given, keeps the outbox', async () => {
  const s = indexedDBStorage({ name: freshName() });
  const id = 'p:alice:bob';
  await s.apply(bytes({
    meta: meta({ syncCursor: 99, nextOrder: 3 }),
    conversations: [conv(id, { lastSeq: 5, readSeq: 5, version: 9 })],
    messages: [msg(id, 4), msg(id, 5)],
    outboxPut: [pending('c1', 1), pending('c2', 2)],
  }));
  await s.apply(bytes({
    reset: true,
    meta: meta({ epoch: 'e2', syncCursor: 0, nextOrder: 3 }),
    conversations: [conv(id, { lastSeq: 1, readSeq: 0, unread: 1, version: 1 })],
  }));
  const snap = await load(s);
  assert.deepEqual(snap.meta, meta({ epoch: 'e2', syncCursor: 0, nextOrder: 3 }));
  assert.equal(snap.conversations.length, 1);
  assert.equal(snap.conversations[0].lastSeq, 1, 'the reset row is not merged with the dropped one');
  assert.equal(snap.conversations[0].version, 1);
  assert.deepEqual(parse(await s.messages(id, 0, 50)), []);
  assert.deepEqual(snap.outbox.map((e) => e.message.clientId), ['c1', 'c2']);

  // A reset keeps the outbox even with the same epoch and a lower cursor.
  await s.apply(bytes({ reset: true, meta: meta({ epoch: 'e2', syncCursor: 0, nextOrder: 3 }) }));
  const after = await load(s);
  assert.deepEqual(after.conversations, []);
  assert.equal(after.outbox.length, 2);
  await s.close();
});

test('load never hands out an outbox order at or past nextOrder', async () => {
  const s = indexedDBStorage({ name: freshName() });
  await s.apply(bytes({ meta: meta({ nextOrder: 2 }), outboxPut: [pending('c7', 7)] }));
  assert.equal((await load(s)).meta.nextOrder, 8);
  await s.close();
});

// The client calls apply() again before the previous batch committed, and
// reads meanwhile: the batches land in the order of the calls, and a read
// finds every batch applied before it, whether the database was open yet
// or not.
for (const opened of [false, true]) {
  test(`apply() calls that overlap land in call order, and a read after them finds them (database ${opened ? 'open' : 'not open yet'})`, async () => {
    const s = indexedDBStorage({ name: freshName() });
    if (opened) await s.load();
    const c = 'p:alice:bob';
    const writes = [
      s.apply({ meta: meta(), outboxPut: [pending('x', 1)], messages: [msg(c, 1)] }),
      s.apply({ outboxDelete: ['x'], messages: [msg(c, 1, { text: 'edited' })] }),
      s.apply({ outboxPut: [pending('y', 2)], messages: [msg(c, 2)] }),
    ];
    const page = s.messages(c, 0, 10);
    const found = s.search({ text: 'edited', limit: 10 });
    await Promise.all(writes);
    assert.deepEqual((await page).map((m) => [m.seq, m.text]), [[1, 'edited'], [2, 'm2']]);
    assert.deepEqual((await found).map((m) => m.seq), [1]);
    assert.deepEqual((await load(s)).outbox.map((e) => e.message.clientId), ['y']);
    await s.close();
  });
}

// A page sending and receiving many messages a second: batches that come
// while a write is in flight are merged and committed together, and the
// cache ends as if each had been applied on its own. The reference applies
// the same seeded batches one at a time, each awaited, on another database.
test('batches queued behind a write in flight commit together and land as if applied one by one', async () => {
  let seed = 7;
  const rnd = (n) => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const ids = ['p:alice:bob', 'p:alice:carol', 'g:crew'];
  const batches = [];
  for (let i = 0; i < 120; i++) {
    const b = {};
    const id = ids[rnd(3)];
    const seq = 1 + rnd(150);
    if (rnd(2)) b.messages = [msg(id, seq, { text: `t${i}` })];
    if (rnd(3) === 0) {
      const over = { lastSeq: seq, readSeq: rnd(seq + 1), version: rnd(4), name: `n${i}` };
      b.conversations = [id.startsWith('g:') ? conv(id, { type: 'group', members: ['alice', 'bob', 'carol'], ...over }) : conv(id, over)];
    }
    if (rnd(3) === 0) b.outboxPut = [pending(`o${rnd(6)}`, i + 1)];
    if (rnd(4) === 0) b.outboxDelete = [`o${rnd(6)}`];
    if (rnd(5) === 0) b.meta = meta({ syncCursor: rnd(100), nextOrder: i + 2 });
    batches.push(b);
  }
  assert.ok(batches.filter((b) => b.messages).length > 40, 'the batches write messages');
  const ref = indexedDBStorage({ name: freshName() });
  for (const b of batches) await ref.apply(b);

  const proto = globalThis.IDBDatabase.prototype;
  const transaction = proto.transaction;
  let readwrite = 0;
  proto.transaction = function (stores, mode, ...rest) {
    if (mode === 'readwrite') readwrite++;
    return transaction.call(this, stores, mode, ...rest);
  };
  const s = indexedDBStorage({ name: freshName() });
  try {
    await s.load();
    await Promise.all(batches.map((b) => s.apply(b)));
  } finally {
    proto.transaction = transaction;
  }
  assert.ok(readwrite <= 2, `${readwrite} readwrite transactions for ${batches.length} batches applied together`);
  const [got, want] = [await load(s), await load(ref)];
  assert.deepEqual(got.meta, want.meta);
  assert.deepEqual(got.outbox, want.outbox);
  const byId = (cs) => [...cs].sort((x, y) => x.id.localeCompare(y.id));
  assert.deepEqual(byId(got.conversations), byId(want.conversations));
  for (const id of ids) {
    const page = await ref.messages(id, 0, 200);
    assert.ok(page.length > 5, `${id}: the reference holds ${page.length} messages`);
    assert.deepEqual(await s.messages(id, 0, 200), page, id);
  }
  for (const text of ['t1', 't5', 't77', 't119']) assert.deepEqual(await s.search({ text, limit: 50 }), await ref.search({ text, limit: 50 }), text);
  await s.close();
  await ref.close();
});

test('a batch is atomic: one bad write and none of it lands', async () => {
  const s = indexedDBStorage({ name: freshName() });
  const id = 'p:alice:bob';
  await s.apply(bytes({ meta: meta({ syncCursor: 1 }), conversations: [conv(id, { lastSeq: 1, version: 1 })] }));
  const bad = msg(id, 3);
  delete bad.seq; // no key: the put throws
  await assert.rejects(s.apply(bytes({
    meta: meta({ syncCursor: 2 }),
    conversations: [conv(id, { lastSeq: 3, version: 3 })],
    messages: [msg(id, 2), bad],
  })));
  const snap = await load(s);
  assert.equal(snap.meta.syncCursor, 1);
  assert.equal(snap.conversations[0].lastSeq, 1);
  assert.deepEqual(parse(await s.messages(id, 0, 50)), []);
  await s.close();
});

test('after close every call rejects with 4900 and close is idempotent', async () => {
  const s = indexedDBStorage({ name: freshName() });
  await s.load();
  await s.close();
  await s.close();
  await assert.rejects(s.load(), (e) => e instanceof ParleyError && e.code === Codes.ClientClosed);
  await assert.rejects(s.apply(bytes({})), (e) => e instanceof ParleyError && e.code === 4900);
});

test('another tab deleting the database closes this connection, which reopens on next use', async () => {
  const name = freshName();
  const s = indexedDBStorage({ name });
  await s.apply(bytes({ meta: meta() }));
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
  });
  assert.equal(await s.load(), null);
  await s.close();
});

// Search: the storage's half of client.search. The query arrives validated
// and folded by the Go core; the reference below is the core's semantics
// (SearchQuery.Match, SortResults) written out in JavaScript.
const query = (text, over = {}) => bytes({ text: foldText(text), limit: 20, ...over });
const cursorOf = (m) => ({ createdAt: m.createdAt, conversationId: m.conversationId, seq: m.seq, clientId: m.clientId });
const newerFirst = (a, b) => b.createdAt - a.createdAt || (a.conversationId < b.conversationId ? 1 : a.conversationId > b.conversationId ? -1 : b.seq - a.seq);
const sortsAfter = (m, c) => newerFirst(m, c) > 0;

test('search: folded substring, newest first, conversation, limit, cursor', async () => {
  const s = indexedDBStorage({ name: freshName() });
  const a = 'p:alice:bob';
  const b = 'g:team';
  await s.apply(bytes({
    messages: [
      msg(a, 1, { text: 'Kein Ärger', createdAt: 10 }),
      msg(b, 1, { text: 'ÄRGER im Büro', createdAt: 20 }),
      msg(a, 2, { text: '我们明天开会吧', createdAt: 30 }),
      msg(b, 2, { text: '开会了', createdAt: 30 }), // same time as a#2: the greater conversation id comes first
      msg(a, 3, { type: 'custom', text: undefined, body: 'e30=', createdAt: 40 }),
      msg(a, 4, { text: 'ärgerlich', createdAt: 50 }),
    ],
  }));
  const ids = async (q) => parse(await s.search(q)).map((m) => m.id);
  assert.deepEqual(await ids(query('ÄRGER')), [`${a}#4`, `${b}#1`, `${a}#1`]);
  assert.deepEqual(await ids(query('ärger')), [`${a}#4`, `${b}#1`, `${a}#1`], 'case does not matter, beyond ASCII too');
  assert.deepEqual(await ids(query('开会')), [`${a}#2`, `${b}#2`].sort().reverse(), 'a Chinese substring, ties by conversation');
  assert.deepEqual(await ids(query('明天开')), [`${a}#2`]);
  assert.deepEqual(await ids(query('ärger', { conversationId: a })), [`${a}#4`, `${a}#1`]);
  assert.deepEqual(await ids(query('ärger', { limit: 1 })), [`${a}#4`]);
  assert.deepEqual(await ids(query('ärger', { before: { createdAt: 50, conversationId: a, seq: 4 } })), [`${b}#1`, `${a}#1`]);
  assert.deepEqual(await ids(query('qqq')), []);
  assert.deepEqual(await ids(query('ärger', { conversationId: 'g:nobody' })), []);

  // The walk stops at a block whose newest message is older than a full
  // page's last; a block whose newest only ties with it may still hold a
  // better match (same time, greater conversation id).
  await s.apply(bytes({ messages: [msg('p:alice:abe', 1, { text: 'tie', createdAt: 15 }), msg('p:alice:abe', 2, { text: 'tie', createdAt: 60 }), msg('p:alice:zed', 1, { text: 'tie', createdAt: 15 })] }));
  assert.deepEqual(await ids(query('tie', { limit: 2 })), ['p:alice:abe#2', 'p:alice:zed#1']);

  // A message written again with other text is found by the new text only;
  // one that loses its text leaves the index.
  await s.apply(bytes({ messages: [msg(a, 4, { text: 'all good now', createdAt: 50 }), msg(b, 1, { text: undefined, createdAt: 20 })] }));
  assert.deepEqual(await ids(query('ärger')), [`${a}#1`]);
  assert.deepEqual(await ids(query('GOOD')), [`${a}#4`]);
  // A reset drops the index with the messages.
  await s.apply(bytes({ reset: true, meta: meta() }));
  assert.deepEqual(await ids(query('good')), []);
  await s.close();
});

test('search: paging over many blocks matches the reference, without duplicates or gaps', async () => {
  const s = indexedDBStorage({ name: freshName() });
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const words = ['Ärger', 'ärger', 'straße', '开会', '明天', 'hello', 'HELLO', 'Σοφία', 'world'];
  const convs = ['p:alice:bob', 'p:alice:carol', 'g:team'];
  const all = [];
  const seqs = { 'p:alice:bob': 0, 'p:alice:carol': 0, 'g:team': 0 };
  for (let i = 0; i < 1500; i++) {
    const c = convs[Math.floor(rnd() ** 2 * convs.length)];
    const n = 1 + Math.floor(rnd() * 3);
    const text = Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    // Time goes forward, a few messages share each millisecond, and now and
    // then one comes in late: ties across conversations and blocks whose
    // times overlap.
    const createdAt = 1000 + Math.floor(i / 3) - (rnd() < 0.05 ? Math.floor(rnd() * 300) : 0);
    all.push(msg(c, ++seqs[c], { text, createdAt, clientId: `c${i}` }));
  }
  // Written as sync writes them: one conversation's consecutive seqs per batch.
  for (const c of convs) {
    const mine = all.filter((m) => m.conversationId === c);
    for (let i = 0; i < mine.length; i += 200) await s.apply(bytes({ messages: mine.slice(i, i + 200) }));
  }
  for (const text of ['ärger', '开会', 'hello', 'σοφία', 'o', 'qqq']) {
    for (const conversationId of [undefined, ...convs]) {
      const want = all
        .filter((m) => (!conversationId || m.conversationId === conversationId) && foldText(m.text).includes(foldText(text)))
        .sort(newerFirst)
        .map((m) => m.id);
      for (const limit of [7, 100]) {
        const got = [];
        let before;
        for (;;) {
          const page = parse(await s.search(query(text, { conversationId, limit, before })));
          assert.ok(page.length <= limit);
          if (page.length === 0) break;
          for (const m of page) assert.ok(!before || sortsAfter(m, before), 'every result sorts after the cursor');
          got.push(...page.map((m) => m.id));
          before = cursorOf(page.at(-1));
        }
        assert.deepEqual(got, want, `${text} in ${conversationId ?? 'every conversation'} by ${limit}`);
      }
    }
  }
  await s.close();
});

test('search: a version 1 cache is upgraded in place and keeps working', async () => {
  const name = freshName();
  // The schema of version 1, written by hand as the previous release did.
  await new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('meta');
      db.createObjectStore('conversations', { keyPath: 'id' });
      db.createObjectStore('messages', { keyPath: ['conversationId', 'seq'] });
      db.createObjectStore('outbox', { keyPath: 'message.clientId' }).createIndex('order', 'order');
    };
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction(['meta', 'conversations', 'messages'], 'readwrite');
      tx.objectStore('meta').put(meta({ syncCursor: 3 }), 'meta');
      tx.objectStore('conversations').put(conv('p:alice:bob', { lastSeq: 300, syncedSeq: 300 }));
      for (let seq = 1; seq <= 300; seq++) tx.objectStore('messages').put(msg('p:alice:bob', seq, { text: seq % 100 === 0 ? `Ärger ${seq}` : `m${seq}` }));
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onabort = () => reject(tx.error);
    };
    req.onerror = () => reject(req.error);
  });
  const s = indexedDBStorage({ name });
  const snap = await load(s);
  assert.equal(snap.meta.syncCursor, 3, 'the cache is still there');
  assert.deepEqual(parse(await s.search(query('ärger'))).map((m) => m.seq), [300, 200, 100]);
  assert.deepEqual(parse(await s.messages('p:alice:bob', 0, 2)).map((m) => m.seq), [299, 300]);
  await s.apply(bytes({ messages: [msg('p:alice:bob', 301, { text: 'ÄRGER again' })] }));
  assert.deepEqual(parse(await s.search(query('ärger', { limit: 2 }))).map((m) => m.seq), [301, 300]);
  await s.close();
});

test('a version 2 cache (one record per message) is moved into blocks in place and keeps working', async () => {
  const name = freshName();
  // The stores of version 2, written by hand as the previous release did
  // (its search index left empty: what matters here is the messages).
  await new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 2);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('meta');
      db.createObjectStore('conversations', { keyPath: 'id' });
      db.createObjectStore('messages', { keyPath: ['conversationId', 'seq'] });
      db.createObjectStore('outbox', { keyPath: 'message.clientId' }).createIndex('order', 'order');
      db.createObjectStore('searchText', { keyPath: ['conversationId', 'block'] });
      const bits = db.createObjectStore('searchBits', { keyPath: ['conversationId', 'block'] });
      bits.createIndex('newest', ['newest', 'conversationId', 'block']);
      bits.createIndex('conversationNewest', ['conversationId', 'newest', 'block']);
    };
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction(['meta', 'conversations', 'messages', 'outbox'], 'readwrite');
      tx.objectStore('meta').put(meta({ syncCursor: 7 }), 'meta');
      tx.objectStore('conversations').put(conv('p:alice:bob', { lastSeq: 300, syncedSeq: 300 }));
      tx.objectStore('outbox').put(pending('c1', 1));
      for (let seq = 1; seq <= 300; seq++) tx.objectStore('messages').put(msg('p:alice:bob', seq));
      for (let seq = 1; seq <= 5; seq++) tx.objectStore('messages').put(msg('p:alice:carol', seq));
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onabort = () => reject(tx.error);
    };
    req.onerror = () => reject(req.error);
  });
  const s = indexedDBStorage({ name });
  const snap = await load(s);
  assert.equal(snap.meta.syncCursor, 7, 'the cache is still there');
  assert.deepEqual(snap.outbox.map((e) => e.message.clientId), ['c1']);
  assert.deepEqual(parse(await s.messages('p:alice:bob', 0, 0)).map((m) => m.seq), Array.from({ length: 300 }, (_, i) => i + 1));
  assert.deepEqual(parse(await s.messages('p:alice:bob', 130, 3)), [msg('p:alice:bob', 127), msg('p:alice:bob', 128), msg('p:alice:bob', 129)]);
  assert.deepEqual(parse(await s.messages('p:alice:carol', 0, 50)).map((m) => m.seq), [1, 2, 3, 4, 5]);
  await s.apply(bytes({ messages: [msg('p:alice:bob', 301), msg('p:alice:bob', 5, { text: 'edited' })] }));
  const tail = parse(await s.messages('p:alice:bob', 0, 2));
  assert.deepEqual(tail.map((m) => m.seq), [300, 301]);
  assert.equal(parse(await s.messages('p:alice:bob', 6, 1))[0].text, 'edited');
  await s.close();
  const stores = await new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    req.onsuccess = () => {
      const names = [...req.result.objectStoreNames];
      req.result.close();
      resolve(names);
    };
    req.onerror = () => reject(req.error);
  });
  assert.ok(!stores.includes('messages'), 'the old store is gone');
  assert.ok(stores.includes('messageBlocks'));
});
