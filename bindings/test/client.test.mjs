// The built package (dist) against a real relay process, from Node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient, Codes, ParleyError } from '@parley-im/sdk';
import { createHmac } from 'node:crypto';
import { clientFor, closeAll, eventually, next, Relay, startRelay } from './helpers.mjs';
import { SECRET } from './support/relay.mjs';

// mintToken signs claims with the suite relay's secret, as an application
// server would (HS256, RFC 7519), for tokens the relay's CLI does not mint.
function mintToken(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
}

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
  assert.ok(e instanceof Error);
  if (Array.isArray(code)) assert.ok(code.includes(e.code), `code ${e.code} not in ${code}`);
  else assert.equal(e.code, code);
  return true;
};

describe('chat between two Node clients', () => {
  test('order, unread, and markRead on one device clears it on the other', async () => {
    const alice1 = await clientFor(relay, 'alice', {}, open);
    const alice2 = await clientFor(relay, 'alice', {}, open);
    const bob = await clientFor(relay, 'bob', {}, open);
    await Promise.all([alice1.connect(), alice2.connect(), bob.connect()]);
    assert.equal(alice1.state, 'connected');
    assert.equal(alice1.userId, 'alice');
    assert.notEqual(alice1.deviceId, alice2.deviceId, 'each client is its own device');

    const conv = bob.p2p('alice');
    assert.equal(conv, 'p:alice:bob');
    assert.equal(alice1.p2p('bob'), conv, 'both sides compute the same id');

    const got = [];
    alice1.on('message', (m) => got.push(m));
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const sent = await Promise.all(texts.map((t) => bob.sendText(conv, t)));
    assert.deepEqual(sent.map((m) => m.text), texts);
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5], 'seqs follow send order');
    for (const m of sent) {
      assert.equal(m.status, 'sent');
      assert.equal(m.sender, 'bob');
      assert.equal(m.conversationId, conv);
      assert.equal(m.id, `${conv}#${m.seq}`);
      assert.equal(typeof m.clientId, 'string');
      assert.equal(typeof m.createdAt, 'number');
    }

    await eventually(() => got.length === 5, 10000, 'five messages on alice1');
    assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(got.map((m) => m.text), texts);

    await alice1.waitSynced();
    const [c] = (await alice1.conversations()).filter((x) => x.id === conv);
    assert.equal(c.type, 'p2p');
    assert.deepEqual([c.lastSeq, c.readSeq, c.unread], [5, 0, 5]);
    assert.equal(c.lastMessage.text, 'five');
    assert.deepEqual([...c.members].sort(), ['alice', 'bob']);
    assert.equal('syncedSeq' in c || 'version' in c, false, 'internals stay inside');

    const page = await alice1.messages(conv, { limit: 3 });
    assert.deepEqual(page.map((m) => m.seq), [3, 4, 5]);
    const older = await alice1.messages(conv, { beforeSeq: 3, limit: 10 });
    assert.deepEqual(older.map((m) => m.text), ['one', 'two']);

    // alice2 sees the same unread count, then alice1 reads everything.
    await eventually(async () => (await alice2.conversations()).find((x) => x.id === conv)?.unread === 5, 10000, 'alice2 unread 5');
    const cleared = next(alice2, 'conversation', (x) => x.id === conv && x.unread === 0);
    await alice1.markRead(conv);
    const mine = (await alice1.conversations()).find((x) => x.id === conv);
    assert.deepEqual([mine.readSeq, mine.unread], [5, 0], 'markRead applies locally at once');
    const theirs = await cleared;
    assert.equal(theirs.readSeq, 5);

    // Sending from alice2 reaches bob and alice1 (own other device) in order.
    const fromAlice = next(bob, 'message', (m) => m.sender === 'alice');
    const echoed = next(alice1, 'message', (m) => m.sender === 'alice');
    const reply = await alice2.sendText(conv, 'got them');
    assert.equal(reply.seq, 6);
    assert.equal((await fromAlice).text, 'got them');
    assert.equal((await echoed).seq, 6);
  });

  test('markRead with a seq moves the cursor only that far', async () => {
    const carol = await clientFor(relay, 'carol', {}, open);
    const dave = await clientFor(relay, 'dave', {}, open);
    await Promise.all([carol.connect(), dave.connect()]);
    const conv = dave.p2p('carol');
    for (const t of ['a', 'b', 'c']) await dave.sendText(conv, t);
    await eventually(async () => (await carol.conversations()).find((x) => x.id === conv)?.lastSeq === 3, 10000, 'carol has 3');
    await carol.markRead(conv, 2);
    const c = (await carol.conversations()).find((x) => x.id === conv);
    assert.deepEqual([c.readSeq, c.unread], [2, 1]);
  });
});

