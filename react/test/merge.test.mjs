// The merge rules of the hooks (src/merge.ts), on their own: how the window of
// one conversation takes in pages and live events, and how the conversation
// list is kept in the client's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyEvent,
  applyPage,
  compareConversations,
  emptyWindow,
  hasOlder,
  mergeConversations,
  upsertConversation,
} from '../dist/esm/merge.js';

const CONV = 'p:alice:bob';

/** A sent message of CONV. */
function sent(seq, over = {}) {
  return {
    id: `${CONV}#${seq}`, clientId: `c${seq}`, conversationId: CONV, seq, sender: seq % 2 ? 'alice' : 'bob',
    type: 'text', text: `m${seq}`, createdAt: 1_000 + seq, status: 'sent', ...over,
  };
}

/** alice's message clientId, not acknowledged yet. */
function pending(clientId, localTime, over = {}) {
  return {
    id: `local:${clientId}`, clientId, conversationId: CONV, seq: 0, sender: 'alice', type: 'text', text: clientId,
    createdAt: localTime, localTime, status: 'pending', ...over,
  };
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => sent(from + i));
const seqs = (w) => w.messages.map((m) => m.seq || m.clientId);

test('pending → sent: the acknowledged copy replaces the pending one in place, matched by client id', () => {
  let w = applyPage(emptyWindow(), range(1, 3));
  w = applyEvent(w, CONV, pending('x1', 5_000));
  w = applyEvent(w, CONV, pending('x2', 5_001));
  assert.deepEqual(seqs(w), [1, 2, 3, 'x1', 'x2']);
  w = applyEvent(w, CONV, sent(4, { clientId: 'x1', sender: 'alice' }));
  assert.deepEqual(seqs(w), [1, 2, 3, 4, 'x2']);
  assert.equal(w.messages.filter((m) => m.clientId === 'x1').length, 1);
  // The ack event of x1 again (a resend of the ack, or messageUpdate after message): still once.
  w = applyEvent(w, CONV, sent(4, { clientId: 'x1', sender: 'alice' }));
  assert.deepEqual(seqs(w), [1, 2, 3, 4, 'x2']);
});

test('a pending message written before the user id was known (sender "") matches its sent copy', () => {
  let w = applyPage(emptyWindow(), []);
  w = applyEvent(w, CONV, pending('early', 10, { sender: '' }));
  w = applyEvent(w, CONV, sent(1, { clientId: 'early', sender: 'alice' }));
  assert.deepEqual(seqs(w), [1]);
});

test("someone else's message with the same client id is another message", () => {
  let w = applyPage(emptyWindow(), []);
  w = applyEvent(w, CONV, pending('same', 10));
  w = applyEvent(w, CONV, sent(1, { clientId: 'same', sender: 'bob' }));
  assert.deepEqual(seqs(w), [1, 'same']);
});

test('a page that overlaps live events adds nothing twice, and never overwrites what an event delivered', () => {
  // Live events arrive while the first page is in flight.
  let w = emptyWindow();
  const live = sent(10, { text: 'edited by a later event' });
  w = applyEvent(w, CONV, live);
  w = applyEvent(w, CONV, sent(11));
  // The page was read before 11 existed and holds an older copy of 10.
  w = applyPage(w, range(6, 10));
  assert.deepEqual(seqs(w), [6, 7, 8, 9, 10, 11]);
  assert.equal(w.messages.find((m) => m.seq === 10), live);
  // An event for a message a page brought replaces it (it is newer).
  const update = sent(7, { text: 'update' });
  w = applyEvent(w, CONV, update);
  assert.equal(w.messages.find((m) => m.seq === 7), update);
});

test('a pending copy in a page after its ack event is stale and stays out', () => {
  let w = emptyWindow();
  w = applyEvent(w, CONV, sent(3, { clientId: 'x', sender: 'alice' }));
  // messages() read the outbox before the ack: the page still lists x as pending.
  w = applyPage(w, [...range(1, 2), pending('x', 9)]);
  assert.deepEqual(seqs(w), [1, 2, 3]);
  // A late pending/failed event for x changes nothing either.
  assert.equal(applyEvent(w, CONV, pending('x', 9, { status: 'failed' })), w);
});

