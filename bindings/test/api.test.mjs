// The everyday calls and the promises around connecting, against a real
// relay process: connect()'s timeout and its terminal end, AbortSignal,
// caller-chosen client ids, strict inputs, off/once, conversation(id),
// totalUnread() and history(), online and offline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, Codes, ParleyError } from '@parley-im/sdk';
import { Relay, freePort } from './support/relay.mjs';
import { clientFor, closeAll, eventually, next, savedStorage, startRelay } from './helpers.mjs';

let relay;
const open = [];
before(async () => {
  relay = await startRelay({ extra: ['--group-ids', 'client'] }); // tests name some groups
});
after(async () => {
  await closeAll(open);
  await relay?.stop();
});

const isParley = (code) => (e) => {
  assert.ok(e instanceof ParleyError, `want a ParleyError, got ${e}`);
  assert.equal(e.code, code, e.message);
  return true;
};

describe('connect()', () => {
  test('rejects with the retryable 4906 after connectTimeoutMs, keeps trying, connects by itself; info logs the retries', async () => {
    const down = new Relay();
    down.port = await freePort();
    const logs = [];
    const c = await createClient({
      url: down.ws, token: relay.token('alice'), storage: 'memory', connectTimeoutMs: 500,
      reconnect: { minDelayMs: 50, maxDelayMs: 200 }, logLevel: 'info', logger: (level, m) => logs.push(`${level} ${m}`),
    });
    open.push(c);
    const t0 = Date.now();
    await assert.rejects(c.connect(), (e) => {
      isParley(Codes.ConnectTimeout)(e);
      assert.equal(e.retryable, true);
      assert.equal(e.terminal, false);
      return true;
    });
    assert.ok(Date.now() - t0 >= 450, `rejected after ${Date.now() - t0} ms, before the timeout`);
    assert.ok(['connecting', 'reconnecting'].includes(c.state), c.state);
    const connected = next(c, 'state', (s) => s.state === 'connected', 30000);
    await down.start();
    try {
      await connected;
      assert.equal(c.state, 'connected');
      assert.ok(logs.some((l) => /^info parley: reconnecting .*retrying in/.test(l)), `no retry logged:\n${logs.join('\n')}`);
      assert.ok(logs.some((l) => /^info parley: connected/.test(l)), `no transition logged:\n${logs.join('\n')}`);
      // Connecting again when connected resolves at once.
      await c.connect();
    } finally {
      await c.close();
      await down.stop();
    }
  });

  test('rejects with the terminal 4907 when reconnect.maxAttempts is used up', async () => {
    const c = await createClient({
      url: `ws://127.0.0.1:${await freePort()}/v1/ws`, token: relay.token('alice'), storage: 'memory',
      reconnect: { maxAttempts: 2, minDelayMs: 20, maxDelayMs: 40 }, connectTimeoutMs: 60000, logLevel: 'silent',
    });
    open.push(c);
    await assert.rejects(c.connect(), (e) => {
      isParley(Codes.GaveUp)(e);
      assert.equal(e.terminal, true);
      return true;
    });
    assert.equal(c.state, 'disconnected');
  });

  test('an aborted signal rejects with 4908', async () => {
    const c = await clientFor(relay, 'alice', {}, open);
    await assert.rejects(c.connect({ signal: AbortSignal.abort() }), isParley(Codes.Aborted));
    await assert.rejects(c.connect({ signal: {} }), isParley(Codes.InvalidArgument));
  });
});

describe('AbortSignal', () => {
  test('a group asked for offline and aborted is never created on the relay; one not aborted is', async () => {
    const r = await new Relay({ extra: ['--group-ids', 'client'] }).start();
    try {
      const alice = await clientFor(r, 'alice', {}, []);
      await alice.connect();
      const lost = next(alice, 'state', (s) => s.state === 'reconnecting');
      await r.kill9();
      await lost;
      const ac = new AbortController();
      const dropped = alice.createGroup('dropped', ['bob'], { id: 'g:alice.dropped', signal: ac.signal });
      const kept = alice.createGroup('kept', ['bob'], { id: 'g:alice.kept' });
      await new Promise((res) => setTimeout(res, 100));
      ac.abort();
      await assert.rejects(dropped, isParley(Codes.Aborted));
      await r.start();
      const g = await kept;
      assert.equal(g.id, 'g:alice.kept');
      const bob = await clientFor(r, 'bob', {}, []);
      await bob.connect();
      await bob.waitSynced();
      const ids = (await bob.conversations()).map((c) => c.id);
      assert.ok(ids.includes('g:alice.kept'), ids.join());
      assert.ok(!ids.includes('g:alice.dropped'), 'the aborted group exists on the relay');
      await assert.rejects(bob.sendText('g:alice.dropped', 'anyone?'), (e) => [Codes.NotFound, Codes.Forbidden].includes(e.code));
      await closeAll([alice, bob]);
    } finally {
      await r.stop();
    }
  });

  test('an aborted send leaves the outbox and is never written', async () => {
    const r = await new Relay().start();
    try {
      const alice = await clientFor(r, 'alice', {}, []);
      await alice.connect();
      const lost = next(alice, 'state', (s) => s.state === 'reconnecting');
      await r.kill9();
      await lost;
      const ac = new AbortController();
      const conv = alice.p2p('bob');
      const sent = alice.sendText(conv, 'never mind', { clientId: 'abort-me', signal: ac.signal });
      await new Promise((res) => setTimeout(res, 50));
      ac.abort();
      await assert.rejects(sent, isParley(Codes.Aborted));
      const kept = alice.sendText(conv, 'this one', { clientId: 'keep-me' });
      await r.start();
      await kept;
      await alice.waitSynced();
      const bob = await clientFor(r, 'bob', {}, []);
      await bob.connect();
      await bob.waitSynced();
      const texts = (await bob.messages(conv)).map((m) => m.text);
      assert.deepEqual(texts, ['this one']);
      await closeAll([alice, bob]);
    } finally {
      await r.stop();
    }
  });
});

