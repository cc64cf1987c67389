// Contacts, the block list and conversation settings: the built package
// (dist) against a real relay process, from Node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Codes, ParleyError } from '@parley-im/sdk';
import { clientFor, closeAll, eventually, next, savedStorage, startRelay } from './helpers.mjs';

let relay;
const open = [];
before(async () => {
  relay = await startRelay();
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

describe('contacts', () => {
  test('a request and its answer reach both users and both of their devices', async () => {
    const alice = await clientFor(relay, 'ct-alice', {}, open);
    const alice2 = await clientFor(relay, 'ct-alice', {}, open);
    const bob = await clientFor(relay, 'ct-bob', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), bob.connect()]);

    const asked = next(bob, 'contactRequest');
    const changed = next(alice2, 'contact', (r) => r.user === 'ct-bob' && r.state === 'requested');
    await alice.requestContact('ct-bob', 'we met at the workshop');
    assert.deepEqual(await asked, { user: 'ct-alice', note: 'we met at the workshop' });
    await changed;
    const pending = (await bob.relations()).find((r) => r.user === 'ct-alice');
    assert.equal(pending.state, 'pending');
    assert.equal(pending.note, 'we met at the workshop');
    assert.deepEqual(await alice.contacts(), [], 'not a contact before the answer');

    const answered = next(alice, 'contactAnswer');
    await bob.answerContact('ct-alice', true);
    assert.deepEqual(await answered, { user: 'ct-bob', accepted: true });
    assert.deepEqual(await bob.contacts(), ['ct-alice']);
    await eventually(async () => (await alice2.contacts()).includes('ct-bob'), 5000, "alice's other device has the contact");
    assert.deepEqual(await alice.contacts(), ['ct-bob']);

    // Answering a request that is not there, asking oneself: refused with codes.
    await assert.rejects(bob.answerContact('ct-alice', true), isParley(Codes.NoRequest));
    await assert.rejects(alice.requestContact('ct-alice'), isParley(Codes.InvalidArgument));
    await assert.rejects(alice.requestContact(''), isParley(Codes.InvalidArgument));

    // A decline, and a removal that ends the contact on both sides.
    const carol = await clientFor(relay, 'ct-carol', {}, open);
    await carol.connect();
    const declined = next(carol, 'contactAnswer');
    const asked2 = next(alice, 'contactRequest');
    await carol.requestContact('ct-alice');
    assert.deepEqual(await asked2, { user: 'ct-carol' });
    await alice.answerContact('ct-carol', false);
    assert.deepEqual(await declined, { user: 'ct-alice', accepted: false });
    assert.deepEqual(await carol.relations(), []);
    await alice.removeContact('ct-bob');
    await eventually(async () => (await bob.contacts()).length === 0, 5000, 'the removal reaches bob');
  });

  test('asking each other makes a contact; a device offline meanwhile gets contact and block on reconnecting and answers from its cache offline', async () => {
    const store2 = savedStorage();
    const dan = await clientFor(relay, 'mu-dan', { deviceId: 'mu-d1' }, open);
    let dan2 = await clientFor(relay, 'mu-dan', { storage: store2, deviceId: 'mu-d2' }, open);
    const eve = await clientFor(relay, 'mu-eve', {}, open);
    await Promise.all([dan.connect(), dan2.connect(), eve.connect()]);
    await dan2.close();

    await dan.requestContact('mu-eve', 'hi');
    await eventually(async () => (await eve.relations()).some((r) => r.user === 'mu-dan' && r.state === 'pending'), 5000, 'eve has the request');
    const answered = next(dan, 'contactAnswer');
    await eve.requestContact('mu-dan');
    assert.deepEqual(await answered, { user: 'mu-eve', accepted: true }, 'the second request accepts the first');
    assert.deepEqual(await eve.contacts(), ['mu-dan']);
    await eventually(async () => (await dan.contacts()).includes('mu-eve'), 5000, 'a contact on both sides');
    await dan.block('mu-frank');

    dan2 = await clientFor(relay, 'mu-dan', { storage: store2, deviceId: 'mu-d2' }, open);
    await dan2.connect();
    await eventually(async () => (await dan2.contacts()).includes('mu-eve') && (await dan2.blocked()).includes('mu-frank'), 5000, 'the offline device catches up');
    await dan2.close();
    dan2 = await clientFor(relay, 'mu-dan', { storage: store2, deviceId: 'mu-d2' }, open); // not connected
    assert.deepEqual(await dan2.contacts(), ['mu-eve'], 'contacts() offline, from the cache');
    assert.deepEqual(await dan2.blocked(), ['mu-frank'], 'blocked() offline, from the cache');
  });

  test('removing a request withdraws it on both sides: contactAnswer, not accepted, on the requester\'s devices; contact at the user asked', async () => {
    const ann = await clientFor(relay, 'wd-ann', {}, open);
    const ann2 = await clientFor(relay, 'wd-ann', {}, open);
    const ben = await clientFor(relay, 'wd-ben', {}, open);
    await Promise.all([ann.connect(), ann2.connect(), ben.connect()]);
    const asked = next(ben, 'contactRequest');
    await ann.requestContact('wd-ben', 'hello');
    await asked;
    await eventually(async () => (await ann2.relations()).some((r) => r.state === 'requested'), 5000, "ann's other device has the request");
    const ended = next(ann2, 'contactAnswer');
    const gone = next(ben, 'contact', (r) => r.user === 'wd-ann');
    const answers = [];
    ben.on('contactAnswer', (a) => answers.push(a));
    await ann.removeContact('wd-ben');
    assert.deepEqual(await ended, { user: 'wd-ben', accepted: false });
    assert.ok(!(await gone).state, 'no relation left at ben');
    assert.deepEqual(await ann.relations(), []);
    assert.deepEqual(await ben.relations(), []);
    assert.deepEqual(answers, [], 'ben answered nothing');
    await assert.rejects(ben.answerContact('wd-ann', true), isParley(Codes.NoRequest));
  });

  test('a blocked user is refused with 4275, for messages and requests, until unblocked', async () => {
    const bob = await clientFor(relay, 'bl-bob', {}, open);
    const bob2 = await clientFor(relay, 'bl-bob', {}, open);
    const carol = await clientFor(relay, 'bl-carol', {}, open);
    const dave = await clientFor(relay, 'bl-dave', {}, open);
    await Promise.all([bob.connect(), bob2.connect(), carol.connect(), dave.connect()]);
    const conv = carol.p2p('bl-bob');
    await carol.sendText(conv, 'before the block');

    await bob.block('bl-carol');
    assert.deepEqual(await bob.blocked(), ['bl-carol']);
    await eventually(async () => (await bob2.blocked()).includes('bl-carol'), 5000, "the block reaches bob's other device");

    await assert.rejects(carol.sendText(conv, 'after the block'), isParley(Codes.Blocked));
    const failed = (await carol.messages(conv)).find((m) => m.text === 'after the block');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.errorCode, Codes.Blocked);
    await assert.rejects(carol.requestContact('bl-bob'), isParley(Codes.Blocked));
    // Others are not affected, and bob may still write to carol.
    await dave.sendText(dave.p2p('bl-bob'), 'from dave');
    await bob.sendText(conv, 'bob to carol');
    await bob.waitSynced();
    assert.deepEqual((await bob.messages(conv)).map((m) => m.text), ['before the block', 'bob to carol'], 'nothing of the blocked send reached bob');

    await bob2.unblock('bl-carol');
    await eventually(async () => (await bob.blocked()).length === 0, 5000, 'the unblock reaches the first device');
    await carol.resend(failed.clientId);
    await eventually(async () => (await bob.messages(conv)).some((m) => m.text === 'after the block'), 5000, 'the resent message arrives');
  });

  test('a block keeps a contact a contact and leaves groups alone', async () => {
    const kim = await clientFor(relay, 'bk-kim', {}, open);
    const lee = await clientFor(relay, 'bk-lee', {}, open);
    await Promise.all([kim.connect(), lee.connect()]);
    await kim.requestContact('bk-lee');
    await eventually(async () => (await lee.relations()).some((r) => r.state === 'pending'), 5000, 'the request');
    await lee.answerContact('bk-kim', true);
    await eventually(async () => (await kim.contacts()).includes('bk-lee'), 5000, 'contacts');
    const g = await lee.createGroup('both', ['bk-kim']);

    await kim.block('bk-lee');
    assert.deepEqual(await kim.contacts(), ['bk-lee'], 'still a contact');
    assert.deepEqual((await kim.relations()).map((r) => [r.user, r.state, r.blocked]), [['bk-lee', 'contact', true]]);
    await eventually(async () => (await lee.contacts()).includes('bk-kim'), 5000, 'still a contact at lee');
    await assert.rejects(lee.sendText(lee.p2p('bk-kim'), 'one to one'), isParley(Codes.Blocked));
    const m = await lee.sendText(g.id, 'in the group');
    await eventually(async () => (await kim.messages(g.id)).some((x) => x.id === m.id), 5000, 'the group message reaches kim');
  });

  test('contacts only: non-contacts are refused with 4276, contacts are not', async () => {
    const erin = await clientFor(relay, 'co-erin', {}, open);
    const frank = await clientFor(relay, 'co-frank', {}, open);
    const gina = await clientFor(relay, 'co-gina', {}, open);
    await Promise.all([erin.connect(), frank.connect(), gina.connect()]);
    await frank.requestContact('co-erin');
    await eventually(async () => (await erin.relations()).some((r) => r.state === 'pending'), 5000, 'the request');
    await erin.answerContact('co-frank', true);
    await erin.setContactsOnly(true);
    assert.equal(await erin.contactsOnly(), true);
    await assert.rejects(gina.sendText(gina.p2p('co-erin'), 'hello?'), isParley(Codes.ContactsOnly));
    await frank.sendText(frank.p2p('co-erin'), 'hello, contact');
    await gina.requestContact('co-erin'); // requests still arrive
    await erin.setContactsOnly(false);
    await gina.sendText(gina.p2p('co-erin'), 'hello again');
  });
});