describe('message bodies', () => {
  test('custom bodies round-trip as JSON; raw bytes come back as bytes', async () => {
    const erin = await clientFor(relay, 'erin', {}, open);
    const frank = await clientFor(relay, 'frank', {}, open);
    await Promise.all([erin.connect(), frank.connect()]);
    const conv = erin.p2p('frank');
    const bodies = [
      { kind: 'card', title: 'Café ☕ 東京', n: 42, nested: { ok: true, list: [1, 'two', null] } },
      'just a string',
      12.5,
      [1, 2, 3],
      null,
      false,
    ];
    const received = [];
    frank.on('message', (m) => received.push(m));
    for (const body of bodies) {
      const m = await erin.send(conv, { type: 'custom', body });
      assert.equal(m.type, 'custom');
      assert.deepEqual(m.body, body, 'the ack carries the parsed body');
    }
    const raw = new Uint8Array([0xff, 0x00, 0xfe, 0x80]); // not UTF-8
    const rawSent = await erin.send(conv, { type: 'custom', body: raw });
    assert.ok(rawSent.body instanceof Uint8Array);
    assert.deepEqual([...rawSent.body], [...raw]);

    await eventually(() => received.length === bodies.length + 1, 10000, 'every body on frank');
    assert.deepEqual(received.slice(0, bodies.length).map((m) => m.body), bodies);
    assert.deepEqual([...received.at(-1).body], [...raw]);
    const history = await frank.messages(conv);
    assert.deepEqual(history.slice(0, bodies.length).map((m) => m.body), bodies);
  });

  test('a body that is not JSON-serialisable is refused before sending', async () => {
    const erin = await clientFor(relay, 'erin', {}, open);
    await erin.connect();
    const cyclic = {};
    cyclic.self = cyclic;
    await assert.rejects(erin.send(erin.p2p('frank'), { type: 'custom', body: cyclic }), isParley(Codes.InvalidArgument));
    await assert.rejects(erin.send(erin.p2p('frank'), { type: 'custom', body: 10n }), isParley(Codes.InvalidArgument));
    await assert.rejects(erin.send(erin.p2p('frank'), { body: 1 }), isParley(Codes.InvalidArgument));
  });
});

