// The bridge protocol in Node, against a page written out here message by
// message (the wire format, not the package's encoder), so each test decides
// what the page says and when: replies out of order, replies nobody asked
// for, other versions, garbage, restarts, background.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@parley-im/react-native/bridge';
import { ParleyError } from '@parley-im/sdk';
import { encodeValue, decodeValue, sendKey } from '../dist/esm/protocol.js';
import { pipe, tick, until } from './support/pipe.mjs';

const METHODS = ['connect', 'reconnect', 'on', 'p2p', 'sendText', 'send', 'resend', 'discard', 'conversations', 'messages', 'search', 'markRead', 'typing', 'createGroup', 'waitSynced', 'close'];
const GETTERS = ['state', 'userId', 'deviceId'];

/** A page that answers hello and open, and leaves every call to the test. */
class Page {
  constructor(end, { versions = [1], boot = 'boot-1', methods = METHODS } = {}) {
    this.end = end;
    this.versions = versions;
    this.boot = boot;
    this.methods = methods;
    this.got = [];
    this.calls = [];
    this.off = end.onMessage((data) => this.#receive(data));
  }

  post(msg) {
    this.end.post(JSON.stringify({ parley: 'rn', v: 1, ...msg }));
  }

  ready() {
    this.end.post(JSON.stringify({ parley: 'rn', v: 1, t: 'ready', vs: this.versions, boot: this.boot }));
  }

  #receive(data) {
    assert.equal(typeof data, 'string');
    const m = JSON.parse(data);
    this.got.push(m);
    if (m.t === 'hello') this.ready();
    else if (m.t === 'open') this.post({ t: 'result', id: m.id, ok: true, r: { methods: this.methods, getters: GETTERS }, s: { state: 'idle', userId: '', deviceId: 'dev-1' } });
    else if (m.t === 'call') this.calls.push(m);
  }

  /** The next call of method m (waits for it). */
  async call(m) {
    await until(() => this.calls.some((c) => c.m === m), { what: `a call of ${m}` });
    const i = this.calls.findIndex((c) => c.m === m);
    return this.calls.splice(i, 1)[0];
  }

  reply(call, r, s) {
    this.post({ t: 'result', id: call.id, ok: true, r: encodeValue(r), ...(s ? { s } : {}) });
  }

  fail(call, code, message) {
    this.post({ t: 'result', id: call.id, ok: false, e: { code, message } });
  }

  event(ev, p, s) {
    this.post({ t: 'event', c: 1, ev, p: encodeValue(p), ...(s ? { s } : {}) });
  }

  /** A page that went away: it hears nothing more. */
  kill() {
    this.off();
  }
}

async function setup(opts = {}) {
  const { rn, page: end, state } = pipe();
  const page = new Page(end, opts);
  const logs = [];
  const env = { transport: rn, logger: (level, message) => logs.push([level, message]), ...(opts.env ?? {}) };
  const client = await createClient({ url: 'ws://relay.invalid/v1/ws', token: 't' }, env);
  return { client, page, end, rn, state, logs, env };
}

test('replies out of order settle the calls they answer', async () => {
  const { client, page } = await setup();
  const a = client.conversations();
  const b = client.messages('p:a:b', { limit: 5 });
  const c = client.search('hi');
  const [ca, cb, cc] = [await page.call('conversations'), await page.call('messages'), await page.call('search')];
  assert.deepEqual(decodeValue(cb.a), ['p:a:b', { limit: 5 }], 'arguments cross as they were');
  page.reply(cc, ['search']);
  page.reply(ca, ['conversations']);
  page.reply(cb, ['messages']);
  assert.deepEqual(await Promise.all([a, b, c]), [['conversations'], ['messages'], ['search']]);
});