test('a failed message stays after the sent ones and is replaced when resent', () => {
  let w = applyPage(emptyWindow(), range(1, 2));
  w = applyEvent(w, CONV, pending('f', 50, { status: 'failed', errorCode: 4203 }));
  w = applyEvent(w, CONV, sent(3));
  assert.deepEqual(seqs(w), [1, 2, 3, 'f']);
  w = applyEvent(w, CONV, pending('f', 50));
  assert.equal(w.messages.at(-1).status, 'pending');
  assert.equal(w.messages.length, 4);
});

test('events of other conversations leave the window as it is (the same object)', () => {
  const w = applyPage(emptyWindow(), range(1, 3));
  assert.equal(applyEvent(w, CONV, sent(4, { conversationId: 'g:other' })), w);
});

test('the floor: live messages below it wait for the older page, so paging skips nothing', () => {
  // A live message far below the first page (a gap fill) arrives before it.
  let w = applyEvent(emptyWindow(), CONV, sent(3));
  w = applyPage(w, range(51, 100));
  assert.equal(w.floor, 51);
  assert.deepEqual(seqs(w), range(51, 100).map((m) => m.seq), 'the first page dropped seq 3');
  assert.equal(applyEvent(w, CONV, sent(40)), w, 'a live message below the floor is left to loadOlder');
  assert.ok(hasOlder(w));
  w = applyPage(w, range(1, 50));
  assert.equal(w.floor, 1);
  assert.equal(hasOlder(w), false);
  assert.deepEqual(seqs(w), range(1, 100).map((m) => m.seq));
});

test('an empty first page (offline, nothing cached) starts at the first live message', () => {
  let w = applyPage(emptyWindow(), []);
  assert.equal(hasOlder(w), false);
  w = applyEvent(w, CONV, sent(41));
  w = applyEvent(w, CONV, sent(42));
  assert.equal(w.floor, 41);
  assert.ok(hasOlder(w), 'seq 41 has 40 before it');
  // Offline, the older page may come back empty: nothing changes, more still exists.
  w = applyPage(w, []);
  assert.ok(hasOlder(w));
});

test('a conversation that starts at seq 1 has nothing older', () => {
  assert.equal(hasOlder(applyPage(emptyWindow(), range(1, 5))), false);
  assert.equal(hasOlder(applyPage(emptyWindow(), range(2, 5))), true);
});

test('an older page that is the last to show ends hasOlder above seq 1; one that is not changes nothing', () => {
  let w = applyPage(emptyWindow(), range(5, 8));
  w = applyPage(w, range(3, 4));
  assert.ok(hasOlder(w));
  // seqs 1 and 2 were deleted for this user (or sent before they joined).
  w = applyPage(w, [], true);
  assert.equal(w.floor, 3);
  assert.equal(hasOlder(w), false);
  assert.equal(hasOlder(applyEvent(w, CONV, sent(9))), false, 'live messages do not bring it back');
});

test('a message deleted for me (hidden) leaves the window; its seq stays the floor', () => {
  let w = applyPage(emptyWindow(), range(3, 6));
  w = applyEvent(w, CONV, pending('x1', 5_000));
  w = applyEvent(w, CONV, sent(5, { hidden: true }));
  assert.deepEqual(seqs(w), [3, 4, 6, 'x1']);
  w = applyEvent(w, CONV, sent(3, { hidden: true }));
  assert.deepEqual(seqs(w), [4, 6, 'x1']);
  assert.equal(w.floor, 3);
  assert.equal(applyEvent(w, CONV, sent(40, { hidden: true })), w, 'nothing to remove: the same window');
  w = applyEvent(w, CONV, pending('x1', 5_000, { hidden: true }));
  assert.deepEqual(seqs(w), [4, 6]);
});