describe('errors', () => {
  test('a send to a conversation the user is not in rejects with 4203/4204', async () => {
    const mallory = await clientFor(relay, 'mallory', {}, open);
    await mallory.connect();
    // A p2p conversation without this user: refused on the device, nothing queued.
    await assert.rejects(mallory.sendText('p:bob:carol', 'let me in'), (e) => {
      isParley(Codes.Forbidden)(e);
      assert.equal(e.retryable, false);
      assert.equal(e.terminal, false);
      assert.match(e.message, /^parley: 4203 forbidden/);
      return true;
    });
    // A group the relay refuses: the message fails, with its code, and
    // nothing stays behind (no outbox entry, no conversation).
    const failed = next(mallory, 'messageUpdate', (m) => m.status === 'failed');
    let err;
    await assert.rejects(mallory.sendText('g:not-mine', 'hi'), (e) => {
      err = e;
      return isParley([Codes.Forbidden, Codes.NotFound])(e);
    });
    assert.equal(err.retryable, false);
    const m = await failed;
    assert.equal(m.errorCode, err.code);
    assert.equal(m.conversationId, 'g:not-mine');
    assert.equal(m.seq, 0);
    assert.deepEqual(await mallory.messages('g:not-mine').catch(() => []), []);
    assert.ok((await mallory.conversations()).every((c) => c.id !== 'g:not-mine'), 'a phantom conversation stayed');
    assert.equal(await mallory.conversation('g:not-mine'), undefined);
    await assert.rejects(mallory.discard(m.clientId), isParley(Codes.InvalidArgument));
    // Unknown message types and empty texts are refused before sending.
    await assert.rejects(mallory.send('g:not-mine', { type: 'blob' }), isParley(Codes.InvalidArgument));
    await assert.rejects(mallory.sendText(mallory.p2p('bob'), ''), isParley(Codes.InvalidArgument));
  });

  test('a bad token: connect rejects with 4001, the state is disconnected, kicked fires', async () => {
    const eve = await createClient({ url: relay.ws, token: 'not-a-jwt', storage: 'memory', logLevel: 'silent' });
    open.push(eve);
    const states = [];
    eve.on('state', (s) => states.push(s));
    const kicked = next(eve, 'kicked');
    await assert.rejects(eve.connect(), isParley(Codes.Unauthorized));
    const k = await kicked;
    assert.equal(k.code, Codes.Unauthorized);
    assert.equal(typeof k.reason, 'string');
    assert.equal(eve.state, 'disconnected');
    await eventually(() => states.some((s) => s.state === 'disconnected' && s.code === Codes.Unauthorized), 5000, 'disconnected state');
    assert.equal(eve.userId, '');
  });

  test('p2p before the first connect uses the user the token names; without one it throws 4903', async () => {
    const c = await createClient({ url: relay.ws, token: relay.token('zoe'), storage: 'memory' });
    open.push(c);
    assert.equal(c.p2p('bob'), 'p:bob:zoe');
    // A token function is only called on dial: nothing is known before.
    const f = await createClient({ url: relay.ws, token: async () => relay.token('yan'), storage: 'memory' });
    open.push(f);
    assert.throws(() => f.p2p('bob'), isParley(Codes.InvalidArgument));
    // A string that is no JWT names nobody.
    const n = await createClient({ url: relay.ws, token: 'not-a-jwt', storage: 'memory' });
    open.push(n);
    assert.throws(() => n.p2p('bob'), isParley(Codes.InvalidArgument));
    await c.connect();
    assert.equal(c.p2p('bob'), 'p:bob:zoe');
    assert.throws(() => c.p2p(''), isParley(Codes.InvalidArgument));
  });

  test('bad options reject with 4903', async () => {
    await assert.rejects(createClient({ token: 't' }), isParley(Codes.InvalidArgument));
    await assert.rejects(createClient({ url: relay.ws }), isParley(Codes.InvalidArgument));
    await assert.rejects(createClient({ url: relay.ws, token: 't', storage: 'sqlite' }), isParley(Codes.InvalidArgument));
    await assert.rejects(createClient({ url: relay.ws, token: 't', heartbeatMs: -1 }), isParley(Codes.InvalidArgument));
    await assert.rejects(createClient({ url: relay.ws, token: 't', deviceId: 'has space' }), isParley(Codes.InvalidArgument));
    await assert.rejects(createClient({ url: 'ftp://example.com', token: 't', storage: 'memory' }), isParley(Codes.InvalidArgument));
  });

  test('after close: state closed, calls reject with 4900, close is idempotent', async () => {
    const c = await clientFor(relay, 'yann', {}, open);
    await c.connect();
    const device = c.deviceId;
    await Promise.all([c.close(), c.close()]);
    assert.equal(c.state, 'closed');
    assert.equal(c.userId, 'yann', 'identity stays readable');
    assert.equal(c.deviceId, device);
    await assert.rejects(c.sendText('p:bob:yann', 'x'), isParley(Codes.ClientClosed));
    await assert.rejects(c.conversations(), isParley(Codes.ClientClosed));
    await assert.rejects(c.connect(), isParley(Codes.ClientClosed));
    c.reconnect(); // a no-op, not a throw
  });
});

