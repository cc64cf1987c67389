// The message lifecycle end to end with the built package in Node, through
// a real relay: replies and mentions, recall, edit, reactions and delete
// seen live on the other devices and, after a sync, on a device that was
// offline meanwhile (its IndexedDB cache on fake-indexeddb); refusals that
// change nothing; read receipts and the one-to-one peer's read cursor.
import 'fake-indexeddb/auto';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Codes, ParleyError, indexedDBStorage } from '@parley-im/sdk';
import { Relay, clientFor, next, eventually, closeAll, savedStorage } from './helpers.mjs';

let relay;
const open = [];
before(async () => {
  relay = await new Relay({ extra: ['--recall-window', '1h'] }).start();
});
after(async () => {
  await closeAll(open);
  await relay?.stop();
});

const isCode = (code) => (e) => e instanceof ParleyError && e.code === code;
const byId = async (c, conv, id) => (await c.messages(conv, { limit: 100 })).find((m) => m.id === id);

test('recall, edit, react, delete: live on other devices, and after an offline device syncs', async () => {
  const db = `lifecycle-${process.pid}`;
  const a1 = await clientFor(relay, 'alice', {}, open);
  const bob = await clientFor(relay, 'bob', {}, open);
  let a2 = await clientFor(relay, 'alice', { storage: indexedDBStorage({ name: db }) }, open);
  await Promise.all([a1.connect(), bob.connect(), a2.connect()]);
  const conv = a1.p2p('bob');

  const seen = (c, text) => next(c, 'message', (m) => m.text === text);
  const got = [seen(bob, 'hello'), seen(a2, 'hello')];
  const m1 = await a1.sendText(conv, 'hello');
  await Promise.all(got);
  const m2 = await a1.sendText(conv, 'see you at 5');
  const m3 = await a1.sendText(conv, 'third');
  await eventually(async () => (await byId(a2, conv, m3.id)) && (await byId(bob, conv, m3.id)), 10000, 'a2 and bob have m3');
  // a2 goes offline with the three messages cached.
  await a2.close();
  open.splice(open.indexOf(a2), 1);

  // bob reacts: alice's live device sees it.
  let upd = next(a1, 'messageUpdate', (m) => m.id === m3.id && m.reactions?.['👍']);
  await bob.react(m3.id, '👍');
  assert.deepEqual((await upd).reactions, { '👍': ['bob'] });
  upd = next(a1, 'messageUpdate', (m) => m.id === m3.id && m.reactions?.['🎉']);
  await a1.react(m3.id, '🎉');
  assert.deepEqual((await upd).reactions, { '👍': ['bob'], '🎉': ['alice'] }, 'own reaction, applied on the ack');
  await a1.unreact(m3.id, '🎉');

  // alice edits m2: bob sees the new text, same id.
  upd = next(bob, 'messageUpdate', (m) => m.id === m2.id && m.editedAt);
  await a1.edit(m2.id, 'see you at 6');
  const edited = await upd;
  assert.equal(edited.text, 'see you at 6');
  assert.equal(edited.seq, m2.seq);

  // alice recalls m1: its text is gone on bob's device.
  upd = next(bob, 'messageUpdate', (m) => m.id === m1.id && m.recalled);
  await a1.recall(m1.id);
  const recalled = await upd;
  assert.equal(recalled.text, undefined);
  assert.equal((await byId(bob, conv, m1.id)).recalled, true);

  // A reply that mentions alice.
  const mentioned = next(a1, 'conversation', (c) => c.id === conv && c.mentioned);
  const reply = await bob.send(conv, { type: 'text', text: '@alice ok', replyTo: m2.id, mentions: ['alice'] });
  assert.equal((await mentioned).mentioned, true);
  const r = await eventually(() => byId(a1, conv, reply.id), 10000, 'the reply at alice');
  assert.equal(r.replyTo, m2.id);
  assert.deepEqual(r.mentions, ['alice']);

  // Refusals, each with its code, and nothing changed.
  await assert.rejects(bob.edit(m2.id, 'hijacked'), isCode(Codes.NotSender));
  await assert.rejects(bob.recall(m2.id), isCode(Codes.NotSender));
  await assert.rejects(bob.deleteMessage(m2.id, { forEveryone: true }), isCode(Codes.NotSender));
  await assert.rejects(a1.react(`${conv}#999`, '👍'), isCode(Codes.NoSuchMessage));
  await assert.rejects(a1.edit(m1.id, 'again'), isCode(Codes.Recalled));
  await assert.rejects(a1.recall('not-an-id'), isCode(Codes.BadMessageID));
  await assert.rejects(bob.send(conv, { type: 'text', text: 'x', replyTo: `g:other#1` }), isCode(Codes.BadMessageID));
  await assert.rejects(bob.send(conv, { type: 'text', text: 'x', replyTo: `${conv}#999` }), (e) => e instanceof ParleyError);
  assert.equal((await byId(bob, conv, m2.id)).text, 'see you at 6', 'a refused edit changed nothing');

  // Delete for me: hidden on alice's devices, not on bob's.
  const hidden = next(a1, 'messageUpdate', (m) => m.id === m2.id && m.hidden);
  await a1.deleteMessage(m2.id);
  await hidden;
  assert.equal(await byId(a1, conv, m2.id), undefined, 'gone from alice1');
  assert.equal((await byId(bob, conv, m2.id)).text, 'see you at 6', 'still there for bob');

  // The offline device comes back on its cache and syncs: the final state.
  a2 = await clientFor(relay, 'alice', { storage: indexedDBStorage({ name: db }) }, open);
  await a2.connect();
  await eventually(async () => (await byId(a2, conv, m1.id))?.recalled, 10000, 'a2 sees the recall');
  const a2m1 = await byId(a2, conv, m1.id);
  assert.equal(a2m1.text, undefined);
  assert.equal(await byId(a2, conv, m2.id), undefined, 'deleted for me on the other device too');
  assert.deepEqual((await byId(a2, conv, m3.id)).reactions, { '👍': ['bob'] });
  // No cached copy anywhere holds the recalled text (nor the edit's).
  const raw = indexedDBStorage({ name: db });
  const all = await raw.messages(conv, 0, 1000);
  assert.ok(all.length >= 8, `cached ${all.length}`);
  for (const m of all) {
    assert.notEqual(m.text, 'hello', `recalled text cached in ${m.id} (${m.type})`);
  }
  assert.equal(all.find((m) => m.id === m2.id).text, 'see you at 6', 'the edit reached the cache');
  await raw.close();
});

