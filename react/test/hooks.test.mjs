// The hooks rendered by React DOM (on happy-dom's document) in Node, over
// real clients of the built SDK and a real relay process: what a component
// sees, and that every subscription a hook makes is undone on unmount, under
// StrictMode's double effects, and when the provider gets another client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, eventually, savedStorage } from '../../bindings/test/helpers.mjs';
import { React, counted, createRoot, domSuite, h, hooks, last, mount, open, probe, relay } from './support.mjs';

domSuite();

test('useConversations: the list at once, then kept current by events in the client\'s order', async () => {
  const alice = await clientFor(relay, 'alice', {}, open);
  const bob = await clientFor(relay, 'bob', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  await alice.sendText(alice.p2p('bob'), 'first');
  await bob.createGroup('lunch', ['alice']);
  await bob.waitSynced();

  const seen = [];
  const { client, open: subs } = counted(bob);
  const view = mount(client, h(probe(seen, () => hooks.useConversations())));
  await eventually(() => last(seen)?.loading === false, 10000, 'list read');
  assert.deepEqual(last(seen).conversations.map((c) => c.id), (await bob.conversations()).map((c) => c.id));
  assert.equal(last(seen).conversations.length, 2);

  // alice writes in the p2p conversation: it moves to the top, unread counts, in the client's order.
  await alice.sendText(alice.p2p('bob'), 'second');
  await eventually(() => last(seen).conversations.find((c) => c.id === 'p:alice:bob')?.lastMessage?.text === 'second', 10000, 'new last message');
  await bob.waitSynced();
  const want = await bob.conversations();
  assert.deepEqual(last(seen).conversations.map((c) => c.id), want.map((c) => c.id));
  assert.equal(last(seen).conversations[0].id, 'p:alice:bob');
  assert.equal(last(seen).conversations[0].unread, want[0].unread);

  assert.deepEqual(subs(), { conversation: 1, reset: 1 });
  await view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useConversations: pinned first and hidden left out, as client.conversations() lists them', async () => {
  const pia = await clientFor(relay, 'pia', {}, open);
  const quinn = await clientFor(relay, 'quinn', {}, open);
  const rae = await clientFor(relay, 'rae', {}, open);
  await Promise.all([pia.connect(), quinn.connect(), rae.connect()]);
  await quinn.sendText(quinn.p2p('pia'), 'older');
  await rae.sendText(rae.p2p('pia'), 'newer');
  await eventually(async () => (await pia.conversations()).length === 2, 10000, 'both conversations');
  const seen = [];
  const view = mount(pia, h(probe(seen, () => hooks.useConversations())));
  await eventually(() => last(seen)?.loading === false && last(seen).conversations.length === 2, 10000, 'list read');
  assert.deepEqual(last(seen).conversations.map((c) => c.id), ['p:pia:rae', 'p:pia:quinn']);

  await pia.setConversation('p:pia:quinn', { pinned: true });
  await eventually(() => last(seen).conversations[0]?.id === 'p:pia:quinn', 10000, 'the pinned conversation first');
  assert.deepEqual(last(seen).conversations.map((c) => c.id), (await pia.conversations()).map((c) => c.id));

  await pia.setConversation('p:pia:rae', { hidden: true });
  await eventually(() => last(seen).conversations.length === 1, 10000, 'the hidden conversation leaves the list');
  assert.deepEqual(last(seen).conversations.map((c) => c.id), (await pia.conversations()).map((c) => c.id));
  await view.unmount();
});

test('useMessages: newest page first, loadOlder back to seq 1, live messages and own sends once each', async () => {
  const alice = await clientFor(relay, 'alice', {}, open);
  const dan = await clientFor(relay, 'dan', {}, open);
  await Promise.all([alice.connect(), dan.connect()]);
  const conv = alice.p2p('dan');
  for (let i = 1; i <= 23; i++) await alice.sendText(conv, `history ${i}`);
  await dan.waitSynced();

  const seen = [];
  const { client, open: subs } = counted(dan);
  const view = mount(client, h(probe(seen, () => hooks.useMessages(conv, { pageSize: 10 }))));
  await eventually(() => last(seen)?.messages.length === 10 && !last(seen).loading, 10000, 'first page');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), [14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
  assert.equal(last(seen).hasMore, true);

  await last(seen).loadOlder();
  await eventually(() => last(seen).messages.length === 20, 10000, 'second page');
  const third = last(seen).loadOlder();
  assert.equal(last(seen).loadOlder(), third, 'a second call while a page is loading joins it');
  await third;
  await eventually(() => last(seen).messages.length === 23, 10000, 'third page');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), Array.from({ length: 23 }, (_, i) => i + 1));
  assert.equal(last(seen).hasMore, false, 'seq 1 is loaded: nothing older');

  // alice writes live; dan writes himself (pending first, then sent in place).
  await alice.sendText(conv, 'live from alice');
  await eventually(() => last(seen).messages.at(-1)?.text === 'live from alice', 10000, 'live message');
  const mark = seen.length;
  // The relay is stopped while dan sends, so the pending copy renders
  // before any ack can arrive (otherwise React may fold both into one
  // render when the ack is quick).
  relay.signal('SIGSTOP');
  let sending;
  try {
    sending = dan.sendText(conv, 'from dan');
    await eventually(() => last(seen).messages.at(-1)?.status === 'pending' && last(seen).messages.at(-1).text === 'from dan', 10000, 'own message pending');
  } finally {
    relay.signal('SIGCONT');
  }
  const own = await sending;
  await eventually(() => last(seen).messages.at(-1)?.status === 'sent' && last(seen).messages.at(-1).text === 'from dan', 10000, 'own message sent');
  const renders = seen.slice(mark).map((r) => r.messages.filter((m) => m.clientId === own.clientId));
  assert.ok(renders.some((r) => r.length === 1 && r[0].status === 'pending'), 'the pending message showed before its ack');
  assert.ok(renders.every((r) => r.length <= 1), 'never twice');
  const final = last(seen).messages;
  assert.deepEqual(final.map((m) => m.seq), Array.from({ length: 25 }, (_, i) => i + 1));
  assert.equal(new Set(final.map((m) => m.id)).size, 25);

  assert.deepEqual(subs(), { message: 1, messageUpdate: 1, reset: 1 });
  await view.unmount();
  assert.deepEqual(subs(), {});
});