describe('tokens and events', () => {
  test('a token function is called for every dial, also after an expired token', async () => {
    let calls = 0;
    // The first token expired two minutes ago, beyond the relay's 30 s
    // leeway; the relay closes with 4002 and, because the token is a
    // function, the client asks again instead of giving up.
    const now = Math.floor(Date.now() / 1000);
    const expired = mintToken({ sub: 'gina', iat: now - 3600, exp: now - 120 });
    const c = await clientFor(relay, 'gina', {
      token: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        return calls === 1 ? expired : relay.token('gina');
      },
    }, open);
    const states = [];
    c.on('state', (s) => states.push(s.state));
    await c.connect();
    assert.equal(c.userId, 'gina');
    assert.ok(calls >= 2, `token function called ${calls} times`);
    assert.ok(states.includes('connected'));
    assert.ok(states.includes('reconnecting'), `states ${states}: the expired token was not refused`);
  });

  test('a token function renews the session in-band before each token expires: one session throughout', async () => {
    // A relay without clock-skew leeway closes a session (4110) the moment
    // its token expires; 6 s tokens over 15 s need two renewals.
    const strict = await new Relay({ extra: ['--token-leeway', '0s'] }).start();
    try {
      let calls = 0;
      const c = await clientFor(strict, 'renata', {
        token: () => {
          calls++;
          const now = Math.floor(Date.now() / 1000);
          return mintToken({ sub: 'renata', iat: now, exp: now + 6 });
        },
      }, open);
      const states = [];
      c.on('state', (s) => states.push(s.state));
      await c.connect();
      const conv = c.p2p('rudi');
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 3000));
        assert.equal((await c.sendText(conv, `still here ${i}`)).status, 'sent');
      }
      assert.ok(calls >= 3, `token function called ${calls} times in 15 s of 6 s tokens: no renewal`);
      assert.deepEqual(states.filter((s) => s !== 'connecting' && s !== 'connected'), [], `states ${states}: the session did not last`);
      await c.close();
    } finally {
      await strict.stop();
    }
  });

  test('handler exceptions never break the SDK or other handlers; unsubscribe works', async () => {
    const logged = [];
    const hal = await clientFor(relay, 'hal', { logger: (level, msg) => logged.push([level, msg]), logLevel: 'error' }, open);
    const ivy = await clientFor(relay, 'ivy', {}, open);
    await Promise.all([hal.connect(), ivy.connect()]);
    const seen = [];
    hal.on('message', () => {
      throw new Error('boom');
    });
    const off = hal.on('message', (m) => seen.push(['removed', m.text]));
    hal.on('message', (m) => seen.push(['kept', m.text]));
    off();
    const conv = ivy.p2p('hal');
    await ivy.sendText(conv, 'first');
    await ivy.sendText(conv, 'second');
    await eventually(() => seen.length === 2, 10000, 'two messages');
    assert.deepEqual(seen, [['kept', 'first'], ['kept', 'second']]);
    assert.ok(logged.some(([level, msg]) => level === 'error' && msg.includes('boom')), 'the exception is logged');
    // The client still works.
    const back = await hal.sendText(conv, 'still here');
    assert.equal(back.status, 'sent');
  });

  test('createGroup, then group messages reach every member', async () => {
    const [jon, kim, lea] = await Promise.all(['jon', 'kim', 'lea'].map((u) => clientFor(relay, u, {}, open)));
    await Promise.all([jon, kim, lea].map((c) => c.connect()));
    // The group's first message is its creation, then jon's. kim may get the
    // creation before createGroup resolves at jon's: listen first.
    const createdAtKim = next(kim, 'message', (m) => m.conversationId === 'g:jon.design-js' && m.type === 'system');
    const g = await jon.createGroup('Design', ['kim', 'lea'], { id: 'g:jon.design-js' });
    assert.equal(g.id, 'g:jon.design-js');
    assert.equal(g.type, 'group');
    assert.equal(g.name, 'Design');
    assert.deepEqual([...g.members].sort(), ['jon', 'kim', 'lea']);
    const atKim = next(kim, 'message', (m) => m.conversationId === g.id && m.type === 'text');
    const atLea = next(lea, 'message', (m) => m.conversationId === g.id && m.type === 'text');
    await jon.sendText(g.id, 'kickoff at 10');
    const created = await createdAtKim;
    assert.deepEqual([created.seq, created.body.event, created.body.by], [1, 'created', 'jon']);
    assert.equal((await atKim).text, 'kickoff at 10');
    assert.equal((await atLea).sender, 'jon');
    // The same id again is idempotent.
    const again = await jon.createGroup('Design', ['kim', 'lea'], { id: 'g:jon.design-js' });
    assert.equal(again.id, g.id);
    // Another user cannot take an id in jon's namespace (4258), nor use a
    // bidi override in a name (4256).
    await assert.rejects(kim.createGroup('Squat', ['jon'], { id: 'g:jon.next' }), (e) => e.code === 4258);
    await assert.rejects(kim.createGroup('evil\u202egnp.exe', ['jon']), (e) => e.code === 4256);
  });
});