test('read receipts: peerReadSeq in one-to-one, who read up to a seq in a group', async () => {
  const alice = await clientFor(relay, 'rr-alice', {}, open);
  const bob = await clientFor(relay, 'rr-bob', {}, open);
  const carol = await clientFor(relay, 'rr-carol', {}, open);
  await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
  const conv = alice.p2p('rr-bob');
  const m = await alice.sendText(conv, 'did you read this?');
  await eventually(() => byId(bob, conv, m.id), 10000, 'bob has it');
  const read = next(alice, 'conversation', (c) => c.id === conv && c.peerReadSeq >= m.seq);
  await bob.markRead(conv, m.seq);
  assert.equal((await read).peerReadSeq, m.seq, '✓✓');

  const g = await alice.createGroup('receipts', ['rr-bob', 'rr-carol']);
  const gm = await alice.sendText(g.id, 'hi all');
  await eventually(() => byId(bob, g.id, gm.id), 10000, 'bob has the group message');
  await bob.markRead(g.id, gm.seq);
  await eventually(async () => {
    const r = await alice.readReceipts(g.id, gm.seq);
    return r.read.length === 1;
  }, 10000, 'bob counted as read');
  assert.deepEqual(await alice.readReceipts(g.id, gm.seq), { read: ['rr-bob'], unread: ['rr-carol'] });
  await assert.rejects(carol.readReceipts('g:not-mine', 1), isCode(Codes.Forbidden));
});

// frameType reads the type of a relay frame (a CBOR map whose key 1 is the
// type) without decoding the rest.
const frameType = (b) => (b[1] !== 0x01 ? -1 : b[2] < 24 ? b[2] : b[2] === 0x18 ? b[3] : -1);
const TYPE_DELIVER = 5;
const TYPE_USER_UPDATE = 62;

