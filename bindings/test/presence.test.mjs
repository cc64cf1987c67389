// Presence and profiles with the built package in Node, through a real relay
// process: online while any device is connected, offline when the last one
// leaves (also when its process is killed, within the heartbeat timeout);
// profiles cached, refreshed on change; bad input with its codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Codes, ParleyError, indexedDBStorage } from '@parley-im/sdk';
import { clientFor, closeAll, eventually, next, Relay, savedStorage } from './helpers.mjs';

// A 1 s heartbeat: a silent connection is closed after 2.5 s.
const HEARTBEAT_TIMEOUT_MS = 2500;
let relay;
const open = [];
before(async () => {
  relay = await new Relay({ extra: ['--heartbeat', '1s'] }).start();
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

describe('presence', () => {
  test('online while any device is connected; offline when the last leaves, with lastSeen; status', async () => {
    const watcher = await clientFor(relay, 'p-watch', {}, open);
    const watcher2 = await clientFor(relay, 'p-watch', {}, open);
    await Promise.all([watcher.connect(), watcher2.connect()]);
    const seen = [];
    watcher.on('presence', (p) => seen.push(p));
    const on2 = [];
    watcher2.on('presence', (p) => on2.push(p));

    assert.deepEqual(await watcher.subscribePresence(['p-bob', 'p-carol', 'p-bob']), [
      { user: 'p-bob', online: false },
      { user: 'p-carol', online: false },
    ]);
    const bob1 = await clientFor(relay, 'p-bob', {}, open);
    const bob2 = await clientFor(relay, 'p-bob', {}, open);
    await bob1.connect();
    await eventually(() => seen.some((p) => p.user === 'p-bob' && p.online), 5000, 'bob online');
    await eventually(() => on2.some((p) => p.user === 'p-bob' && p.online), 5000, "bob online on the watcher's other device: subscriptions belong to the user");
    await bob2.connect();
    await bob1.setStatus('lunch');
    await eventually(() => seen.some((p) => p.user === 'p-bob' && p.status === 'lunch'), 5000, 'status');

    const before = Date.now();
    seen.length = 0;
    await bob1.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen, [], 'one of two devices left: still online, nothing to say');
    await bob2.close();
    const off = await next(watcher, 'presence', (p) => p.user === 'p-bob' && !p.online, 5000);
    assert.equal(off.status, 'lunch');
    assert.ok(off.lastSeen >= before - 1000, `lastSeen ${off.lastSeen}`);

    // Unsubscribed: no more events.
    await watcher.unsubscribePresence(['p-bob']);
    seen.length = 0;
    const bob3 = await clientFor(relay, 'p-bob', {}, open);
    await bob3.connect();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen.filter((p) => p.user === 'p-bob'), [], 'an event after the unsubscribe');
  });

  test('a device whose process is killed goes offline within the heartbeat timeout', async () => {
    const watcher = await clientFor(relay, 'k-watch', {}, open);
    await watcher.connect();
    await watcher.subscribePresence(['k-bob']);
    const script = fileURLToPath(new URL('./fixtures/presence-device.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, relay.ws, relay.token('k-bob')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('connected') && resolve());
        child.once('exit', () => reject(new Error('the device process ended before connecting')));
      });
      await eventually(async () => (await watcher.subscribePresence(['k-bob']))[0].online, 5000, 'k-bob online');
      const offline = next(watcher, 'presence', (p) => p.user === 'k-bob' && !p.online, HEARTBEAT_TIMEOUT_MS + 5000);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await offline;
      const took = Date.now() - killedAt;
      test.diagnostic?.(`offline ${took} ms after SIGKILL`);
      assert.ok(took <= HEARTBEAT_TIMEOUT_MS + 3000, `offline after ${took} ms`);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  test('bad input: over the subscription limit, oversize status — with codes, nothing changed', async () => {
    const c = await clientFor(relay, 'b-limit', {}, open);
    await c.connect();
    const users = Array.from({ length: 3000 }, (_, i) => `b-u${i}`);
    const got = await c.subscribePresence(users, { ttlMs: 3_600_000 });
    assert.equal(got.length, 3000);
    await assert.rejects(c.subscribePresence(['b-one-more']), isParley(Codes.PresenceLimit));
    assert.equal((await c.subscribePresence(['b-u0', 'b-u1'])).length, 2, 'renewing held subscriptions stays within the limit');
    await c.unsubscribePresence(['b-u0']);
    assert.equal((await c.subscribePresence(['b-one-more'])).length, 1, 'room again after an unsubscribe');

    await assert.rejects(c.setStatus('x'.repeat(65)), isParley(Codes.StatusTooLong));
    await assert.rejects(c.setStatus('中'.repeat(22)), isParley(Codes.StatusTooLong), '66 bytes of UTF-8');
    await assert.rejects(c.setStatus('evil\u202e'), isParley(Codes.BadProfile));
    await assert.rejects(c.setProfile({ nickname: 'n'.repeat(65) }), isParley(Codes.BadProfile));
    await assert.rejects(c.setProfile({}), isParley(Codes.InvalidArgument));
    await assert.rejects(c.subscribePresence('b-u1'), isParley(Codes.InvalidArgument));
    const watcher = await clientFor(relay, 'b-watch', {}, open);
    await watcher.connect();
    assert.deepEqual(await watcher.subscribePresence(['b-limit']), [{ user: 'b-limit', online: true }], 'status unchanged');
  });
  test('a long list goes in requests of 200: one refused at the limit rejects with 4270 and leaves the earlier ones in place', async () => {
    const c = await clientFor(relay, 'b-chunks', {}, open);
    await c.connect();
    const held = Array.from({ length: 2700 }, (_, i) => `c-h${i}`);
    assert.equal((await c.subscribePresence(held)).length, 2700);
    const more = Array.from({ length: 400 }, (_, i) => `c-m${i}`); // 200 fit, the next 200 do not
    await assert.rejects(c.subscribePresence(more), isParley(Codes.PresenceLimit));
    // 2,900 held: the first request of the list stayed.
    assert.equal((await c.subscribePresence(more.slice(0, 200))).length, 200, 'renewing them is free');
    const last = Array.from({ length: 100 }, (_, i) => `c-l${i}`);
    assert.equal((await c.subscribePresence(last)).length, 100, 'up to 3,000');
    await assert.rejects(c.subscribePresence(['c-over']), isParley(Codes.PresenceLimit), 'the 3,001st');
  });
});

describe('profiles', () => {
  test('cached, refreshed on change, and a change reaches the other devices', async () => {
    const alice = await clientFor(relay, 'f-alice', {}, open);
    const alice2 = await clientFor(relay, 'f-alice', {}, open);
    const bob = await clientFor(relay, 'f-bob', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), bob.connect()]);
    const [empty] = await bob.profiles(['f-alice']);
    assert.deepEqual(empty, { user: 'f-alice', updatedAt: 0 });

    const onAlice2 = next(alice2, 'profile', (p) => p.user === 'f-alice');
    await alice.setProfile({ nickname: 'Alice', avatar: 'https://example.com/a.png', custom: '{"title":"designer"}' });
    const pushed = await onAlice2;
    assert.equal(pushed.nickname, 'Alice', "the change reaches alice's other device");
    assert.deepEqual(await alice2.profiles(['f-alice']), [pushed], 'and its cache');

    // bob read alice before the change: his cache is served until it is
    // stale, so he still sees the empty profile…
    assert.deepEqual(await bob.profiles(['f-alice']), [empty], 'cache first');
    // …unless he watches alice: then the change is pushed into his cache.
    await bob.subscribePresence(['f-alice']);
    const onBob = next(bob, 'profile', (p) => p.user === 'f-alice' && p.nickname === 'Al');
    await alice.setProfile({ nickname: 'Al' });
    await onBob;
    const [cached] = await bob.profiles(['f-alice']);
    assert.equal(cached.nickname, 'Al');
    assert.equal(cached.avatar, 'https://example.com/a.png', 'fields left out keep their value');
    assert.ok(cached.updatedAt > pushed.updatedAt);

    // A fresh device reads from the relay.
    const carol = await clientFor(relay, 'f-carol', {}, open);
    await carol.connect();
    assert.deepEqual(await carol.profiles(['f-alice', 'f-nobody']), [cached, { user: 'f-nobody', updatedAt: 0 }]);
  });

  test("'' clears a field; avatar and custom up to 512 bytes, 4272 past it; a device offline meanwhile reads its own profile again", async () => {
    const store = savedStorage();
    const alice = await clientFor(relay, 'q-alice', {}, open);
    let alice2 = await clientFor(relay, 'q-alice', { storage: store }, open);
    await Promise.all([alice.connect(), alice2.connect()]);
    await alice.setProfile({ nickname: 'Alice', avatar: 'https://example.com/a.png', custom: 'c'.repeat(512) });
    await eventually(async () => (await alice2.profiles(['q-alice']))[0].nickname === 'Alice', 5000, 'alice2 has the profile');
    await alice2.close();

    await assert.rejects(alice.setProfile({ avatar: 'a'.repeat(513) }), isParley(Codes.BadProfile));
    await assert.rejects(alice.setProfile({ custom: 'c'.repeat(513) }), isParley(Codes.BadProfile));
    await alice.setProfile({ nickname: '', avatar: 'a'.repeat(512) });
    const [p] = await alice.profiles(['q-alice']);
    assert.deepEqual([p.nickname, p.avatar, p.custom], [undefined, 'a'.repeat(512), 'c'.repeat(512)], "'' cleared the nickname, the refusals changed nothing");

    alice2 = await clientFor(relay, 'q-alice', { storage: store }, open);
    assert.equal((await alice2.profiles(['q-alice']))[0].nickname, 'Alice', 'the cache predates the change');
    await alice2.connect();
    await eventually(async () => (await alice2.profiles(['q-alice']))[0].avatar === 'a'.repeat(512), 5000, 'alice2 reads its own profile again');
    assert.equal((await alice2.profiles(['q-alice']))[0].nickname, undefined);
  });

  test('another user signing in on the device drops the profiles the first one read', async () => {
    const store = savedStorage();
    const bob = await clientFor(relay, 'sw-bob', {}, open);
    await bob.connect();
    await bob.setProfile({ nickname: 'Bob' });
    const alice = await clientFor(relay, 'sw-alice', { storage: store }, open);
    await alice.connect();
    assert.equal((await alice.profiles(['sw-bob']))[0].nickname, 'Bob');
    const stored = () => (store.db.meta?.profiles ?? []).map((p) => p.user);
    await eventually(() => stored().includes('sw-bob'), 5000, "bob's profile stored with alice's meta");
    await alice.close();
    open.splice(open.indexOf(alice), 1);

    const carol = await clientFor(relay, 'sw-carol', { storage: store, token: relay.token('sw-carol') }, open);
    await carol.connect();
    await eventually(() => store.db.meta?.userId === 'sw-carol', 5000, "carol's meta");
    assert.deepEqual(stored(), [], "alice's profiles are gone");
  });

  test('persisted: a client reloaded offline still has the profiles it read, and refreshes them online', async () => {
    await import('fake-indexeddb/auto'); // IndexedDB for Node, as a browser has it
    const name = `profiles-${process.pid}-${Date.now()}`;
    const alice = await clientFor(relay, 'p-alice', {}, open);
    await alice.connect();
    await alice.setProfile({ nickname: 'Alice', avatar: 'https://example.com/a.png' });
    const bob = await clientFor(relay, 'p-bob', { storage: indexedDBStorage({ name }) }, open);
    await bob.connect();
    const [read] = await bob.profiles(['p-alice']);
    assert.equal(read.nickname, 'Alice');
    await bob.close();

    // Reloaded, never connected: the relay is not asked.
    const offline = await clientFor(relay, 'p-bob', { storage: indexedDBStorage({ name }) }, open);
    assert.deepEqual(await offline.profiles(['p-alice']), [read], 'from the stored cache, offline');
    await assert.rejects(offline.profiles(['p-never']), (e) => e instanceof ParleyError && e.code === Codes.NotConnected,
      'a profile never read is not made up');

    // Online again, a stored profile counts as stale: a newer one replaces it.
    await alice.setProfile({ nickname: 'Alice L.' });
    await offline.connect();
    const [fresh] = await offline.profiles(['p-alice']);
    assert.equal(fresh.nickname, 'Alice L.');
    assert.ok(fresh.updatedAt > read.updatedAt);
    await offline.close();
    const again = await clientFor(relay, 'p-bob', { storage: indexedDBStorage({ name }) }, open);
    assert.deepEqual(await again.profiles(['p-alice']), [fresh], 'the refreshed one is what is stored');
  });
});