describe('search', () => {
  test('finds synced, sent and pending messages, newest first, paged; bad arguments reject with 4903', async () => {
    const alice = await clientFor(relay, 'searchalice', {}, open);
    const bob = await clientFor(relay, 'searchbob', {}, open);
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = alice.p2p('searchbob');
    const group = (await alice.createGroup('search team', ['searchbob'])).id;
    for (const [c, t] of [[conv, 'Kein Ärger heute'], [group, 'ÄRGER im Büro'], [conv, '我们明天开会吧'], [group, '开会了'], [conv, 'nothing']]) {
      await alice.sendText(c, t);
    }
    // alice's sends resolve on her acks; each reaches bob by its own push,
    // which can still be on its way when bob has nothing left to sync. Wait
    // until all five are on bob's device.
    const texts = async (c, text, o) => (await c.search(text, o)).map((m) => m.text);
    const all5 = async () => (await Promise.all(['heute', 'Büro', '明天', '了', 'nothing'].map((t) => texts(bob, t)))).every((f) => f.length === 1);
    await eventually(all5, 10000, "alice's five messages on bob's device");
    assert.deepEqual(await texts(bob, 'ärger'), ['ÄRGER im Büro', 'Kein Ärger heute']);
    assert.deepEqual(await texts(bob, ' ÄRGER ', { conversationId: conv }), ['Kein Ärger heute']);
    assert.deepEqual(await texts(bob, '开会'), ['开会了', '我们明天开会吧']);
    assert.deepEqual(await texts(bob, 'qqq'), []);

    // Paging: the last message of a page is the cursor of the next.
    const first = await bob.search('e', { limit: 2 });
    const second = await bob.search('e', { limit: 2, before: first.at(-1) });
    const all = await bob.search('e');
    assert.deepEqual([...first, ...second].map((m) => m.id), all.slice(0, 4).map((m) => m.id));

    // What waits in the outbox is found too, first (it is the newest).
    const pending = bob.sendText(conv, 'ärgerlich');
    const found = await bob.search('ÄRGER');
    assert.equal(found[0].text, 'ärgerlich');
    assert.ok(['pending', 'sent'].includes(found[0].status));
    await pending;

    for (const [text, o] of [['', undefined], ['   ', undefined], ['x'.repeat(257), undefined], [42, undefined], ['x', { limit: 101 }],
      ['x', { limit: -1 }], ['x', { limit: 1.5 }], ['x', { conversationId: 'nope' }], ['x', { conversationId: 7 }], ['x', { before: 'p:a:b#1' }],
      ['x', { before: { createdAt: 1, seq: 1 } }], ['x', null]]) {
      await assert.rejects(bob.search(text, o), isParley(Codes.InvalidArgument), `search(${JSON.stringify(text)}, ${JSON.stringify(o)})`);
    }
  });

  // The client goes on while a batch is written and starts the next before
  // the previous settled; an adapter of the app's own still gets them one at
  // a time, in order.
  test('a storage adapter of your own gets one apply() at a time, in order', async () => {
    let inFlight = 0;
    let most = 0;
    const order = [];
    const outbox = new Map();
    const store = {
      load: async () => null,
      apply: async (b) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        for (const e of b.outboxPut ?? []) outbox.set(e.message.clientId, e);
        for (const id of b.outboxDelete ?? []) {
          assert.ok(outbox.has(id), 'an outbox entry is deleted after it was put');
          outbox.delete(id);
        }
        for (const m of b.messages ?? []) order.push(m.seq);
        inFlight--;
      },
      messages: async () => [],
      close: async () => {},
    };
    const c = await clientFor(relay, 'ownstore', { storage: store }, open);
    await c.connect();
    const conv = c.p2p('ownpeer');
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.sendText(conv, `m${i}`)));
    await c.waitSynced();
    assert.equal(most, 1, 'apply() calls overlapped');
    assert.equal(outbox.size, 0);
    assert.deepEqual(order.filter((s, i) => order.indexOf(s) === i), Array.from({ length: 20 }, (_, i) => i + 1));
  });

  test('a storage adapter without search rejects with 4215', async () => {
    const store = { load: async () => null, apply: async () => {}, messages: async () => new Uint8Array([0x5b, 0x5d]), close: async () => {} };
    const c = await clientFor(relay, 'searchnobody', { storage: store }, open);
    await assert.rejects(c.search('x'), isParley(Codes.NotSupported));
  });
});