test('delete for me is private: other members receive nothing, my offline device hides it after reconnecting', async () => {
  // Every socket of this test records the frames it receives; the first,
  // the welcome, names the user.
  const { WebSocket: Base } = await import('ws');
  const sockets = [];
  class Recording extends Base {
    constructor(...args) {
      super(...args);
      this.rec = { frames: [] };
      sockets.push(this.rec);
      this.addEventListener('message', (e) => this.rec.frames.push(new Uint8Array(e.data)));
    }
  }
  const framesOf = (user) => sockets.filter((s) => s.frames.length > 0 && Buffer.from(s.frames[0]).includes(user)).flatMap((s) => s.frames);
  const opts = { WebSocket: Recording };
  const db = `hide-${process.pid}`;
  const a1 = await clientFor(relay, 'dm-alice', opts, open);
  let a2 = await clientFor(relay, 'dm-alice', { ...opts, storage: indexedDBStorage({ name: db }) }, open);
  const bob = await clientFor(relay, 'dm-bob', opts, open);
  const carol = await clientFor(relay, 'dm-carol', opts, open);
  await Promise.all([a1.connect(), a2.connect(), bob.connect(), carol.connect()]);
  const g = await bob.createGroup('private deletes', ['dm-alice', 'dm-carol']);
  const m = await bob.sendText(g.id, 'delete me, for you only');
  for (const c of [a1, a2, carol]) await eventually(() => byId(c, g.id, m.id), 10000, 'everyone has the message');
  await a2.close();
  open.splice(open.indexOf(a2), 1);

  const mark = { bob: framesOf('dm-bob').length, carol: framesOf('dm-carol').length };
  const updates = { bob: [], carol: [] };
  const offs = [bob.on('messageUpdate', (u) => updates.bob.push(u)), carol.on('messageUpdate', (u) => updates.carol.push(u))];
  const hidden = next(a1, 'messageUpdate', (u) => u.id === m.id && u.hidden);
  await a1.deleteMessage(m.id);
  await hidden;
  assert.equal(await byId(a1, g.id, m.id), undefined, 'gone from alice');
  // A message alice sends afterwards reaches bob and carol behind anything
  // her delete could have caused.
  const after = await a1.sendText(g.id, 'after');
  for (const c of [bob, carol]) await eventually(() => byId(c, g.id, after.id), 10000, 'the later message arrives');
  for (const off of offs) off();

  for (const who of ['dm-bob', 'dm-carol']) {
    const short = who.slice(3);
    const frames = framesOf(who).slice(mark[short]);
    assert.equal(frames.filter((f) => frameType(f) === TYPE_DELIVER).length, 1, `${who} got one deliver: the later message`);
    assert.equal(frames.filter((f) => frameType(f) === TYPE_USER_UPDATE).length, 0, `${who} got no feed entry`);
    assert.ok(!frames.some((f) => Buffer.from(f).includes('hide')), `no frame to ${who} mentions a hide`);
    assert.deepEqual(updates[short].filter((u) => u.id === m.id), [], `${who} saw no change of the message`);
    const hist = await c(who).messages(g.id, { limit: 100 });
    const mine = hist.find((x) => x.id === m.id);
    assert.equal(mine?.text, 'delete me, for you only', `${who} still has it`);
    assert.equal(mine.hidden, undefined);
    assert.deepEqual(hist.filter((x) => x.type === 'text').map((x) => x.text), ['delete me, for you only', 'after'], `${who}'s history holds no trace`);
    assert.ok(hist.every((x) => x.hidden === undefined), `${who}'s history hides nothing`);
  }
  function c(who) {
    return who === 'dm-bob' ? bob : carol;
  }

  // alice's second device was offline: it hides the message after reconnecting.
  a2 = await clientFor(relay, 'dm-alice', { ...opts, storage: indexedDBStorage({ name: db }) }, open);
  await a2.connect();
  await eventually(async () => (await byId(a2, g.id, after.id)) && (await byId(a2, g.id, m.id)) === undefined, 10000, 'a2 hides it');
  const raw = indexedDBStorage({ name: db });
  const cached = (await raw.messages(g.id, 0, 100)).find((x) => x.id === m.id);
  assert.equal(cached.hidden, true, 'hidden in the IndexedDB cache');
  await raw.close();
});

// switchableProxy forwards TCP to the relay; down() drops every connection
// and refuses new ones until up().
async function switchableProxy(port) {
  const net = await import('node:net');
  const sockets = new Set();
  const srv = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const at = srv.address().port;
  return {
    url: `ws://127.0.0.1:${at}/v1/ws`,
    down: async () => {
      const closed = new Promise((r) => srv.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
    up: () => new Promise((r) => srv.listen(at, '127.0.0.1', r)),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => (srv.listening ? srv.close(r) : r()));
    },
  };
}

