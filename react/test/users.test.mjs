// The presence, profile, unread and member hooks rendered by React DOM (on
// happy-dom's document) in Node, over real clients of the built SDK and a
// real relay process: what a component sees as other users act, and that
// every subscription a hook makes is undone on unmount.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, closeAll, eventually, startRelay } from '../../bindings/test/helpers.mjs';

let relay;
const open = [];
let React, createRoot, hooks;

before(async () => {
  relay = await startRelay();
  await clientFor(relay, 'warmup', {}, open);
  const { Window } = await import('happy-dom');
  const win = new Window({ url: 'http://localhost/' });
  globalThis.window = win;
  globalThis.document = win.document;
  globalThis.navigator ??= win.navigator;
  globalThis.IS_REACT_ACT_ENVIRONMENT = false;
  React = await import('react');
  ({ createRoot } = await import('react-dom/client'));
  hooks = await import('../dist/esm/index.js');
});

after(async () => {
  await closeAll(open);
  await relay?.stop();
  await globalThis.window?.happyDOM?.close();
});

const h = (...a) => React.createElement(...a);

/** counted wraps a real client and counts the subscriptions open through it, per event. */
function counted(client) {
  const subs = new Map();
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === 'on') {
        return (event, handler) => {
          subs.set(event, (subs.get(event) ?? 0) + 1);
          const off = target.on(event, handler);
          let done = false;
          return () => {
            if (done) return;
            done = true;
            subs.set(event, subs.get(event) - 1);
            off();
          };
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { client: proxy, open: () => Object.fromEntries([...subs].filter(([, n]) => n !== 0)) };
}

function mount(client, children, { strict = false } = {}) {
  const el = document.createElement('div');
  document.body.appendChild(el);
  const root = createRoot(el);
  const p = h(hooks.ParleyProvider, { client }, children);
  root.render(strict ? h(React.StrictMode, null, p) : p);
  return { unmount: () => root.unmount() };
}

function probe(seen, use) {
  return function Probe() {
    seen.push(use());
    return null;
  };
}

const last = (seen) => seen[seen.length - 1];

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
  await eventually(() => last(seen)?.one?.nickname === 'Alice', 10000, 'nickname read');
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