test('useMessages: a message deleted for me leaves the list; oldest ones deleted for me end hasMore', async () => {
  const kim = await clientFor(relay, 'kim', {}, open);
  const lee = await clientFor(relay, 'lee', {}, open);
  await Promise.all([kim.connect(), lee.connect()]);
  const conv = kim.p2p('lee');
  for (let i = 1; i <= 8; i++) await kim.sendText(conv, `m ${i}`);
  await lee.waitSynced();
  const all = (await lee.history(conv, { limit: 8 })).messages;
  assert.deepEqual(all.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  // lee deletes the first three for himself: seq 1 is never shown to him.
  for (const m of all.slice(0, 3)) await lee.deleteMessage(m.id);

  const seen = [];
  const view = mount(lee, h(probe(seen, () => hooks.useMessages(conv, { pageSize: 4 }))));
  await eventually(() => last(seen)?.messages.length === 4 && !last(seen).loading, 10000, 'first page');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), [5, 6, 7, 8]);
  assert.equal(last(seen).hasMore, true);
  await last(seen).loadOlder();
  await eventually(() => last(seen).messages.length === 5 && !last(seen).loading, 10000, 'the older page');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), [4, 5, 6, 7, 8]);
  // Seqs 1 to 3 are not lee's to see: the page said so, and "load older" ends.
  await eventually(() => last(seen).hasMore === false, 5000, 'hasMore false: nothing older is shown');

  // Deleted for me while shown: it goes from the list.
  await lee.deleteMessage(all[7].id);
  await eventually(() => !last(seen).messages.some((m) => m.seq === 8), 10000, 'the deleted message leaves the list');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), [4, 5, 6, 7]);
  await view.unmount();
});