describe('Node processes', () => {
  // The SDK keeps nothing alive after close(): a script ends by itself.
  test('a script exits soon after its last client closes', async () => {
    const script = fileURLToPath(new URL('./fixtures/exit-after-close.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, relay.ws, relay.token('exit-test')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.once('exit', () => resolve(Date.now())));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    const end = await exited;
    clearTimeout(killer);
    const closed = Number(/closed (\d+)/.exec(out)?.[1]);
    assert.ok(closed > 0, `the script closed its client: ${out}`);
    assert.ok(end - closed < 3000, `exited ${end - closed} ms after close()`);
  });
});

describe('typing', () => {
  test('reaches the other members at once, throttled, never stored', async (t) => {
    const alice = await clientFor(relay, 'typist-a', {}, open);
    const alice2 = await clientFor(relay, 'typist-a', {}, open);
    const bob = await clientFor(relay, 'typist-b', {}, open);
    const carol = await clientFor(relay, 'typist-c', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), bob.connect(), carol.connect()]);
    const conv = alice.p2p('typist-b');
    const seen = { bob: [], alice2: [], carol: [] };
    bob.on('typing', (e) => seen.bob.push({ ...e, at: Date.now() }));
    alice2.on('typing', (e) => seen.alice2.push(e));
    carol.on('typing', (e) => seen.carol.push(e));

    // Every key press of a word: one frame reaches bob, at once.
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) alice.typing(conv);
    await eventually(() => seen.bob.length === 1, 5000, 'bob sees alice typing');
    assert.deepEqual({ conversationId: seen.bob[0].conversationId, user: seen.bob[0].user }, { conversationId: conv, user: 'typist-a' });
    // Measured, not a benchmark: the bound is loose for a loaded machine
    // (about 5 ms here when quiet; the latency is printed).
    const latency = seen.bob[0].at - t0;
    t.diagnostic(`typing arrived after ${latency} ms`);
    assert.ok(latency < 1000, `typing took ${latency} ms to arrive`);

    // A group: every other member, never the typist's own devices.
    const g = await bob.createGroup('typists', ['typist-a', 'typist-c']);
    await eventually(async () => (await carol.conversations()).some((c) => c.id === g.id), 5000, 'carol has the group');
    bob.typing(g.id);
    await eventually(() => seen.carol.length === 1, 5000, 'carol sees bob typing');
    assert.deepEqual(seen.carol[0], { conversationId: g.id, user: 'typist-b' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seen.bob.length, 1, 'more than one typing frame for ten key presses, or the typist saw their own');
    assert.ok(seen.alice2.some((e) => e.user === 'typist-b'), "alice's other device sees bob in the group");
    assert.ok(!seen.alice2.some((e) => e.user === 'typist-a'), "alice's other device never sees alice");

    // Never stored: nothing in the conversation, nothing unread.
    assert.deepEqual(await bob.messages(conv), []);
    // Invalid input throws at once, with its code.
    assert.throws(() => alice.typing(''), isParley(Codes.InvalidArgument));
    assert.throws(() => alice.typing('not a conversation'), isParley(Codes.InvalidArgument));
  });
});