test('amends made offline wait in the outbox, survive a reload, and reach the other member once, in order', async () => {
  const relayPort = Number(new URL(relay.ws).port);
  const proxy = await switchableProxy(relayPort);
  try {
    const db = `outbox-amends-${process.pid}`;
    const bobDb = `outbox-amends-bob-${process.pid}`;
    const aliceOpts = { url: proxy.url, storage: indexedDBStorage({ name: db }) };
    let alice = await clientFor(relay, 'oq-alice', aliceOpts, open);
    const bob = await clientFor(relay, 'oq-bob', { storage: indexedDBStorage({ name: bobDb }) }, open);
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = alice.p2p('oq-bob');
    const m1 = await alice.sendText(conv, 'see you at 5');
    const m2 = await bob.sendText(conv, 'ok');
    const m3 = await alice.sendText(conv, 'oops, wrong chat');
    await eventually(async () => (await byId(alice, conv, m2.id)) && (await byId(bob, conv, m3.id)), 10000, 'both have all three');

    // Offline: an edit, a reaction and a recall, then a send.
    const offline = next(alice, 'state', (s) => s.state !== 'connected');
    await proxy.down();
    await offline;
    const pending = [alice.edit(m1.id, 'see you at 6'), alice.react(m2.id, '👍'), alice.recall(m3.id), alice.sendText(conv, 'after the changes')];
    for (const p of pending) p.catch(() => {}); // the reload below rejects them; the outbox keeps the work
    // The local state shows them at once.
    await eventually(async () => (await byId(alice, conv, m1.id))?.text === 'see you at 6', 10000, 'the edit shows offline');
    assert.deepEqual((await byId(alice, conv, m2.id)).reactions, { '👍': ['oq-alice'] }, 'the reaction shows offline');
    assert.equal((await byId(alice, conv, m3.id)).recalled, true, 'the recall shows offline');

    // A reload (a new client over the same storage) before reconnecting.
    await alice.close();
    open.splice(open.indexOf(alice), 1);
    alice = await clientFor(relay, 'oq-alice', { url: proxy.url, storage: indexedDBStorage({ name: db }) }, open);
    const connected = alice.connect();
    assert.equal((await byId(alice, conv, m1.id))?.text, 'see you at 6', 'the pending edit survives the reload');
    await proxy.up();
    await connected;

    await eventually(async () => {
      const [b1, b2, b3] = await Promise.all([m1, m2, m3].map((m) => byId(bob, conv, m.id)));
      return b1?.text === 'see you at 6' && b2?.reactions?.['👍']?.length === 1 && b3?.recalled;
    }, 15000, 'bob sees the final state');
    await eventually(async () => (await bob.messages(conv, { limit: 100 })).some((m) => m.text === 'after the changes'), 10000, 'the send after them arrives');
    // Once, and in the order they were made: read bob's cache, events included.
    await eventually(async () => {
      const raw = indexedDBStorage({ name: bobDb });
      try {
        return (await raw.messages(conv, 0, 100)).some((m) => m.text === 'after the changes');
      } finally {
        await raw.close();
      }
    }, 10000, 'bob cached everything');
    const raw = indexedDBStorage({ name: bobDb });
    const log = (await raw.messages(conv, 0, 100)).filter((m) => m.seq > m3.seq).sort((a, b) => a.seq - b.seq);
    await raw.close();
    assert.deepEqual(log.map((m) => [m.type, m.target ?? 0]), [['edit', m1.seq], ['react', m2.seq], ['recall', m3.seq], ['text', 0]], 'each change stored once, in order, before the later send');
    assert.deepEqual((await byId(bob, conv, m2.id)).reactions, { '👍': ['oq-alice'] });
    await eventually(async () => (await alice.messages(conv, { limit: 100 })).every((m) => !m.id.startsWith('local:')), 10000, 'nothing left pending at alice');
  } finally {
    await proxy.close();
  }
});