describe('conversation settings', () => {
  test('pin, mute and hide reach a second device and an offline one; drafts stay on the device', async () => {
    const store1 = savedStorage();
    const store3 = savedStorage();
    const alice = await clientFor(relay, 'st-alice', { storage: store1, deviceId: 'st-a1' }, open);
    const alice2 = await clientFor(relay, 'st-alice', { deviceId: 'st-a2' }, open);
    let alice3 = await clientFor(relay, 'st-alice', { storage: store3, deviceId: 'st-a3' }, open);
    const bob = await clientFor(relay, 'st-bob', {}, open);
    const carol = await clientFor(relay, 'st-carol', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), alice3.connect(), bob.connect(), carol.connect()]);
    const withBob = bob.p2p('st-alice');
    const withCarol = carol.p2p('st-alice');
    await bob.sendText(withBob, 'one');
    await bob.sendText(withBob, 'two');
    await carol.sendText(withCarol, 'three');
    // An ack reaches the sender before the delivery reaches alice's devices.
    for (const c of [alice, alice2, alice3]) {
      await eventually(async () => (await c.totalUnread()) === 3, 5000, 'three unread on every device');
    }
    // alice3 goes offline before the settings change.
    await alice3.close();

    const totals = [];
    alice.on('totalUnread', (n) => totals.push(n));
    await alice.setConversation(withBob, { muted: true, pinned: true });
    assert.equal(await alice.totalUnread(), 1, 'a muted conversation is not counted');
    await eventually(() => totals.includes(1), 5000, 'the totalUnread event');
    const muted = await alice.conversation(withBob);
    assert.equal(muted.muted, true);
    assert.equal(muted.pinned, true);
    assert.equal((await alice.conversations())[0].id, withBob, 'pinned first, though not the newest');

    // The second device, connected: the settings arrive live.
    await eventually(async () => (await alice2.conversation(withBob))?.muted === true, 5000, 'mute on the second device');
    assert.equal((await alice2.conversation(withBob)).pinned, true);
    assert.equal(await alice2.totalUnread(), 1);

    // Hidden until a newer message arrives.
    await alice.setConversation(withCarol, { hidden: true });
    assert.ok(!(await alice.conversations()).some((c) => c.id === withCarol), 'hidden from the list');
    assert.equal((await alice.conversation(withCarol)).hidden, true);
    assert.equal(await alice.totalUnread(), 0);

    // A draft: in this device's cache, nowhere else.
    await alice.setDraft(withBob, 'half a thought');
    assert.equal((await alice.conversation(withBob)).draft, 'half a thought');
    assert.equal(store1.db.meta.account.drafts[0].text, 'half a thought', 'persisted in the local cache');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await alice2.conversation(withBob)).draft, undefined, 'drafts never leave the device');

    // The offline device reconnects: from its cache first, then the feed.
    alice3 = await clientFor(relay, 'st-alice', { storage: store3, deviceId: 'st-a3' }, open);
    assert.equal((await alice3.conversation(withBob)).muted, undefined, 'the cache predates the settings');
    await alice3.connect();
    await eventually(async () => (await alice3.conversation(withBob))?.muted === true, 5000, 'mute reaches the offline device');
    const c3 = await alice3.conversation(withBob);
    assert.equal(c3.pinned, true);
    assert.equal(c3.draft, undefined, "another device's draft");
    await eventually(async () => (await alice3.conversation(withCarol))?.hidden === true, 5000, 'hide reaches the offline device');
    assert.equal(await alice3.totalUnread(), 0);

    // A new message shows the hidden conversation again, on every device.
    await carol.sendText(withCarol, 'four');
    for (const c of [alice, alice3]) {
      await eventually(async () => (await c.conversations()).some((x) => x.id === withCarol), 5000, 'the conversation shows again');
      assert.equal((await c.conversation(withCarol)).hidden, undefined);
    }
    assert.equal(await alice.totalUnread(), 2);

    // The first device restarts from its cache: the draft is there, offline.
    await alice.close();
    const again = await clientFor(relay, 'st-alice', { storage: store1, deviceId: 'st-a1' }, open);
    assert.equal((await again.conversation(withBob)).draft, 'half a thought');
    assert.equal((await again.conversation(withBob)).muted, true);
    await again.setDraft(withBob, '');
    assert.equal((await again.conversation(withBob)).draft, undefined, 'cleared');

    // Bad arguments are refused at once.
    await assert.rejects(alice2.setConversation(withBob, {}), isParley(Codes.InvalidArgument));
    await assert.rejects(alice2.setConversation(withBob, { pinned: 'yes' }), isParley(Codes.InvalidArgument));
    await assert.rejects(alice2.setConversation('g:not-mine', { pinned: true }), isParley(Codes.Forbidden));
  });
  test('hidden: false shows a hidden conversation at once, with its unread, here and on a device offline meanwhile', async () => {
    const store2 = savedStorage();
    const alice = await clientFor(relay, 'uh-alice', { deviceId: 'uh-a1' }, open);
    let alice2 = await clientFor(relay, 'uh-alice', { storage: store2, deviceId: 'uh-a2' }, open);
    const bob = await clientFor(relay, 'uh-bob', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), bob.connect()]);
    const conv = bob.p2p('uh-alice');
    await bob.sendText(conv, 'one');
    for (const c of [alice, alice2]) {
      await eventually(async () => (await c.totalUnread()) === 1, 5000, 'one unread on both devices');
    }
    await alice.setConversation(conv, { hidden: true });
    await eventually(async () => (await alice2.conversation(conv))?.hidden === true, 5000, 'hidden on the second device');
    assert.equal(await alice2.totalUnread(), 0);
    await alice2.close();

    const totals = [];
    alice.on('totalUnread', (n) => totals.push(n));
    await alice.setConversation(conv, { hidden: false });
    assert.ok((await alice.conversations()).some((c) => c.id === conv), 'listed again at once');
    assert.equal((await alice.conversation(conv)).hidden, undefined);
    assert.equal(await alice.totalUnread(), 1, 'its unread counts again');
    await eventually(() => totals.includes(1), 5000, 'the totalUnread event');

    alice2 = await clientFor(relay, 'uh-alice', { storage: store2, deviceId: 'uh-a2' }, open);
    assert.equal((await alice2.conversation(conv)).hidden, true, 'the cache predates the change');
    await alice2.connect();
    await eventually(async () => (await alice2.conversations()).some((c) => c.id === conv), 5000, 'shown on the device offline meanwhile');
    assert.equal(await alice2.totalUnread(), 1);
  });
  test('a hidden conversation stays hidden through reactions, edits and recalls, here and on a device offline meanwhile; a message shows it', async () => {
    const store2 = savedStorage();
    const alice = await clientFor(relay, 'hr-alice', { deviceId: 'hr-a1' }, open);
    let alice2 = await clientFor(relay, 'hr-alice', { storage: store2, deviceId: 'hr-a2' }, open);
    const bob = await clientFor(relay, 'hr-bob', {}, open);
    await Promise.all([alice.connect(), alice2.connect(), bob.connect()]);
    const conv = bob.p2p('hr-alice');
    const m1 = await bob.sendText(conv, 'one');
    const m2 = await alice.sendText(conv, 'two');
    for (const c of [alice, alice2]) {
      await eventually(async () => (await c.conversation(conv))?.lastSeq === m2.seq, 5000, 'both messages on both devices');
    }
    await alice.setConversation(conv, { hidden: true });
    await eventually(async () => (await alice2.conversation(conv))?.hidden === true, 5000, 'hidden on the second device');
    await alice2.close();

    await bob.react(m2.id, '👍');
    await bob.edit(m1.id, 'one, edited');
    await bob.recall(m1.id);
    await eventually(async () => (await alice.conversation(conv))?.lastSeq === m2.seq + 3, 5000, 'the three events reach alice');
    const shown = async (c) => (await c.conversations()).some((x) => x.id === conv);
    assert.equal((await alice.conversation(conv)).hidden, true, 'no newer message: still hidden');
    assert.equal(await shown(alice), false);
    assert.equal(await alice.totalUnread(), 0);

    alice2 = await clientFor(relay, 'hr-alice', { storage: store2, deviceId: 'hr-a2' }, open);
    await alice2.connect();
    await alice2.waitSynced();
    await eventually(async () => (await alice2.conversation(conv))?.lastSeq === m2.seq + 3, 5000, 'the events reach the offline device');
    assert.equal((await alice2.conversation(conv)).hidden, true, 'still hidden on the device offline meanwhile');
    assert.equal(await shown(alice2), false);

    await bob.sendText(conv, 'three');
    for (const c of [alice, alice2]) {
      await eventually(() => shown(c), 5000, 'a newer message shows it');
    }
  });
  test('totalUnread fires on a device when another device of the user reads, and when a conversation is hidden', async () => {
    const ida = await clientFor(relay, 'tu-ida', {}, open);
    const ida2 = await clientFor(relay, 'tu-ida', {}, open);
    const jon = await clientFor(relay, 'tu-jon', {}, open);
    await Promise.all([ida.connect(), ida2.connect(), jon.connect()]);
    const conv = jon.p2p('tu-ida');
    const m = await jon.sendText(conv, 'one');
    await jon.sendText(conv, 'two');
    await eventually(async () => (await ida2.totalUnread()) === 2, 5000, 'two unread on the second device');
    const one = next(ida2, 'totalUnread', (n) => n === 1);
    await ida.markRead(conv, m.seq);
    await one;
    const zero = next(ida2, 'totalUnread', (n) => n === 0);
    await ida.setConversation(conv, { hidden: true });
    await zero;
  });
});