test('useMessages: a failed page is in error, with the SDK\'s code', async () => {
  const erin = await clientFor(relay, 'erin', {}, open);
  const seen = [];
  const view = mount(erin, h(probe(seen, () => hooks.useMessages('not a conversation id'))));
  await eventually(() => last(seen)?.loading === false, 10000, 'page settled');
  assert.equal(last(seen).error?.code, 4903);
  assert.deepEqual(last(seen).messages, []);
  await view.unmount();
});

test('StrictMode: the double effects leave one subscription per event, and unmount none', async () => {
  const frank = await clientFor(relay, 'frank', {}, open);
  await frank.connect();
  const conv = frank.p2p('alice');
  await frank.sendText(conv, 'hello');
  const seen = [];
  const { client, open: subs } = counted(frank);
  const view = mount(
    client,
    h(probe(seen, () => ({ c: hooks.useConversations(), m: hooks.useMessages(conv), s: hooks.useConnectionState() }))),
    { strict: true },
  );
  await eventually(() => last(seen)?.m.messages.length === 1 && !last(seen).c.loading, 10000, 'rendered');
  assert.deepEqual(subs(), { conversation: 1, reset: 2, message: 1, messageUpdate: 1, state: 1 });
  assert.equal(last(seen).s.state, 'connected');
  assert.deepEqual(last(seen).m.messages.map((m) => m.text), ['hello'], 'the first mount\'s page is not added twice');
  await view.unmount();
  assert.deepEqual(subs(), {});
});

test('another client in the provider: the old one\'s state and subscriptions go at once', async () => {
  const gina = counted(await clientFor(relay, 'gina', {}, open));
  const hal = counted(await clientFor(relay, 'hal', {}, open));
  await Promise.all([gina.client.connect(), hal.client.connect()]);
  await gina.client.sendText(gina.client.p2p('alice'), 'gina here');
  await hal.client.sendText(hal.client.p2p('bob'), 'hal here');

  const seen = [];
  const App = function App() {
    const client = hooks.useClient();
    const c = hooks.useConversations();
    const m = hooks.useMessages(client.p2p(client.userId === 'gina' ? 'alice' : 'bob'));
    seen.push({ user: client.userId, ids: c.conversations.map((x) => x.id), texts: m.messages.map((x) => x.text) });
    return null;
  };
  const view = mount(gina.client, h(App));
  await eventually(() => last(seen)?.ids.length === 1 && last(seen).texts.length === 1, 10000, 'gina rendered');
  assert.deepEqual(last(seen), { user: 'gina', ids: ['p:alice:gina'], texts: ['gina here'] });

  const mark = seen.length;
  view.rerender(hal.client);
  await eventually(() => last(seen).user === 'hal' && last(seen).ids.length === 1 && last(seen).texts.length === 1, 10000, 'hal rendered');
  assert.deepEqual(last(seen), { user: 'hal', ids: ['p:bob:hal'], texts: ['hal here'] });
  for (const r of seen.slice(mark)) {
    assert.ok(!r.ids.includes('p:alice:gina') && !r.texts.includes('gina here'), `a render with hal showed gina's data: ${JSON.stringify(r)}`);
  }
  assert.deepEqual(gina.open(), {}, 'nothing subscribed on the old client');
  assert.deepEqual(hal.open(), { conversation: 1, reset: 2, message: 1, messageUpdate: 1 });
  await view.unmount();
  assert.deepEqual(hal.open(), {});
});