describe('sends', () => {
  test('a caller clientId keys the pending message, announced before the send settles', async () => {
    const a = await clientFor(relay, 'carl', {}, open);
    await a.connect();
    const conv = a.p2p('dora');
    const seen = [];
    a.on('message', (m) => seen.push(['message', m.clientId, m.status]));
    const p = a.sendText(conv, 'hi', { clientId: 'my-key-1' }).then((m) => {
      seen.push(['settled', m.clientId, m.status]);
      return m;
    });
    const m = await p;
    assert.equal(m.clientId, 'my-key-1');
    assert.equal(m.status, 'sent');
    assert.deepEqual(seen[0], ['message', 'my-key-1', 'pending']);
    assert.deepEqual(seen.at(-1), ['settled', 'my-key-1', 'sent']);
    // The same id again is the same message: the relay stores it once.
    const again = await a.sendText(conv, 'hi', { clientId: 'my-key-1' });
    assert.equal(again.seq, m.seq);
    await assert.rejects(a.sendText(conv, 'x', { clientId: 'bad id' }), isParley(Codes.InvalidArgument));
  });
});

describe('strict inputs', () => {
  test('markRead of an unknown conversation rejects with 4909', async () => {
    const c = await clientFor(relay, 'erik', {}, open);
    await c.connect();
    await assert.rejects(c.markRead('g:nothing-here'), isParley(Codes.UnknownConversation));
    await assert.rejects(c.markRead(c.p2p('fay')), isParley(Codes.UnknownConversation));
  });

  test('createGroup without another member rejects with 4903 and creates nothing', async () => {
    const c = await clientFor(relay, 'gus', {}, open);
    await c.connect();
    await assert.rejects(c.createGroup('x', []), isParley(Codes.InvalidArgument));
    await assert.rejects(c.createGroup('x', ['gus']), isParley(Codes.InvalidArgument));
    await c.waitSynced();
    assert.deepEqual(await c.conversations(), []);
  });

  test('on/once/off with an unknown event throw 4903', async () => {
    const c = await clientFor(relay, 'hal', {}, open);
    assert.throws(() => c.on('mesage', () => {}), isParley(Codes.InvalidArgument));
    assert.throws(() => c.once('nope', () => {}), isParley(Codes.InvalidArgument));
    assert.throws(() => c.on('message', 'not a function'), isParley(Codes.InvalidArgument));
  });
});