// Invariant: whatever the interleaving of pages and live events (repeated,
// reordered between pending and sent), the window ends as one contiguous run
// of the conversation from its floor to the newest message, each once, in
// order, followed by the unsent messages, each once.
test('random interleavings of pages and events end in one contiguous window holding each message once', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  let x = seed;
  const rnd = (n) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  try {
    for (let round = 0; round < 300; round++) {
      const total = 1 + rnd(120);
      const truth = range(1, total);
      const page = 1 + rnd(30);
      // Some of the newest messages are alice's own sends, acked while we watch.
      const own = truth.filter((m) => m.seq > total - 5 && rnd(2)).map((m) => ({ ...m, sender: 'alice', clientId: `own${m.seq}` }));
      for (const m of own) truth[m.seq - 1] = m;
      const known = total - rnd(Math.min(total, 10)); // the relay's seqs up to here when the first page is read
      let w = emptyWindow();
      const events = [];
      for (const m of own) events.push(pending(m.clientId, 10_000 + m.seq), m);
      for (let s = known + 1; s <= total; s++) if (!own.some((o) => o.seq === s)) events.push(truth[s - 1]);
      // Repeats: the same event twice, an ack seen as message and messageUpdate.
      for (let i = 0; i < 5; i++) events.splice(rnd(events.length + 1), 0, events[rnd(events.length)] ?? truth[total - 1]);
      // Pending before its sent copy, as the client emits them; the rest in any order.
      const firstPage = truth.slice(Math.max(0, known - page), known);
      const pageAt = rnd(events.length + 1);
      for (let i = 0; i <= events.length; i++) {
        if (i === pageAt) w = applyPage(w, firstPage);
        if (i < events.length) w = applyEvent(w, CONV, events[i]);
      }
      // Page back to the start.
      for (let guard = 0; hasOlder(w) && guard < 1000; guard++) {
        const before = w.floor;
        w = applyPage(w, truth.slice(Math.max(0, before - 1 - page), before - 1));
      }
      const got = w.messages.map((m) => m.seq);
      assert.deepEqual(got, truth.map((m) => m.seq), `round ${round}: window ${got}`);
      assert.equal(new Set(w.messages.map((m) => m.clientId)).size, w.messages.length, `round ${round}: a client id twice`);
    }
  } catch (e) {
    e.message += ` (SEED=${seed})`;
    throw e;
  }
});

// ---------------------------------------------------------------- conversations

const conv = (id, at, over = {}) => ({
  id, type: id.startsWith('g:') ? 'group' : 'p2p', members: [], lastSeq: 0, readSeq: 0, unread: 0,
  ...(at === undefined ? {} : { lastMessage: sent(1, { conversationId: id, createdAt: at }) }), ...over,
});

test('conversations sort as the client sorts them: newest activity first, then by id', () => {
  const list = [conv('g:b', 5), conv('p:a:z'), conv('g:a', 5), conv('g:c', 9), conv('g:0')];
  assert.deepEqual(list.sort(compareConversations).map((c) => c.id), ['g:c', 'g:a', 'g:b', 'g:0', 'p:a:z']);
});

test('a conversation event replaces its entry and moves it to where its activity puts it', () => {
  let list = [conv('g:a', 3), conv('g:b', 2), conv('g:c', 1)];
  list = upsertConversation(list, conv('g:c', 10, { unread: 1 }));
  assert.deepEqual(list.map((c) => c.id), ['g:c', 'g:a', 'g:b']);
  assert.equal(list.length, 3);
  assert.equal(list[0].unread, 1);
  list = upsertConversation(list, conv('g:new', 0));
  assert.deepEqual(list.map((c) => c.id), ['g:c', 'g:a', 'g:b', 'g:new']);
});

test('a read list and the events that came while it was read: the events win', () => {
  const fetched = [conv('g:a', 3, { unread: 0 }), conv('g:b', 2)];
  const live = [conv('g:b', 7, { unread: 2 }), conv('g:d', 1)];
  const merged = mergeConversations(fetched, live);
  assert.deepEqual(merged.map((c) => `${c.id}:${c.unread}`), ['g:b:2', 'g:a:0', 'g:d:0']);
});

test('pinned conversations come first, as the client lists them; a hidden one leaves the list', () => {
  const list = [conv('g:b', 5), conv('g:old', 1, { pinned: true }), conv('g:a', 9)];
  assert.deepEqual(list.sort(compareConversations).map((c) => c.id), ['g:old', 'g:a', 'g:b']);
  let next = upsertConversation(list, conv('g:b', 5, { pinned: true }));
  assert.deepEqual(next.map((c) => c.id), ['g:b', 'g:old', 'g:a'], 'pinned: up among the pinned, by activity');
  next = upsertConversation(next, conv('g:a', 9, { hidden: true }));
  assert.deepEqual(next.map((c) => c.id), ['g:b', 'g:old'], 'hidden: out of the list');
  next = upsertConversation(next, conv('g:a', 12));
  assert.deepEqual(next.map((c) => c.id), ['g:b', 'g:old', 'g:a'], 'a newer message shows it again');
  const merged = mergeConversations([conv('g:x', 3), conv('g:y', 2)], [conv('g:x', 3, { hidden: true })]);
  assert.deepEqual(merged.map((c) => c.id), ['g:y'], 'hidden while the list was read');
});