test('a reply nobody waits for is ignored, and the bridge goes on', async () => {
  const { client, page, logs } = await setup();
  const p = client.conversations();
  const call = await page.call('conversations');
  page.post({ t: 'result', id: 987654, ok: true, r: 'stray' });
  page.reply(call, ['first']);
  page.reply(call, ['again']); // a second reply to a settled call
  assert.deepEqual(await p, ['first']);
  const q = client.conversations();
  page.reply(await page.call('conversations'), ['next']);
  assert.deepEqual(await q, ['next']);
  await until(() => logs.filter(([, m]) => /nobody waits/.test(m)).length === 2, { what: 'two ignored replies logged' });
});

test('a page of another bridge version: createClient rejects with 4005, terminal', async () => {
  const { rn, page: end } = pipe();
  new Page(end, { versions: [2] });
  const err = await createClient({ url: 'ws://x/v1/ws', token: 't' }, { transport: rn }).then(() => null, (e) => e);
  assert.ok(err instanceof ParleyError, `a ParleyError of @parley-im/sdk, got ${err}`);
  assert.equal(err.code, 4005);
  assert.equal(err.terminal, true);
  assert.match(err.message, /speaks bridge version 2/);

  // A page that speaks 1 and 2 is spoken to in 1.
  const two = pipe();
  const p2 = new Page(two.page, { versions: [1, 2] });
  await createClient({ url: 'ws://x/v1/ws', token: 't' }, { transport: two.rn });
  assert.ok(p2.got.filter((m) => m.t !== 'hello').every((m) => m.v === 1));
});

test('strings that are not bridge messages are ignored; the traffic around them is not', async () => {
  const { client, page, end, logs } = await setup();
  const got = [];
  client.on('message', (m) => got.push(m.seq));
  const garbage = [
    'hello', '{', '[]', 'null', '42', '{"parley":"rn"}', '{"parley":"other","v":1,"t":"event","c":1,"ev":"message","p":{}}',
    '{"parley":"rn","v":"1","t":"event","c":1,"ev":"message","p":{}}', '{"parley":"rn","v":1,"t":"result","ok":true}',
    '{"parley":"rn","v":1,"t":"result","id":-1,"ok":true}', '{"parley":"rn","v":1,"t":"result","id":1,"ok":false,"e":"boom"}',
    '{"parley":"rn","v":1,"t":"event","c":1,"ev":7,"p":{}}', '{"parley":"rn","v":1,"t":"accepted","id":1}',
    '{"parley":"rn","v":9,"t":"event","c":1,"ev":"message","p":{"seq":99}}', '{"parley":"rn","v":1,"t":"nonsense"}',
    '\u0000\uffff', 'x'.repeat(200000),
  ];
  for (let i = 0; i < garbage.length; i++) {
    end.raw(garbage[i]);
    page.event('message', { seq: i + 1 });
  }
  end.raw(12345); // not even a string
  end.raw(undefined);
  const p = client.conversations();
  page.reply(await page.call('conversations'), []);
  await p;
  await until(() => got.length === garbage.length, { what: 'every real event' });
  assert.deepEqual(got, garbage.map((_, i) => i + 1), 'real events in order, none invented');
  assert.ok(logs.filter(([l]) => l === 'debug').length >= garbage.length, 'each ignored string is logged');
});

test('errors from the page are ParleyErrors with their code', async () => {
  const { client, page } = await setup();
  const p = client.sendText('p:a:b', 'hi');
  page.fail(await page.call('sendText'), 4203, 'parley: 4203 forbidden: not a member');
  const err = await p.then(() => null, (e) => e);
  assert.ok(err instanceof ParleyError);
  assert.equal(err.code, 4203);
  assert.equal(err.retryable, false);
  assert.equal(err.message, 'parley: 4203 forbidden: not a member');
});