test('peerReadSeq reaches a device that was offline when the peer read, and moves when the peer sends', async () => {
  const db = `peer-read-${process.pid}`;
  const alice = await clientFor(relay, 'pr-alice', {}, open);
  const bob = await clientFor(relay, 'pr-bob', {}, open);
  let a2 = await clientFor(relay, 'pr-alice', { storage: indexedDBStorage({ name: db }) }, open);
  await Promise.all([alice.connect(), bob.connect(), a2.connect()]);
  const conv = alice.p2p('pr-bob');
  const m1 = await alice.sendText(conv, 'one');
  const m2 = await alice.sendText(conv, 'two');
  await eventually(async () => (await byId(a2, conv, m2.id)) && (await byId(bob, conv, m2.id)), 10000, 'a2 and bob have m2');
  assert.equal((await a2.conversation(conv)).peerReadSeq ?? 0, 0, 'bob read nothing yet');
  await a2.close();
  open.splice(open.indexOf(a2), 1);

  // bob reads m1 while a2 is offline; alice's live device sees it.
  const read = next(alice, 'conversation', (c) => c.id === conv && c.peerReadSeq >= m1.seq);
  await bob.markRead(conv, m1.seq);
  assert.equal((await read).peerReadSeq, m1.seq);

  // a2 comes back on its cache: ✓✓ up to m1, not m2.
  a2 = await clientFor(relay, 'pr-alice', { storage: indexedDBStorage({ name: db }) }, open);
  await a2.connect();
  await eventually(async () => (await a2.conversation(conv))?.peerReadSeq === m1.seq, 10000, 'a2 sees bob read m1');

  // bob answers: a sender has read what came before, on both of alice's devices.
  const answer = await bob.sendText(conv, 'got both');
  for (const c of [alice, a2]) {
    await eventually(async () => (await c.conversation(conv))?.peerReadSeq >= m2.seq, 10000, 'bob read m2 by answering');
  }
  assert.ok((await alice.conversation(conv)).peerReadSeq >= answer.seq - 1);
});

test('a recalled mention clears conversation.mentioned unless an older one is unread, live and on a device offline meanwhile', async () => {
  const db = `mention-${process.pid}`;
  const alice = await clientFor(relay, 'mn-alice', {}, open);
  const bob = await clientFor(relay, 'mn-bob', {}, open);
  let b2;
  const reopen = async () => {
    b2 = await clientFor(relay, 'mn-bob', { storage: indexedDBStorage({ name: db }) }, open);
    await b2.connect();
  };
  const offline = async () => {
    await b2.close();
    open.splice(open.indexOf(b2), 1);
  };
  await Promise.all([alice.connect(), bob.connect(), reopen()]);
  const g = await alice.createGroup('mentions', ['mn-bob']);
  const older = await alice.send(g.id, { type: 'text', text: '@bob look', mentions: ['mn-bob'] });
  const newer = await alice.send(g.id, { type: 'text', text: '@all and this', mentions: 'all' });
  for (const c of [bob, b2]) {
    await eventually(async () => (await byId(c, g.id, newer.id)) && (await c.conversation(g.id))?.mentioned, 10000, 'bob is mentioned');
  }
  await offline();

  // The newer mention recalled: the older one still mentions bob.
  let recalled = next(bob, 'messageUpdate', (m) => m.id === newer.id && m.recalled);
  await alice.recall(newer.id);
  await recalled;
  assert.equal((await bob.conversation(g.id)).mentioned, true, 'the older mention is unread');
  await reopen();
  await eventually(async () => (await byId(b2, g.id, newer.id))?.recalled, 10000, 'b2 syncs the recall');
  assert.equal((await b2.conversation(g.id)).mentioned, true, 'the older mention is unread on b2');
  await offline();

  // The older one recalled too: no mention left.
  const cleared = next(bob, 'conversation', (c) => c.id === g.id && !c.mentioned);
  await alice.recall(older.id);
  await cleared;
  assert.equal((await bob.conversation(g.id)).mentioned, false);
  b2 = await clientFor(relay, 'mn-bob', { storage: indexedDBStorage({ name: db }) }, open);
  assert.equal((await b2.conversation(g.id)).mentioned, true, 'the cache predates the recall');
  await b2.connect();
  await eventually(async () => !(await b2.conversation(g.id))?.mentioned, 10000, 'the recall clears the mention on b2');
});