test('useTyping: who types in this conversation, shown for a few seconds; notifyTyping reaches the others', async () => {
  const alice = await clientFor(relay, 'tina', {}, open);
  const bob = await clientFor(relay, 'tom', {}, open);
  await Promise.all([alice.connect(), bob.connect()]);
  const conv = alice.p2p('tom');
  const seen = [];
  const { client, open: subs } = counted(bob);
  const view = mount(client, h(probe(seen, () => hooks.useTyping(conv))));
  await eventually(() => seen.length > 0, 5000, 'first render');
  assert.deepEqual(last(seen).typing, []);

  // alice's composer: notifyTyping from her own hook, on every key press.
  const aliceSeen = [];
  const aliceView = mount(alice, h(probe(aliceSeen, () => hooks.useTyping(conv))));
  await eventually(() => aliceSeen.length > 0, 5000, 'alice rendered');
  for (let i = 0; i < 5; i++) last(aliceSeen).notifyTyping();
  await eventually(() => last(seen).typing.length === 1, 5000, 'bob sees alice typing');
  assert.deepEqual(last(seen).typing, ['tina']);
  assert.deepEqual(last(aliceSeen).typing, [], 'the typist does not see herself');
  // Nothing says the typing stopped: it goes after TYPING_SHOW_MS.
  await eventually(() => last(seen).typing.length === 0, hooks.TYPING_SHOW_MS + 3000, 'typing expires');

  assert.deepEqual(subs(), { typing: 1, message: 1 });
  await view.unmount();
  await aliceView.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useTyping: a message from a user typing ends their typing at once, in that conversation only', async () => {
  const xena = await clientFor(relay, 'xena', {}, open);
  const yuri = await clientFor(relay, 'yuri', {}, open);
  await Promise.all([xena.connect(), yuri.connect()]);
  const conv = xena.p2p('yuri');
  const group = await xena.createGroup('elsewhere', ['yuri']);
  await yuri.waitSynced();
  const arrived = (text) =>
    new Promise((resolve) => {
      const off = yuri.on('message', (m) => m.text === text && (off(), resolve()));
    });
  const seen = [];
  const { client, open: subs } = counted(yuri);
  const view = mount(client, h(probe(seen, () => ({ ...hooks.useTyping(conv), at: Date.now() }))));
  await eventually(() => subs().typing === 1 && subs().message === 1, 5000, 'the hook listens');

  let typingAt = 0;
  const offTyping = yuri.on('typing', () => (typingAt ||= Date.now()));
  xena.typing(conv);
  await eventually(() => last(seen).typing.length === 1, 5000, 'yuri sees xena typing');
  const mark = seen.length;
  // Her message in another conversation is not what she types here.
  const inGroup = arrived('in the group');
  await xena.sendText(group.id, 'in the group');
  await inGroup;
  await new Promise((r) => setTimeout(r, 200)); // for a render it would cause
  for (const r of seen.slice(mark)) assert.deepEqual(r.typing, ['xena'], 'her message in the group ended her typing here');

  // Her message here is: she stops showing at once, not when the typing
  // event's TYPING_SHOW_MS runs out.
  const here = arrived('here it is');
  await xena.sendText(conv, 'here it is');
  await here;
  await eventually(() => last(seen).typing.length === 0, hooks.TYPING_SHOW_MS + 3000, 'typing cleared');
  const shown = seen.slice(mark).find((r) => r.typing.length === 0).at - typingAt;
  assert.ok(shown < hooks.TYPING_SHOW_MS - 1000, `xena showed as typing for ${shown} ms, until TYPING_SHOW_MS ran out`);
  offTyping();
  await view.unmount();
  assert.deepEqual(subs(), {}, 'unmount leaves no subscription');
});

test('useTyping: another client in the provider shows nobody the old one saw typing, from its first render', async () => {
  const uma = await clientFor(relay, 'uma', {}, open);
  const vic = await clientFor(relay, 'vic', {}, open);
  const wes = await clientFor(relay, 'wes', {}, open);
  await Promise.all([uma.connect(), vic.connect(), wes.connect()]);
  const conv = uma.p2p('vic');
  const seen = [];
  const App = function App() {
    const client = hooks.useClient();
    seen.push({ user: client.userId, typing: hooks.useTyping(conv).typing });
    return null;
  };
  const view = mount(vic, h(App));
  await eventually(() => seen.length > 0, 5000, 'first render');
  uma.typing(conv);
  await eventually(() => last(seen).typing.length === 1, 5000, 'vic sees uma typing');
  const mark = seen.length;
  view.rerender(wes);
  await eventually(() => last(seen).user === 'wes', 5000, 'wes rendered');
  for (const r of seen.slice(mark).filter((x) => x.user === 'wes')) {
    assert.deepEqual(r.typing, [], `a render with wes showed who typed for vic: ${JSON.stringify(r)}`);
  }
  await view.unmount();
});

