// The presence, profile, unread and member hooks rendered by React DOM (on
// happy-dom's document) in Node, over real clients of the built SDK and a
// real relay process: what a component sees as other users act, and that
// every subscription a hook makes is undone on unmount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, eventually } from '../../bindings/test/helpers.mjs';
import { React, counted, domSuite, h, hooks, last, mount, open, probe, relay } from './support.mjs';

domSuite();

test('usePresence: offline, online when the user connects, offline with lastSeen when they leave', async () => {
  const bob = await clientFor(relay, 'pbob', {}, open);
  await bob.connect();
  const seen = [];
  const { client, open: subs } = counted(bob);
  // An inline array every render: the hook must not start over for it.
  const view = mount(client, h(probe(seen, () => hooks.usePresence(['palice']))), { strict: true });
  await eventually(() => last(seen)?.presence.palice?.online === false, 10000, 'palice offline');

  const alice = await clientFor(relay, 'palice', {}, open);
  await alice.connect();
  await eventually(() => last(seen).presence.palice?.online === true, 10000, 'palice online');
  await alice.close();
  await eventually(() => last(seen).presence.palice?.online === false, 10000, 'palice offline again');
  assert.ok(last(seen).presence.palice.lastSeen > 0, 'lastSeen');
  assert.deepEqual(subs(), { presence: 1, state: 1 });
  view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useProfile: read from the client, then a change pushed by the relay', async () => {
  const alice = await clientFor(relay, 'ralice', {}, open);
  const bob = await clientFor(relay, 'rbob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.setProfile({ nickname: 'Alice' });
  await bob.subscribePresence(['ralice']); // the relay pushes ralice's changes to rbob
  const seen = [];
  const { client, open: subs } = counted(bob);
  const view = mount(client, h(probe(seen, () => ({ one: hooks.useProfile('ralice'), many: hooks.useProfiles(['ralice', 'rbob']) }))));
  // The two hooks load on their own: wait for both.
  await eventually(() => last(seen)?.one?.nickname === 'Alice' && !last(seen).many.loading, 10000, 'nickname read, list loaded');
  assert.deepEqual(last(seen).many.profiles.map((p) => p.user), ['ralice', 'rbob']);
  assert.equal(last(seen).many.loading, false);
  await alice.setProfile({ nickname: 'Alice L.' });
  await eventually(() => last(seen).one?.nickname === 'Alice L.' && last(seen).many.profiles[0].nickname === 'Alice L.', 10000, 'pushed change');
  view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useTotalUnread: counts messages in, falls to zero when read', async () => {
  const alice = await clientFor(relay, 'ualice', {}, open);
  const bob = await clientFor(relay, 'ubob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const seen = [];
  const { client, open: subs } = counted(bob);
  const view = mount(client, h(probe(seen, () => hooks.useTotalUnread())));
  await alice.sendText(alice.p2p('ubob'), 'one');
  await alice.sendText(alice.p2p('ubob'), 'two');
  await eventually(() => last(seen) === 2, 10000, 'two unread');
  await bob.markRead(bob.p2p('ualice'));
  await eventually(() => last(seen) === 0, 10000, 'read');
  view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useMembers: the members with roles, read again when the group changes', async () => {
  const alice = await clientFor(relay, 'malice', {}, open);
  const bob = await clientFor(relay, 'mbob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const g = await bob.createGroup('crew', ['malice']);
  const seen = [];
  const { client, open: subs } = counted(bob);
  const view = mount(client, h(probe(seen, () => hooks.useMembers(g.id))));
  await eventually(() => last(seen)?.loading === false && last(seen).members.length === 2, 10000, 'two members');
  assert.deepEqual(last(seen).members.map((m) => [m.user, m.role]), [['malice', 'member'], ['mbob', 'owner']]);
  await bob.addMembers(g.id, ['mcarol']);
  await eventually(() => last(seen).members.length === 3, 10000, 'carol added');
  await alice.leaveGroup(g.id);
  await eventually(() => last(seen).members.map((m) => m.user).join() === 'mbob,mcarol', 10000, 'alice left (seen from bob)');
  view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});