describe('everyday calls', () => {
  test('off and once', async () => {
    const a = await clientFor(relay, 'ida', {}, open);
    const b = await clientFor(relay, 'jon', {}, open);
    await a.connect();
    await b.connect();
    const conv = a.p2p('jon');
    const onceGot = [];
    const onGot = [];
    const offGot = [];
    b.once('message', (m) => onceGot.push(m.text));
    const h = (m) => offGot.push(m.text);
    b.on('message', h);
    b.off('message', h);
    b.on('message', (m) => onGot.push(m.text));
    // off of a once handler before it fired.
    const never = () => assert.fail('an off()ed once handler ran');
    b.once('message', never);
    b.off('message', never);
    await a.sendText(conv, 'one');
    await a.sendText(conv, 'two');
    await b.waitSynced();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(onceGot, ['one']);
    assert.deepEqual(onGot, ['one', 'two']);
    assert.deepEqual(offGot, []);
  });

  test('conversation(id), totalUnread() and history() with hasMore', async () => {
    const a = await clientFor(relay, 'kim', {}, open);
    const b = await clientFor(relay, 'lou', {}, open);
    const c = await clientFor(relay, 'max', {}, open);
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    const ab = a.p2p('lou');
    for (let i = 1; i <= 7; i++) await a.sendText(ab, `m${i}`);
    const g = await c.createGroup('team', ['lou']);
    await c.sendText(g.id, 'hello team');
    await b.waitSynced();
    assert.equal((await b.conversation(ab))?.id, ab);
    assert.equal(await b.conversation('g:not-known'), undefined);
    await assert.rejects(b.conversation(''), isParley(Codes.InvalidArgument));
    let total;
    // 7 + the group's two: its created message and 'hello team'.
    for (let i = 0; i < 100 && (total = await b.totalUnread()) !== 9; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(total, 9);
    assert.equal((await b.conversation(ab)).unread, 7);
    await b.markRead(ab);
    assert.equal(await b.totalUnread(), 2);

    const p1 = await b.history(ab, { limit: 3 });
    assert.deepEqual(p1.messages.map((m) => m.seq), [5, 6, 7]);
    assert.equal(p1.hasMore, true);
    const p2 = await b.history(ab, { beforeSeq: 5, limit: 3 });
    assert.deepEqual(p2.messages.map((m) => m.seq), [2, 3, 4]);
    assert.equal(p2.hasMore, true);
    const p3 = await b.history(ab, { beforeSeq: 2, limit: 3 });
    assert.deepEqual(p3.messages.map((m) => m.text), ['m1']);
    assert.equal(p3.hasMore, false);
    // Messages deleted for me take their seqs: a page reads on past them, so
    // it is full or ends at seq 1, never empty or short with more behind it.
    const bySeq = new Map([...p1.messages, ...p2.messages, ...p3.messages].map((m) => [m.seq, m]));
    for (const seq of [1, 4, 5, 6, 7]) await b.deleteMessage(bySeq.get(seq).id);
    const h1 = await b.history(ab, { limit: 3 });
    assert.deepEqual(h1.messages.map((m) => m.seq), [2, 3], 'read on past 7, 6, 5, 4 and the hidden seq 1');
    assert.equal(h1.hasMore, false);
    const h2 = await b.history(ab, { limit: 1 });
    assert.deepEqual([h2.messages.map((m) => m.seq), h2.hasMore], [[3], true]);
    const h3 = await b.history(ab, { beforeSeq: 3, limit: 1 });
    assert.deepEqual([h3.messages.map((m) => m.seq), h3.hasMore], [[2], true], 'seq 1 is older, deleted for me: hasMore cannot know');
    const h4 = await b.history(ab, { beforeSeq: 2, limit: 1 });
    assert.deepEqual([h4.messages.map((m) => m.seq), h4.hasMore], [[], false]);
    assert.deepEqual(await b.history('g:empty-unknown').catch((e) => e.code), Codes.Forbidden); // no such group, or not a member: one code
    await assert.rejects(b.history(ab, { limit: 0 }), isParley(Codes.InvalidArgument));
  });
});

describe('history() offline', () => {
  test('a page the cache lacks comes back empty with hasMore true, and from the relay once connected', async () => {
    const r = await new Relay().start();
    const storage = savedStorage(); // its db loses history below, as a store under a size limit evicts the oldest
    const mine = [];
    try {
      const alice = await clientFor(r, 'alice', { storage }, mine);
      const bob = await clientFor(r, 'bob', {}, mine);
      await Promise.all([alice.connect(), bob.connect()]);
      const conv = bob.p2p('alice');
      for (let i = 1; i <= 12; i++) await bob.sendText(conv, `m${i}`);
      await eventually(async () => (await alice.conversation(conv))?.lastMessage?.text === 'm12');
      await alice.waitSynced();
      for (let seq = 1; seq <= 8; seq++) storage.db.messages.delete(`${conv}#${seq}`);
      const lost = next(alice, 'state', (s) => s.state === 'reconnecting');
      await r.kill9();
      await lost;
      const seqs = (p) => [p.messages.map((m) => m.seq), p.hasMore];
      assert.deepEqual(seqs(await alice.history(conv, { limit: 4 })), [[9, 10, 11, 12], true]);
      assert.deepEqual(seqs(await alice.history(conv, { beforeSeq: 9, limit: 4 })), [[], true], 'the relay holds 1..8: not the beginning');
      await r.start();
      await eventually(() => alice.state === 'connected');
      assert.deepEqual(seqs(await alice.history(conv, { beforeSeq: 9, limit: 4 })), [[5, 6, 7, 8], true]);
      assert.deepEqual(seqs(await alice.history(conv, { beforeSeq: 5, limit: 4 })), [[1, 2, 3, 4], false]);
    } finally {
      await closeAll(mine);
      await r.stop();
    }
  });
});