test('at most 32 distinct emoji on a message: the 33rd is refused with 4235 and changes nothing', async () => {
  const alice = await clientFor(relay, 'rx-alice', {}, open);
  const bob = await clientFor(relay, 'rx-bob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const conv = alice.p2p('rx-bob');
  const m = await alice.sendText(conv, 'react to this');
  const emoji = Array.from({ length: 33 }, (_, i) => String.fromCodePoint(0x1f600 + i));
  for (const e of emoji.slice(0, 32)) await alice.react(m.id, e);
  await assert.rejects(bob.react(m.id, emoji[32]), isCode(Codes.TooManyReactions));
  // A user already counted may add to an emoji the message has.
  await bob.react(m.id, emoji[0]);
  await eventually(async () => (await byId(alice, conv, m.id))?.reactions?.[emoji[0]]?.length === 2, 10000, 'bob on the first emoji');
  const r = (await byId(alice, conv, m.id)).reactions;
  assert.equal(Object.keys(r).length, 32);
  assert.equal(r[emoji[32]], undefined, 'the refused emoji is nowhere');
  assert.equal((await byId(bob, conv, m.id)).reactions[emoji[32]], undefined, 'nor on the refusing side');
});

test('offline, setConversation and readReceipts reject with 4901 and change nothing', async () => {
  const storage = savedStorage();
  let alice = await clientFor(relay, 'off-alice', { storage }, open);
  const bob = await clientFor(relay, 'off-bob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const g = await alice.createGroup('offline', ['off-bob']);
  const m = await alice.sendText(g.id, 'hi');
  await alice.close();
  open.splice(open.indexOf(alice), 1);

  alice = await clientFor(relay, 'off-alice', { storage }, open); // from the cache, not connected
  assert.equal((await alice.conversation(g.id)).id, g.id);
  await assert.rejects(alice.setConversation(g.id, { pinned: true }), isCode(Codes.NotConnected));
  await assert.rejects(alice.readReceipts(g.id, m.seq), isCode(Codes.NotConnected));
  assert.equal((await alice.conversation(g.id)).pinned, undefined, 'not pinned offline');
  await alice.connect();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await alice.conversation(g.id)).pinned, undefined, 'nor once connected');
  assert.deepEqual(await alice.readReceipts(g.id, m.seq), { read: [], unread: ['off-bob'] });
});

test('an edit made offline that the relay refuses rejects with its code, and the message shows what the relay holds', async () => {
  const storage = savedStorage();
  let alice = await clientFor(relay, 'rf-alice', { storage, deviceId: 'rf-a1' }, open);
  const alice2 = await clientFor(relay, 'rf-alice', { deviceId: 'rf-a2' }, open);
  const bob = await clientFor(relay, 'rf-bob', {}, open);
  await Promise.all([alice.connect(), alice2.connect(), bob.connect()]);
  const conv = alice.p2p('rf-bob');
  const m = await alice.sendText(conv, 'see you at 5');
  await eventually(async () => (await byId(alice2, conv, m.id)) && (await byId(bob, conv, m.id)), 10000, 'everyone has it');
  await alice.close();
  open.splice(open.indexOf(alice), 1);
  await alice2.recall(m.id); // on the other device, while this one is offline

  alice = await clientFor(relay, 'rf-alice', { storage, deviceId: 'rf-a1' }, open); // from the cache, not connected
  const edit = alice.edit(m.id, 'see you at 6');
  edit.catch(() => {});
  await eventually(async () => (await byId(alice, conv, m.id))?.text === 'see you at 6', 10000, 'the edit shows offline');
  await alice.connect();
  await assert.rejects(edit, isCode(Codes.Recalled));
  await eventually(async () => (await byId(alice, conv, m.id))?.recalled, 10000, 'the recall replaces the refused edit');
  assert.equal((await byId(alice, conv, m.id)).text, undefined);
  assert.equal((await byId(bob, conv, m.id)).text, undefined, 'nothing reached bob');
});

test('a recall takes the text, reactions and mentions of the message with it, live and on a device offline meanwhile', async () => {
  const db = `recall-all-${process.pid}`;
  const alice = await clientFor(relay, 'ra-alice', {}, open);
  const bob = await clientFor(relay, 'ra-bob', {}, open);
  let b2 = await clientFor(relay, 'ra-bob', { storage: indexedDBStorage({ name: db }) }, open);
  await Promise.all([alice.connect(), bob.connect(), b2.connect()]);
  const conv = alice.p2p('ra-bob');
  const first = await bob.sendText(conv, 'first');
  const m = await alice.send(conv, { type: 'text', text: '@bob re', replyTo: first.id, mentions: ['ra-bob'] });
  await bob.react(m.id, '👍');
  await eventually(async () => (await byId(b2, conv, m.id))?.reactions?.['👍'], 10000, 'b2 has the reaction');
  await b2.close();
  open.splice(open.indexOf(b2), 1);

  await alice.recall(m.id);
  const check = (x, who) => {
    assert.equal(x.recalled, true, who);
    assert.deepEqual([x.text, x.reactions, x.mentions], [undefined, undefined, undefined], who);
  };
  await eventually(async () => (await byId(bob, conv, m.id))?.recalled, 10000, 'bob sees the recall');
  check(await byId(bob, conv, m.id), 'bob');
  b2 = await clientFor(relay, 'ra-bob', { storage: indexedDBStorage({ name: db }) }, open);
  await b2.connect();
  await eventually(async () => (await byId(b2, conv, m.id))?.recalled, 10000, 'b2 syncs the recall');
  check(await byId(b2, conv, m.id), 'b2');
  const raw = indexedDBStorage({ name: db });
  const cached = (await raw.messages(conv, 0, 100)).find((x) => x.id === m.id);
  await raw.close();
  assert.deepEqual([cached.text, cached.reactions, cached.mentions], [undefined, undefined, undefined], 'the cache');
});