test('events arrive in order with their values intact; getters follow the page', async () => {
  const { client, page } = await setup();
  const seen = [];
  client.on('message', (m) => seen.push(m));
  assert.throws(() => client.p2p('bob'), (e) => e instanceof ParleyError && e.code === 4903, 'no user id yet');
  const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
  for (let i = 1; i <= 200; i++) {
    page.event('message', { seq: i, body: i === 7 ? bytes : i === 8 ? { $b: 'not a tag', $o: 1 } : undefined }, i === 200 ? { state: 'connected', userId: 'carol' } : undefined);
  }
  await until(() => seen.length === 200, { what: '200 events' });
  assert.deepEqual(seen.map((m) => m.seq), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.deepEqual(seen[6].body, bytes);
  assert.deepEqual(seen[7].body, { $b: 'not a tag', $o: 1 });
  assert.equal(client.state, 'connected');
  assert.equal(client.userId, 'carol');
  assert.equal(client.deviceId, 'dev-1');
  assert.equal(client.p2p('bob'), 'p:bob:carol');
  assert.equal(client.p2p('dave'), 'p:carol:dave');
});

test('values the client API needs cross the JSON bridge', () => {
  const cases = [
    ['p:a:b', { type: 'custom', body: new Uint8Array([1, 2, 3]) }],
    [undefined, 'x', undefined],
    { nested: { $u: 1, list: [undefined, null, 0, ''] } },
    { $o: { $b: 'x' } },
    'ünïcødé 😀',
  ];
  for (const v of cases) {
    const wire = JSON.parse(JSON.stringify(encodeValue(v)));
    assert.deepEqual(decodeValue(wire), v);
  }
  assert.deepEqual(decodeValue(encodeValue(new Uint8Array(300).fill(7).buffer)), new Uint8Array(300).fill(7));
  // The page and React Native name a send the same way, bytes or JSON.
  assert.equal(sendKey('c', 'custom', undefined, new Uint8Array([123, 125])), sendKey('c', 'custom', '', {}));
  assert.notEqual(sendKey('c', 'text', 'a', undefined), sendKey('c', 'text', 'b', undefined));
});

test('options the page cannot take are refused before anything is sent', async () => {
  const { rn } = pipe();
  for (const bad of [{ WebSocket: class {} }, { instantiate: () => {} }, { storage: { load() {} } }, { wasmUrl: new Uint8Array(1) }, { token: 5 }]) {
    const err = await createClient({ url: 'ws://x/v1/ws', token: 't', ...bad }, { transport: rn }).then(() => null, (e) => e);
    assert.ok(err instanceof ParleyError && err.code === 4903, `${Object.keys(bad)}: ${err}`);
  }
  const err = await createClient({ url: 'ws://x/v1/ws', token: 't' }, { transport: {} }).then(() => null, (e) => e);
  assert.equal(err.code, 4903);
});

test('no page at all: createClient gives up with 4902 after hostTimeoutMs', async () => {
  const { rn } = pipe();
  const t0 = Date.now();
  const err = await createClient({ url: 'ws://x/v1/ws', token: 't' }, { transport: rn, hostTimeoutMs: 200 }).then(() => null, (e) => e);
  assert.equal(err?.code, 4902);
  assert.ok(Date.now() - t0 >= 190);
});

test('a restart of the page: reads replayed, sends recovered by clientId, others rejected as retryable', async () => {
  const { client, page, end } = await setup({ methods: [...METHODS, 'futureThing'] });
  const connected = client.connect();
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  await connected;
  const states = [];
  client.on('state', (s) => states.push(s.state));

  const list = client.conversations();
  const sent = client.sendText('p:alice:bob', 'in flight');
  const future = client.futureThing(1);
  const sendCall = await page.call('sendText');
  page.post({ t: 'accepted', id: sendCall.id, clientId: 'cid-1' });
  await page.call('conversations');
  await page.call('futureThing');
  await tick(5);

  // The old page dies; a new one loads and says ready.
  page.kill();
  const next = new Page(end, { boot: 'boot-2', methods: [...METHODS, 'futureThing'] });
  next.ready();

  await until(() => next.got.some((m) => m.t === 'open'), { what: 'the client reopened' });
  const open = next.got.find((m) => m.t === 'open');
  assert.ok(open.ev.includes('state'), 'the subscriptions come along');
  const reconnect = await next.call('connect');
  const recover = await next.call('$recoverSend');
  const [m, args, meta] = recover.a;
  assert.equal(m, 'sendText');
  assert.deepEqual(decodeValue(args), ['p:alice:bob', 'in flight']);
  assert.equal(meta.clientId, 'cid-1', 'the send is found by the clientId the old page reported');
  next.reply(recover, { clientId: 'cid-1', seq: 1, status: 'sent' });
  // Calls are settled in the order they were made: the unknown one after the send.
  const err = await future.then(() => null, (e) => e);
  assert.ok(err instanceof ParleyError && err.code === 4300 && err.retryable, `the unknown call: ${err}`);
  const replay = await next.call('conversations');
  next.reply(replay, ['again']);
  next.reply(reconnect, undefined, { state: 'connected', userId: 'alice' });
  assert.deepEqual(await list, ['again']);
  assert.equal((await sent).clientId, 'cid-1');
  assert.ok(states.includes('reconnecting'), `states: ${states}`);
  // Calls go to the new page from now on.
  const after = client.waitSynced();
  next.reply(await next.call('waitSynced'), undefined);
  await after;
});

test('sends interrupted without a clientId are recovered one by one, in order, each excluding the others', async () => {
  const { client, page, end } = await setup();
  const c = client.connect();
  page.reply(await page.call('connect'), undefined, { userId: 'alice' });
  await c;
  const done = client.sendText('p:alice:bob', 'done first');
  page.reply(await page.call('sendText'), { clientId: 'cid-done', status: 'sent' });
  await done;
  const a = client.sendText('p:alice:bob', 'same');
  const b = client.sendText('p:alice:bob', 'same');
  await until(() => page.calls.filter((x) => x.m === 'sendText').length === 2, { what: 'two sends' });
  page.kill();
  const next = new Page(end, { boot: 'boot-2' });
  next.ready();
  const ra = await next.call('$recoverSend');
  assert.equal(ra.a[2].clientId, undefined);
  assert.deepEqual(ra.a[2].exclude, ['cid-done'], 'a send that completed is never another');
  await tick(20);
  assert.equal(next.calls.filter((x) => x.m === '$recoverSend').length, 0, 'the second waits for the first to be tied to an entry');
  next.post({ t: 'accepted', id: ra.id, clientId: 'cid-a' });
  const rb = await next.call('$recoverSend');
  assert.deepEqual(rb.a[2].exclude.sort(), ['cid-a', 'cid-done']);
  next.reply(rb, { clientId: 'cid-b' });
  next.reply(ra, { clientId: 'cid-a' });
  assert.equal((await a).clientId, 'cid-a');
  assert.equal((await b).clientId, 'cid-b');
});

test('background pauses the client in the page; foreground reopens, reconnects and sends what waited', async () => {
  let listener;
  const appState = { currentState: 'active', addEventListener: (_, h) => { listener = h; return { remove() {} }; } };
  const { client, page } = await setup({ env: { appState } });
  const c = client.connect();
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  await c;
  const states = [];
  client.on('state', (s) => states.push(s));

  const inflight = client.conversations();
  await page.call('conversations');
  listener('background');
  await page.call('$pause');
  assert.equal(client.state, 'disconnected');
  assert.deepEqual(states.at(-1), { state: 'disconnected', reason: 'the app is in the background' });
  const queued = client.sendText('p:alice:bob', 'written in the background');
  await tick(20);
  assert.equal(page.calls.length, 0, 'nothing reaches the page while paused');

  listener('inactive'); // iOS passes through it: nothing happens
  listener('active');
  await until(() => page.got.filter((m) => m.t === 'open').length === 2, { what: 'reopen' });
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  page.reply(await page.call('conversations'), ['replayed']);
  page.reply(await page.call('sendText'), { clientId: 'x', status: 'sent' });
  assert.deepEqual(await inflight, ['replayed']);
  assert.equal((await queued).clientId, 'x');
  assert.equal(client.state, 'connected');
});

test('a kicked client is not connected again by the foreground or a new page; connect() does', async () => {
  let listener;
  const appState = { currentState: 'active', addEventListener: (_, h) => { listener = h; return { remove() {} }; } };
  const { client, page, end } = await setup({ env: { appState } });
  assert.ok(page.got.find((m) => m.t === 'open').ev.includes('kicked'), 'the page forwards kicked though the app did not subscribe');
  const c = client.connect();
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  await c;
  page.event('kicked', { code: 4011, reason: 'signed out from another device' }, { state: 'disconnected' });
  await tick(20);

  listener('background');
  page.reply(await page.call('$pause'), undefined);
  listener('active');
  await until(() => page.got.filter((m) => m.t === 'open').length === 2, { what: 'the reopen' });
  await tick(50);
  assert.deepEqual(page.calls.map((x) => x.m), [], 'no connect after the foreground');

  page.kill();
  const next = new Page(end, { boot: 'boot-2' });
  next.ready();
  await until(() => next.got.some((m) => m.t === 'open'), { what: 'the reopen in a new page' });
  await tick(50);
  assert.deepEqual(next.calls.map((x) => x.m), [], 'no connect in a new page');

  const again = client.connect();
  next.reply(await next.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  await again;
});

test('a client created while the app is in the background waits for the foreground', async () => {
  let listener;
  const appState = { currentState: 'background', addEventListener: (_, h) => { listener = h; return { remove() {} }; } };
  const { client, page } = await setup({ env: { appState } });
  page.reply(await page.call('$pause'), undefined); // opened, then closed in the page at once
  assert.equal(client.state, 'disconnected');
  const connected = client.connect();
  const list = client.conversations();
  await tick(20);
  assert.equal(page.calls.length, 0, 'nothing reaches the page while the app is in the background');

  listener('active');
  await until(() => page.got.filter((m) => m.t === 'open').length === 2, { what: 'the open in the foreground' });
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  page.reply(await page.call('connect'), undefined, { state: 'connected', userId: 'alice' });
  page.reply(await page.call('conversations'), ['after']);
  await connected;
  assert.deepEqual(await list, ['after']);
  assert.equal(client.state, 'connected');
});

test('p2p answers as the SDK: the token\'s subject before the page knows the user, and valid peer ids only', async () => {
  const jwt = (sub) => `e30.${Buffer.from(JSON.stringify({ sub, exp: 2e9 })).toString('base64url')}.sig`;
  {
    const { rn, page: end } = pipe();
    new Page(end);
    const client = await createClient({ url: 'ws://relay.invalid/v1/ws', token: jwt('alice') }, { transport: rn });
    assert.equal(client.userId, '', 'the page does not know the user before the welcome');
    assert.equal(client.p2p('bob'), 'p:alice:bob', "a fixed token's subject");
    for (const bad of ['bob smith', 'a:b', 'x'.repeat(65), 'zoë']) {
      assert.throws(() => client.p2p(bad), (e) => e instanceof ParleyError && e.code === 4903, JSON.stringify(bad));
    }
  }
  {
    const { rn, page: end } = pipe();
    const page = new Page(end);
    const client = await createClient({ url: 'ws://relay.invalid/v1/ws', token: async () => jwt('carol') }, { transport: rn });
    assert.throws(() => client.p2p('bob'), (e) => e.code === 4903, 'no token fetched yet');
    page.post({ t: 'ask', id: 7, c: 1, m: 'token' });
    await until(() => page.got.some((m) => m.t === 'answer' && m.id === 7), { what: 'the token answer' });
    assert.equal(client.p2p('bob'), 'p:bob:carol', "the subject of the token the function gave");
  }
});

test('close: later calls reject with 4900, the state reads closed', async () => {
  const { client, page } = await setup();
  const closing = client.close();
  page.reply(await page.call('close'), undefined);
  await closing;
  assert.equal(client.state, 'closed');
  const err = await client.conversations().then(() => null, (e) => e);
  assert.equal(err.code, 4900);
  assert.equal(typeof client.then, 'undefined', 'not a thenable');
});

test('calls: call() goes to the page and returns a Call proxy that follows the page; incoming calls arrive as proxies; a restart of the page ends them', async () => {
  const { client, page, end } = await setup({ methods: [...METHODS, 'call'] });
  const snap = (over) => ({ id: 'c1', conversationId: 'p:alice:bob', direction: 'outgoing', peers: ['bob'], media: { audio: true, video: true }, state: 'ringing', localStream: { id: 'local', audio: true, video: true }, remoteStreams: [], ...over });
  await assert.rejects(client.call(''), (e) => e.code === 4903, 'arguments are checked first');
  const placing = client.call('bob', { audio: true, video: true });
  const placed = await page.call('call');
  assert.deepEqual(decodeValue(placed.a), ['bob', { audio: true, video: true }]);
  // An event of the call before its result: kept for the proxy.
  page.event('$call', { id: 'c1', ev: 'state', p: 'connecting', call: snap({ state: 'connecting' }) });
  page.reply(placed, snap());
  const call = await placing;
  assert.deepEqual([call.id, call.direction, call.peers, call.state, call.localStream], ['c1', 'outgoing', ['bob'], 'connecting', { id: 'local', audio: true, video: true }]);
  const log = [];
  call.on('state', (s) => log.push(['state', s]));
  call.on('remoteStream', (s) => log.push(['remoteStream', s.id]));
  call.on('ended', (e) => log.push(['ended', e.reason]));
  assert.throws(() => call.on('nope', () => {}), (e) => e.code === 4903);
  page.event('$call', { id: 'c1', ev: 'remoteStream', p: { id: 'r1', audio: true, video: true }, call: snap({ state: 'connecting', remoteStreams: [{ id: 'r1', audio: true, video: true }] }) });
  page.event('$call', { id: 'c1', ev: 'state', p: 'connected', call: snap({ state: 'connected', remoteStreams: [{ id: 'r1', audio: true, video: true }] }) });
  await until(() => call.state === 'connected', { what: 'connected' });
  assert.deepEqual(call.remoteStreams, [{ id: 'r1', audio: true, video: true }]);
  call.setMicrophoneEnabled(false);
  const mic = await page.call('$callOp');
  assert.deepEqual(decodeValue(mic.a), ['c1', 'setMicrophoneEnabled', false]);
  page.reply(mic, snap({ state: 'connected' }));
  const hanging = call.hangup();
  const hang = await page.call('$callOp');
  assert.deepEqual(decodeValue(hang.a), ['c1', 'hangup']);
  page.reply(hang, undefined);
  await hanging;
  // As the SDK emits them: the state first, then ended.
  page.event('$call', { id: 'c1', ev: 'state', p: 'ended', call: snap({ state: 'ended' }) });
  page.event('$call', { id: 'c1', ev: 'ended', p: { reason: 'hangup' }, call: snap({ state: 'ended' }) });
  await until(() => log.length === 4, { what: 'ended' });
  assert.deepEqual(log, [['remoteStream', 'r1'], ['state', 'connected'], ['state', 'ended'], ['ended', 'hangup']]);

  // Incoming: the 'call' event is subscribed in the page and arrives as a proxy.
  const rung = [];
  client.on('call', (c) => rung.push(c));
  await until(() => page.got.some((m) => m.t === 'sub' && m.ev === 'call'), { what: "the page is asked for 'call' events" });
  page.event('call', snap({ id: 'c2', direction: 'incoming', localStream: undefined }));
  await until(() => rung.length === 1, { what: 'an incoming call' });
  const inc = rung[0];
  assert.deepEqual([inc.id, inc.direction, inc.state], ['c2', 'incoming', 'ringing']);
  const accepting = inc.accept({ audio: true, video: false });
  const acc = await page.call('$callOp');
  assert.deepEqual(decodeValue(acc.a), ['c2', 'accept', { audio: true, video: false }]);
  page.reply(acc, snap({ id: 'c2', direction: 'incoming', state: 'connecting' }));
  await accepting;
  assert.equal(inc.state, 'connecting');
  const ended = [];
  inc.on('ended', (e) => ended.push(e.reason));
  // The page dies with the call in it: the call ends here, failed.
  page.kill();
  const next = new Page(end, { boot: 'boot-2', methods: [...METHODS, 'call'] });
  next.ready();
  await until(() => ended.length === 1, { what: 'the call ended by the restart' });
  assert.deepEqual([ended[0], inc.state], ['failed', 'ended']);
});

test('calls: a call the page returns ended says why, and an ended handler added then runs once; endReason follows the end', async () => {
  const { client, page } = await setup({ methods: [...METHODS, 'call'] });
  const snap = (over) => ({ id: 'e1', conversationId: 'p:alice:nobody', direction: 'outgoing', peers: ['nobody'], media: { audio: true, video: false }, state: 'ringing', remoteStreams: [], ...over });
  // Nobody to ring: the call ended before call() returned in the page.
  const placing = client.call('nobody');
  page.reply(await page.call('call'), snap({ state: 'ended', endReason: 'unavailable' }));
  const call = await placing;
  assert.deepEqual([call.state, call.endReason], ['ended', 'unavailable']);
  const log = [];
  call.on('ended', (e) => log.push(['ended', e.reason]));
  const off = call.on('ended', (e) => log.push(['unsubscribed', e.reason]));
  off();
  await until(() => log.length === 1, { what: 'the ended handler added after the end' });
  // Nothing the page says after the end changes it.
  page.event('$call', { id: 'e1', ev: 'ended', p: { reason: 'failed' }, call: snap({ state: 'ended', endReason: 'failed' }) });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(log, [['ended', 'unavailable']]);
  assert.equal(call.endReason, 'unavailable');

  // A call that ends later: endReason with the event.
  const second = client.call('bob');
  page.reply(await page.call('call'), snap({ id: 'e2', peers: ['bob'] }));
  const live = await second;
  assert.equal(live.endReason, undefined);
  page.event('$call', { id: 'e2', ev: 'ended', p: { reason: 'rejected' }, call: snap({ id: 'e2', state: 'ended', endReason: 'rejected' }) });
  await until(() => live.state === 'ended', { what: 'the second call ended' });
  assert.equal(live.endReason, 'rejected');
  const late = [];
  live.on('ended', (e) => late.push(e.reason));
  await until(() => late.length === 1, { what: 'the ended handler of the second call' });
  assert.deepEqual(late, ['rejected']);
});

test('calls: hangup() and reject() of a call that is over resolve, as in the SDK', async () => {
  const { client, page } = await setup({ methods: [...METHODS, 'call'] });
  const snap = (over) => ({ id: 'h1', conversationId: 'p:alice:bob', direction: 'outgoing', peers: ['bob'], media: { audio: true, video: false }, state: 'ringing', remoteStreams: [], ...over });
  const placing = client.call('bob');
  page.reply(await page.call('call'), snap());
  const call = await placing;
  // The page ended the call first and no longer holds it: it answers 4260.
  const hanging = call.hangup();
  page.fail(await page.call('$callOp'), 4260, 'parley: 4260 call not found: no live call h1 in this page');
  await hanging;
  // Once the end arrived, nothing more goes to the page.
  page.event('$call', { id: 'h1', ev: 'ended', p: { reason: 'hangup' }, call: snap({ state: 'ended', endReason: 'hangup' }) });
  await until(() => call.state === 'ended', { what: 'the call ended' });
  await call.hangup();
  await call.reject();
  // Any other refusal still rejects.
  const other = client.call('bob');
  page.reply(await page.call('call'), snap({ id: 'h2' }));
  const live = await other;
  const refused = live.hangup();
  page.fail(await page.call('$callOp'), 4300, 'parley: 4300 internal');
  await assert.rejects(refused, (e) => e.code === 4300);
});