test('useMessages offline: hasMore stays while the relay holds older messages the cache lacks, and ends where the user may read no further', async () => {
  const storage = savedStorage(); // its db loses history below, as a store under a size limit evicts the oldest
  const uma = await clientFor(relay, 'uma', { storage }, open);
  const val = await clientFor(relay, 'val', {}, open);
  await Promise.all([uma.connect(), val.connect()]);
  const conv = val.p2p('uma');
  for (let i = 1; i <= 8; i++) await val.sendText(conv, `m ${i}`);
  // A group uma joins after its first messages: they are not hers to read.
  const g = await val.createGroup('late', ['wyn']);
  await val.sendText(g.id, 'before uma');
  await val.addMembers(g.id, ['uma']);
  await val.sendText(g.id, 'welcome uma');
  await eventually(async () => (await uma.conversation(g.id))?.lastMessage?.text === 'welcome uma', 10000, 'uma in the group');
  await uma.waitSynced();
  for (let seq = 1; seq <= 4; seq++) storage.db.messages.delete(`${conv}#${seq}`);
  await relay.kill9();
  await eventually(() => uma.state === 'reconnecting', 10000, 'offline');

  const seen = [];
  const view = mount(uma, h(probe(seen, () => hooks.useMessages(conv, { pageSize: 4 }))));
  await eventually(() => last(seen)?.messages.length === 4 && !last(seen).loading, 10000, 'first page');
  assert.deepEqual(last(seen).messages.map((m) => m.seq), [5, 6, 7, 8]);
  await last(seen).loadOlder();
  await eventually(() => !last(seen).loading, 10000, 'the older page read');
  assert.deepEqual([last(seen).messages.map((m) => m.seq), last(seen).hasMore], [[5, 6, 7, 8], true], 'the relay holds 1..4: not the beginning');

  const inGroup = [];
  const groupView = mount(uma, h(probe(inGroup, () => hooks.useMessages(g.id, { pageSize: 10 }))));
  await eventually(() => last(inGroup)?.messages.some((m) => m.text === 'welcome uma') && !last(inGroup).loading, 10000, 'the group page');
  assert.equal(last(inGroup).hasMore, true);
  await last(inGroup).loadOlder();
  await eventually(() => last(inGroup).hasMore === false, 5000, 'hasMore false offline: nothing older is uma\'s to read');
  await groupView.unmount();

  await relay.start();
  await eventually(() => uma.state === 'connected', 20000, 'connected again');
  await last(seen).loadOlder();
  await eventually(() => last(seen).messages.length === 8 && !last(seen).loading, 10000, 'the evicted page from the relay');
  assert.deepEqual([last(seen).messages.map((m) => m.seq), last(seen).hasMore], [[1, 2, 3, 4, 5, 6, 7, 8], false]);
  await view.unmount();
});

test('useConnectionState: follows state events with their code, across a relay crash', async () => {
  const ivy = await clientFor(relay, 'ivy', {}, open);
  const seen = [];
  const view = mount(ivy, h(probe(seen, () => hooks.useConnectionState())));
  await eventually(() => seen.length > 0, 5000, 'first render');
  assert.equal(seen[0].state, ivy.state);
  await ivy.connect();
  await eventually(() => last(seen).state === 'connected', 10000, 'connected');
  await relay.kill9();
  await eventually(() => last(seen).state === 'reconnecting', 10000, 'reconnecting');
  const lost = seen.find((s) => s.state === 'reconnecting');
  assert.equal(typeof lost.code, 'number', `a reconnecting state carries its code: ${JSON.stringify(lost)}`);
  await relay.start();
  await eventually(() => last(seen).state === 'connected', 20000, 'connected again');
  await view.unmount();
});

test('useClient throws without a provider above, saying what is missing', async () => {
  const errors = [];
  const root = createRoot(document.createElement('div'), { onUncaughtError: (e) => errors.push(e) });
  root.render(h(function Orphan() {
    hooks.useClient();
    return null;
  }));
  await eventually(() => errors.length > 0, 5000, 'the render error');
  assert.match(String(errors[0]?.message ?? errors[0]), /needs a <ParleyProvider/);
  root.unmount();
});
