// Devices, kicks, the device policy, token renewal and revocation, the admin
// API and webhooks: the built package against real relay processes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Codes, ParleyError } from '@parley-im/sdk';
import { clientFor, closeAll, eventually, next } from './helpers.mjs';
import { Relay, freePort } from './support/relay.mjs';

const ADMIN_SECRET = 'admin-secret-of-the-js-suite-0123456789';
const HOOK_SECRET = 'webhook-secret-of-the-js-suite-012345';

// hookServer receives webhooks, checks each signature as docs/deployment.md
// says a receiver must, and answers the first `fail` attempts of each event
// with 500.
async function hookServer(fail) {
  const s = { events: [], attempts: new Map(), bad: 0 };
  s.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ts = req.headers['parley-timestamp'];
      const want = 'v1=' + createHmac('sha256', HOOK_SECRET).update(`${ts}.`).update(body).digest('hex');
      const got = req.headers['parley-signature'] ?? '';
      if (Math.abs(Date.now() / 1000 - Number(ts)) > 300 || got.length !== want.length || !timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
        s.bad++;
        res.writeHead(401).end();
        return;
      }
      const e = JSON.parse(body);
      const n = (s.attempts.get(e.id) ?? 0) + 1;
      s.attempts.set(e.id, n);
      if (n <= fail) {
        res.writeHead(500).end();
        return;
      }
      s.events.push(e);
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => s.server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${s.server.address().port}/hooks`;
  return s;
}

async function admin(relay, path, body, secret = ADMIN_SECRET, method = 'POST') {
  const headers = { 'content-type': 'application/json' };
  if (secret !== null) headers.authorization = `Bearer ${secret}`;
  const r = await fetch(`${relay.admin}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

let relay, hooks;
const open = [];
before(async () => {
  hooks = await hookServer(1);
  const adminPort = await freePort();
  relay = new Relay({
    extra: ['--admin-addr', `127.0.0.1:${adminPort}`, '--admin-secret', ADMIN_SECRET, '--webhook', hooks.url,
      '--webhook-secret', HOOK_SECRET, '--device-policy', 'web=1,node=unlimited', '--token-leeway', '1s'],
  });
  relay.admin = `http://127.0.0.1:${adminPort}`;
  await relay.start();
});
after(async () => {
  await closeAll(open);
  await relay?.stop();
  await new Promise((r) => hooks?.server.close(r));
});

const isParley = (code) => (e) => {
  assert.ok(e instanceof ParleyError, `want a ParleyError, got ${e}`);
  assert.equal(e.code, code);
  return true;
};

describe('devices', () => {
  test('devices() lists every session of the user with its platform; kickDevice closes one for good', async () => {
    const laptop = await clientFor(relay, 'dora', {}, open);
    const bot = await clientFor(relay, 'dora', {}, open);
    const tab = await clientFor(relay, 'dora', { platform: 'web' }, open);
    // One after the other: the list is ordered by when each session opened.
    await laptop.connect();
    await bot.connect();
    await tab.connect();
    const list = await eventually(async () => {
      const l = await laptop.devices();
      return l.length === 3 && l;
    }, 5000, 'three devices');
    assert.deepEqual(list.map((d) => d.id), [laptop.deviceId, bot.deviceId, tab.deviceId], 'oldest first');
    assert.deepEqual(list.map((d) => d.platform), ['node', 'node', 'web']);
    assert.deepEqual(list.map((d) => d.current), [true, false, false]);
    for (const d of list) assert.ok(Math.abs(d.connectedAt - Date.now()) < 60000, 'connectedAt is a time');
    assert.deepEqual((await tab.devices()).map((d) => d.current), [false, false, true]);

    await assert.rejects(laptop.kickDevice('no-such-device'), isParley(Codes.NoSuchDevice));
    await assert.rejects(laptop.kickDevice(''), isParley(Codes.InvalidArgument));

    const states = [];
    bot.on('state', (s) => states.push(s.state));
    const kicked = next(bot, 'kicked');
    await laptop.kickDevice(bot.deviceId);
    const k = await kicked;
    assert.equal(k.code, Codes.DeviceKicked);
    assert.match(k.reason, /another device/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(bot.state, 'disconnected', 'the kicked device does not reconnect by itself');
    assert.ok(!states.includes('connected') && !states.includes('reconnecting'), `states after the kick: ${states}`);
    await eventually(async () => (await laptop.devices()).length === 2, 5000, 'the kicked device gone from the list');
    await assert.rejects(bot.devices(), isParley(Codes.NotConnected));
  });

  test('the device policy web=1 closes the older web session with 4012', async () => {
    const tab1 = await clientFor(relay, 'erin', { platform: 'web' }, open);
    const tab2 = await clientFor(relay, 'erin', { platform: 'web' }, open);
    const bot = await clientFor(relay, 'erin', {}, open);
    await Promise.all([tab1.connect(), bot.connect()]);
    const kicked = next(tab1, 'kicked');
    await tab2.connect();
    const k = await kicked;
    assert.equal(k.code, Codes.DevicePolicy);
    assert.match(k.reason, /web/);
    assert.equal(tab2.state, 'connected');
    assert.equal(bot.state, 'connected', 'node sessions are unlimited');
  });
});

describe('tokens', () => {
  test('a token renewed mid-conversation while messages flow: no gap, no reconnect', async () => {
    let minted = 0;
    const fred = await clientFor(relay, 'fred', { token: () => { minted++; return relay.token('fred', '4s'); } }, open);
    const gus = await clientFor(relay, 'gus', {}, open);
    const states = [];
    fred.on('state', (s) => states.push(s.state));
    let warned = 0;
    fred.on('tokenWillExpire', () => { warned++; });
    const got = [];
    fred.on('message', (m) => { if (m.sender === 'gus') got.push(m.seq); });
    await Promise.all([fred.connect(), gus.connect()]);
    const conv = gus.p2p('fred');
    // Past the first token's exp + leeway (5 s): without a renewal the
    // relay would have closed the session (4110) and the client redialled.
    const until = Date.now() + 7000;
    let n = 0;
    while (Date.now() < until) {
      await gus.sendText(conv, `m${++n}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    await eventually(() => got.length >= n, 10000, `${n} messages on fred`);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i + 1), 'every message once, in order');
    assert.ok(warned >= 1, 'tokenWillExpire fired');
    assert.ok(minted >= 2, `the token function was called again (${minted})`);
    assert.deepEqual(states.filter((s) => s !== 'connected' && s !== 'connecting'), [], `no reconnect: states ${states}`);
    assert.equal(fred.state, 'connected');
  });

  test('revocation through the admin API kicks within a second; the revoked token is refused', async (t) => {
    const token = relay.token('hana');
    const hana = await clientFor(relay, 'hana', { token }, open);
    const ivan = await clientFor(relay, 'ivan', {}, open);
    await Promise.all([hana.connect(), ivan.connect()]);
    const kicked = next(hana, 'kicked');
    const began = Date.now();
    const r = await admin(relay, '/admin/v1/revocations', { user: 'hana' });
    assert.equal(r.status, 200);
    const k = await kicked;
    const took = Date.now() - began;
    assert.equal(k.code, Codes.TokenRevoked);
    assert.ok(took < 1000, `kicked ${took} ms after the revocation`);
    t.diagnostic(`revocation → kicked: ${took} ms`);
    assert.equal(ivan.state, 'connected', 'another user stays');
    // The old token again: refused, for good.
    const again = await clientFor(relay, 'hana', { token }, open);
    await assert.rejects(again.connect(), isParley(Codes.TokenRevoked));
  });
});

describe('bans', () => {
  test('a ban through the admin API kicks with 4004 and the reason, for good; once lifted the user connects again', async () => {
    const nina = await clientFor(relay, 'nina', {}, open);
    const otto = await clientFor(relay, 'otto', {}, open);
    await Promise.all([nina.connect(), otto.connect()]);
    const states = [];
    nina.on('state', (s) => states.push(s.state));
    const kicked = next(nina, 'kicked');
    let r = await admin(relay, '/admin/v1/users/nina/ban', { reason: 'spam' }, ADMIN_SECRET, 'PUT');
    assert.equal(r.status, 200);
    assert.deepEqual([r.body.user, r.body.banned, r.body.reason], ['nina', true, 'spam']);
    const k = await kicked;
    assert.equal(k.code, Codes.Banned);
    assert.equal(k.reason, 'spam');
    // Its backoff (20-200 ms) would have dialled several times by now.
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(nina.state, 'disconnected', 'the banned client does not reconnect by itself');
    assert.deepEqual(states, ['disconnected'], `states after the ban: ${states}`);
    assert.equal(otto.state, 'connected', 'another user stays');

    // A new client of hers, with a fresh token: refused alike.
    const again = await clientFor(relay, 'nina', {}, open);
    const refused = next(again, 'kicked');
    await assert.rejects(again.connect(), isParley(Codes.Banned));
    assert.deepEqual([(await refused).code, again.state], [Codes.Banned, 'disconnected']);
    r = await admin(relay, '/admin/v1/users/nina/ban', undefined, ADMIN_SECRET, 'GET');
    assert.deepEqual([r.status, r.body.banned, r.body.reason], [200, true, 'spam']);

    r = await admin(relay, '/admin/v1/users/nina/ban', undefined, ADMIN_SECRET, 'DELETE');
    assert.deepEqual([r.status, r.body], [200, { user: 'nina', banned: false }]);
    const back = await clientFor(relay, 'nina', {}, open);
    await back.connect();
    assert.equal(back.state, 'connected', 'connects once the ban is lifted');
  });
});

describe('admin API and webhooks', () => {
  test('admin calls without or with a wrong secret are refused with 4001 and change nothing', async () => {
    for (const secret of [null, 'wrong', ADMIN_SECRET + 'x']) {
      const r = await admin(relay, '/admin/v1/groups', { owner: 'jo', members: ['kim'] }, secret);
      assert.equal(r.status, 401);
      assert.equal(r.body.code, Codes.Unauthorized);
    }
    const jo = await clientFor(relay, 'jo', {}, open);
    await jo.connect();
    await jo.waitSynced();
    assert.deepEqual(await jo.conversations(), [], 'no group was created');
  });

  test('a group and a system message from the admin API reach the client; webhooks arrive signed and retried after 500', async () => {
    const lea = await clientFor(relay, 'lea', {}, open);
    const max = await clientFor(relay, 'max', {}, open);
    await Promise.all([lea.connect(), max.connect()]);
    let r = await admin(relay, '/admin/v1/groups', { id: 'g:js-admin', name: 'From the server', owner: 'lea', members: ['max'] });
    assert.equal(r.status, 201);
    await eventually(async () => (await max.conversation('g:js-admin'))?.name === 'From the server', 5000, 'the group on max');
    const msg = next(max, 'message', (m) => m.conversationId === 'g:js-admin');
    r = await admin(relay, '/admin/v1/messages', { conversationId: 'g:js-admin', from: 'system', text: 'welcome' });
    assert.equal(r.status, 200);
    const m = await msg;
    assert.deepEqual([m.sender, m.text], ['system', 'welcome']);
    await lea.sendText(lea.p2p('max'), 'hook me');

    const find = (pred) => hooks.events.find(pred);
    await eventually(() => find((e) => e.type === 'after-message' && e.message.text === 'hook me'), 10000, 'after-message webhook');
    await eventually(() => find((e) => e.type === 'after-message' && e.message.sender === 'system'), 10000, 'the system message webhook');
    await eventually(() => find((e) => e.type === 'after-group-change' && e.group.id === 'g:js-admin'), 10000, 'after-group-change webhook');
    await eventually(() => find((e) => e.type === 'user-online' && e.user === 'lea'), 10000, 'user-online webhook');
    await max.close();
    await eventually(() => find((e) => e.type === 'user-offline' && e.user === 'max'), 10000, 'user-offline webhook');
    assert.equal(hooks.bad, 0, 'every request carried a valid signature');
    for (const e of hooks.events) assert.equal(hooks.attempts.get(e.id), 2, `event ${e.type} taken on its second attempt, after a 500`);
  });
});