test('a device that reads the history later gets each message in its final state', async () => {
  const alice = await clientFor(relay, 'fs-alice', {}, open);
  const bob = await clientFor(relay, 'fs-bob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const conv = alice.p2p('fs-bob');
  const m1 = await alice.sendText(conv, 'draft one');
  const m2 = await alice.sendText(conv, 'gone soon');
  await alice.edit(m1.id, 'final one');
  await bob.react(m1.id, '🎉');
  await alice.recall(m2.id);

  const fresh = await clientFor(relay, 'fs-bob', {}, open); // a new device, nothing cached
  await fresh.connect();
  await fresh.waitSynced();
  const f1 = await eventually(() => byId(fresh, conv, m1.id), 10000, 'the new device has m1');
  assert.deepEqual([f1.text, f1.reactions, Boolean(f1.editedAt)], ['final one', { '🎉': ['fs-bob'] }, true]);
  const f2 = await byId(fresh, conv, m2.id);
  assert.deepEqual([f2.recalled, f2.text], [true, undefined]);
  assert.equal((await fresh.messages(conv, { limit: 100 })).length, 2, 'the events never show as messages');
});

test('a mention read on one device is no longer one on a device offline meanwhile', async () => {
  const db = `mention-read-${process.pid}`;
  const alice = await clientFor(relay, 'mr-alice', {}, open);
  const bob = await clientFor(relay, 'mr-bob', {}, open);
  let b2 = await clientFor(relay, 'mr-bob', { storage: indexedDBStorage({ name: db }) }, open);
  await Promise.all([alice.connect(), bob.connect(), b2.connect()]);
  const g = await alice.createGroup('read mentions', ['mr-bob']);
  const m = await alice.send(g.id, { type: 'text', text: '@bob', mentions: ['mr-bob'] });
  for (const c of [bob, b2]) {
    await eventually(async () => (await c.conversation(g.id))?.mentioned, 10000, 'bob is mentioned');
  }
  await b2.close();
  open.splice(open.indexOf(b2), 1);
  await bob.markRead(g.id, m.seq);
  assert.equal((await bob.conversation(g.id)).mentioned, false);

  b2 = await clientFor(relay, 'mr-bob', { storage: indexedDBStorage({ name: db }) }, open);
  assert.equal((await b2.conversation(g.id)).mentioned, true, 'the cache predates the read');
  await b2.connect();
  await eventually(async () => !(await b2.conversation(g.id))?.mentioned, 10000, 'the read reaches b2');
  assert.equal((await b2.conversation(g.id)).unread, 0);
});

test('only text messages are edited: a location is refused with 4234 and stays as it was', async () => {
  const alice = await clientFor(relay, 'ne-alice', {}, open);
  const bob = await clientFor(relay, 'ne-bob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const conv = alice.p2p('ne-bob');
  const body = { lat: 52.52, lng: 13.405, title: 'here' };
  const m = await alice.send(conv, { type: 'location', body });
  // The edit shows at once; the refusal fetches the message again, and a
  // messageUpdate shows it as the relay holds it.
  const restored = next(alice, 'messageUpdate', (x) => x.id === m.id && x.text === undefined);
  await assert.rejects(alice.edit(m.id, 'there'), isCode(Codes.NotEditable));
  await restored;
  await eventually(async () => (await byId(bob, conv, m.id)), 10000, 'bob has it');
  for (const c of [alice, bob]) {
    const x = await byId(c, conv, m.id);
    assert.deepEqual([x.body, x.text, x.editedAt], [body, undefined, undefined]);
  }
});
