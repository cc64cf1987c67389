// Groups end to end: the npm package in Node against the real relay. A
// group's whole life with a member who is offline throughout and converges
// after reconnecting; every forbidden operation for every role refused with
// its code and nothing changed; consent invitations.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Codes } from '@parley-im/sdk';
import { WebSocket as WS } from 'ws';
import { clientFor, closeAll, eventually, next, Relay, savedStorage, startRelay } from './helpers.mjs';

const open = [];
let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await closeAll(open);
  await relay?.stop();
});

/** code resolves with the ParleyError code a promise rejects with, 0 when it resolves. */
async function code(p) {
  try {
    await p;
    return 0;
  } catch (e) {
    return e.code;
  }
}

/** events lists the system events of a conversation, in order. */
async function events(client, id) {
  const msgs = await client.messages(id, { limit: 200 });
  return msgs.filter((m) => m.type === 'system').map((m) => m.body.event);
}

describe('a group from creation to dismissal', () => {
  test('create, invite, promote, mute, remove, transfer, dismiss; an offline member converges', async () => {
    const [alice, bob, carol, dave] = await Promise.all(['g1alice', 'g1bob', 'g1carol', 'g1dave'].map((u) => clientFor(relay, u, {}, open)));
    await Promise.all([alice.connect(), bob.connect(), carol.connect(), dave.connect()]);
    const g = await alice.createGroup('Trip', ['g1bob', 'g1carol', 'g1dave'], { notice: 'pack light', joinPolicy: 'approval' });
    assert.equal(g.role, 'owner');
    assert.equal(g.joinPolicy, 'approval');
    assert.equal(g.notice, 'pack light');
    // dave sees the group, then goes offline for the rest of its life.
    await eventually(async () => (await dave.conversation(g.id))?.role === 'member', 10000, 'dave sees the group');
    await dave.close();

    await alice.addMembers(g.id, ['g1erin']);
    await alice.setRole(g.id, 'g1bob', 'admin');
    await eventually(async () => (await bob.conversation(g.id))?.role === 'admin', 10000, "bob's role reaches bob");
    // bob (admin) mutes carol: her sends are refused with 4224.
    await bob.muteMember(g.id, 'g1carol', Date.now() + 3_600_000);
    await eventually(async () => (await carol.conversation(g.id))?.mutedInGroup === true, 10000, 'carol sees she is muted');
    const refused = await carol.sendText(g.id, 'can I speak?').then(() => 0, (e) => e.code);
    assert.equal(refused, Codes.Muted);
    await bob.muteMember(g.id, 'g1carol', 0);
    await bob.muteAll(g.id, true);
    await alice.sendText(g.id, 'owners speak during mute all');
    await bob.muteAll(g.id, false);
    await carol.sendText(g.id, 'hello again');
    await bob.updateGroup(g.id, { name: 'Trip 2027', avatar: 'https://example.com/trip.png' });
    await bob.removeMembers(g.id, ['g1erin']);
    const members = await alice.members(g.id);
    assert.deepEqual(members.map((m) => [m.user, m.role]), [['g1alice', 'owner'], ['g1bob', 'admin'], ['g1carol', 'member'], ['g1dave', 'member']]);
    await alice.transferGroup(g.id, 'g1bob');
    assert.equal(await code(alice.dismissGroup(g.id)), Codes.Role, 'the former owner cannot dismiss');
    await carol.leaveGroup(g.id);
    await eventually(async () => (await carol.conversation(g.id))?.role === undefined, 10000, 'carol left');
    await bob.dismissGroup(g.id);
    assert.equal(await code(bob.sendText(g.id, 'anyone?')), Codes.Forbidden);

    // dave comes back: one sync brings the whole life, in order.
    const dave2 = await clientFor(relay, 'g1dave', {}, open);
    await dave2.connect();
    await dave2.waitSynced();
    const seen = await dave2.conversation(g.id);
    assert.equal(seen.role, undefined, 'no role in a dismissed group');
    assert.equal(seen.name, 'Trip 2027');
    const created = (await dave2.messages(g.id, { limit: 200 }))[0];
    assert.equal(created.seq, 1, 'the created message is the first entry');
    assert.deepEqual([created.type, created.body.event, created.body.by, created.body.users], ['system', 'created', 'g1alice', ['g1bob', 'g1carol', 'g1dave']]);
    assert.deepEqual(await events(dave2, g.id), ['created', 'added', 'role', 'muted', 'muted', 'muteAll', 'muteAll', 'updated', 'removed', 'transferred', 'left', 'dismissed']);
    const texts = (await dave2.messages(g.id, { limit: 200 })).filter((m) => m.type === 'text').map((m) => m.text);
    assert.deepEqual(texts, ['owners speak during mute all', 'hello again']);
    const last = (await dave2.messages(g.id, { limit: 200 })).at(-1);
    assert.deepEqual(last.body, { event: 'dismissed', by: 'g1bob' });
  });
  test("a member's device offline through role, mute and group changes shows them all after its sync, from its cache", async () => {
    const store = savedStorage();
    const alice = await clientFor(relay, 'g5alice', {}, open);
    let bob = await clientFor(relay, 'g5bob', { storage: store }, open);
    await Promise.all([alice.connect(), bob.connect()]);
    const g = await alice.createGroup('Before', ['g5bob', 'g5carol']);
    await eventually(async () => (await bob.conversation(g.id))?.role === 'member', 10000, 'bob sees the group');
    await bob.close();

    const until = Date.now() + 3_600_000;
    await alice.updateGroup(g.id, { name: 'After', avatar: 'https://example.com/a.png', notice: 'be kind', custom: '{"k":1}', joinPolicy: 'open' });
    await alice.muteMember(g.id, 'g5bob', until);
    await alice.muteAll(g.id, true);

    bob = await clientFor(relay, 'g5bob', { storage: store }, open);
    assert.equal((await bob.conversation(g.id)).name, 'Before', 'the cache predates the changes');
    await bob.connect();
    await eventually(async () => (await bob.conversation(g.id))?.muteAll === true, 10000, 'the last change reaches bob');
    const c = await bob.conversation(g.id);
    assert.deepEqual(
      [c.name, c.avatar, c.notice, c.custom, c.joinPolicy, c.role, c.mutedInGroup, c.mutedUntil],
      ['After', 'https://example.com/a.png', 'be kind', '{"k":1}', 'open', 'member', true, until],
    );
    assert.equal(await code(bob.sendText(g.id, 'muted?')), Codes.Muted);

    // Promoted while offline again: an admin speaks during mute all, and may unmute.
    await bob.close();
    await alice.setRole(g.id, 'g5bob', 'admin');
    await alice.muteMember(g.id, 'g5bob', 0);
    bob = await clientFor(relay, 'g5bob', { storage: store }, open);
    await bob.connect();
    await eventually(async () => (await bob.conversation(g.id))?.role === 'admin', 10000, 'the promotion reaches bob');
    await eventually(async () => !(await bob.conversation(g.id))?.mutedInGroup, 10000, 'the unmute reaches bob');
    assert.equal((await bob.conversation(g.id)).mutedUntil, undefined);
    await bob.sendText(g.id, 'admins speak during mute all');
  });
  test("a join request reaches an admin's device offline when it came; answered by another admin, every device gets it done", async () => {
    const store = savedStorage();
    const owner = await clientFor(relay, 'jr-owner', {}, open);
    let admin = await clientFor(relay, 'jr-admin', { storage: store }, open);
    const asker = await clientFor(relay, 'jr-asker', {}, open);
    await Promise.all([owner.connect(), admin.connect(), asker.connect()]);
    const g = await owner.createGroup('Club', ['jr-admin'], { joinPolicy: 'approval' });
    await owner.setRole(g.id, 'jr-admin', 'admin');
    await eventually(async () => (await admin.conversation(g.id))?.role === 'admin', 10000, 'the admin knows');
    await admin.close();
    open.splice(open.indexOf(admin), 1);

    const atOwner = next(owner, 'joinRequest', (n) => n.user === 'jr-asker' && !n.done);
    await asker.requestJoin(g.id, 'let me in');
    await atOwner;

    admin = await clientFor(relay, 'jr-admin', { storage: store }, open);
    const seen = next(admin, 'joinRequest', (n) => n.user === 'jr-asker' && !n.done);
    await admin.connect();
    const n = await seen;
    assert.deepEqual([n.conversationId, n.note], [g.id, 'let me in']);
    assert.deepEqual((await admin.joinRequests(g.id)).map((r) => r.user), ['jr-asker']);

    const done = [owner, admin].map((c) => next(c, 'joinRequest', (x) => x.user === 'jr-asker' && x.done));
    await owner.answerJoin(g.id, 'jr-asker', true);
    await Promise.all(done);
    assert.deepEqual(await admin.joinRequests(g.id), []);
    await eventually(async () => (await asker.conversation(g.id))?.role === 'member', 10000, 'the asker joined');
  });
  test('a mute ends by itself at its time: sends go through again and mutedInGroup is false', async () => {
    const owner = await clientFor(relay, 'mx-owner', {}, open);
    const member = await clientFor(relay, 'mx-member', {}, open);
    await Promise.all([owner.connect(), member.connect()]);
    const g = await owner.createGroup('Quiet', ['mx-member']);
    const until = Date.now() + 1500;
    await owner.muteMember(g.id, 'mx-member', until);
    await eventually(async () => (await member.conversation(g.id))?.mutedInGroup === true, 10000, 'muted');
    assert.equal(await code(member.sendText(g.id, 'now?')), Codes.Muted);
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 200));
    const c = await member.conversation(g.id);
    assert.deepEqual([c.mutedInGroup, c.mutedUntil], [false, until]);
    await member.sendText(g.id, 'after the mute');
  });
});

describe('bad input', () => {
  test('every forbidden operation for every role is refused with its code, nothing changed', async () => {
    const [owner, admin, member] = await Promise.all(['g2owner', 'g2admin', 'g2member'].map((u) => clientFor(relay, u, {}, open)));
    const outsider = await clientFor(relay, 'g2outsider', {}, open);
    await Promise.all([owner.connect(), admin.connect(), member.connect(), outsider.connect()]);
    const g = await owner.createGroup('Rules', ['g2admin', 'g2member', 'g2member2']);
    await owner.setRole(g.id, 'g2admin', 'admin');
    await eventually(async () => (await admin.conversation(g.id))?.role === 'admin', 10000, 'admin promoted');
    const snapshot = async () => JSON.stringify([await owner.members(g.id), (await owner.history(g.id, { limit: 500 })).messages.map((m) => m.id)]);
    const before = await snapshot();
    const cases = [
      ['member updates', member, (c) => c.updateGroup(g.id, { name: 'x' }), Codes.Role],
      ['member adds', member, (c) => c.addMembers(g.id, ['g2new']), Codes.Role],
      ['member removes', member, (c) => c.removeMembers(g.id, ['g2member2']), Codes.Role],
      ['member mutes', member, (c) => c.muteMember(g.id, 'g2member2', Date.now() + 60000), Codes.Role],
      ['member mutes all', member, (c) => c.muteAll(g.id, true), Codes.Role],
      ['member promotes', member, (c) => c.setRole(g.id, 'g2member', 'admin'), Codes.Role],
      ['member transfers', member, (c) => c.transferGroup(g.id, 'g2member2'), Codes.Role],
      ['member dismisses', member, (c) => c.dismissGroup(g.id), Codes.Role],
      ['member answers a request', member, (c) => c.answerJoin(g.id, 'g2outsider', true), Codes.Role],
      ['admin removes the owner', admin, (c) => c.removeMembers(g.id, ['g2owner']), Codes.Rank],
      ['admin removes itself', admin, (c) => c.removeMembers(g.id, ['g2admin']), Codes.Rank],
      ['admin mutes the owner', admin, (c) => c.muteMember(g.id, 'g2owner', Date.now() + 60000), Codes.Rank],
      ['admin sets a role', admin, (c) => c.setRole(g.id, 'g2member', 'admin'), Codes.Role],
      ['admin transfers', admin, (c) => c.transferGroup(g.id, 'g2member'), Codes.Role],
      ['admin dismisses', admin, (c) => c.dismissGroup(g.id), Codes.Role],
      ['admin removes a stranger', admin, (c) => c.removeMembers(g.id, ['g2stranger']), Codes.NotMember],
      ['admin answers no request', admin, (c) => c.answerJoin(g.id, 'g2stranger', true), Codes.NoPending],
      ['owner leaves', owner, (c) => c.leaveGroup(g.id), Codes.OwnerLeave],
      ['owner removes itself', owner, (c) => c.removeMembers(g.id, ['g2owner']), Codes.Rank],
      ['owner transfers to a stranger', owner, (c) => c.transferGroup(g.id, 'g2stranger'), Codes.NotMember],
      ['outsider adds', outsider, (c) => c.addMembers(g.id, ['g2outsider']), Codes.Forbidden],
      ['outsider reads members', outsider, (c) => c.members(g.id), Codes.Forbidden],
      ['outsider asks to join an invite-only group', outsider, (c) => c.requestJoin(g.id, 'hi'), Codes.JoinPolicy],
      ['outsider answers no invitation', outsider, (c) => c.answerInvite(g.id, true), Codes.NoPending],
      ['bad role', owner, (c) => c.setRole(g.id, 'g2member', 'owner'), Codes.InvalidArgument],
      ['bad join policy', owner, (c) => c.updateGroup(g.id, { joinPolicy: 'anyone' }), Codes.InvalidArgument],
      ['not a group', owner, (c) => c.leaveGroup('p:a:b'), Codes.InvalidArgument],
    ];
    for (const [name, client, op, want] of cases) {
      assert.equal(await code(op(client)), want, name);
    }
    assert.equal(await snapshot(), before, 'the group is unchanged');
  });
});

describe('history visibility across leave and re-join', () => {
  test('carol, removed and added again, reads before and after, nothing in between; so does a device offline throughout', async () => {
    const texts = async (client, id) => (await client.messages(id, { limit: 200 })).filter((m) => m.type === 'text').map((m) => m.text);
    const kept = savedStorage();
    const [alice, carol] = await Promise.all(['h1alice', 'h1carol'].map((u) => clientFor(relay, u, {}, open)));
    let carol2 = await clientFor(relay, 'h1carol', { storage: kept, deviceId: 'h1carol-2' }, open);
    await Promise.all([alice.connect(), carol.connect(), carol2.connect()]);
    const g = await alice.createGroup('Diary', ['h1carol', 'h1dave']);
    await alice.sendText(g.id, 'before 1');
    await alice.sendText(g.id, 'before 2');
    await eventually(async () => (await texts(carol2, g.id)).length === 2, 10000, "carol's second device has the first messages");
    await carol2.close(); // offline from here until the end

    await alice.removeMembers(g.id, ['h1carol']);
    await eventually(async () => (await carol.conversation(g.id))?.role === undefined, 10000, 'carol sees her removal');
    await alice.sendText(g.id, 'gap 1');
    await alice.sendText(g.id, 'gap 2');
    await alice.addMembers(g.id, ['h1carol', 'h1erin']);
    await eventually(async () => (await carol.conversation(g.id))?.role === 'member', 10000, 'carol is back');
    await alice.sendText(g.id, 'after 1');

    const want = ['before 1', 'before 2', 'after 1'];
    await eventually(async () => (await texts(carol, g.id)).join() === want.join(), 10000, 'carol online: before and after');
    // The online device also pages the relay for older history: still no gap.
    const older = await carol.messages(g.id, { limit: 200, beforeSeq: (await carol.conversation(g.id)).lastSeq });
    assert.deepEqual(older.filter((m) => m.type === 'text').map((m) => m.text), ['before 1', 'before 2']);
    const events = (await carol.messages(g.id, { limit: 200 })).filter((m) => m.type === 'system').map((m) => m.body.event);
    assert.deepEqual(events, ['created', 'removed', 'added'], 'she sees the creation, her removal and her return, nothing in between');

    // The device that was offline throughout converges to the same.
    carol2 = await clientFor(relay, 'h1carol', { storage: kept, deviceId: 'h1carol-2' }, open);
    await carol2.connect();
    await carol2.waitSynced();
    await eventually(async () => (await texts(carol2, g.id)).join() === want.join(), 10000, 'carol offline throughout: before and after');
    assert.equal((await carol2.conversation(g.id)).role, 'member');
    // A device that never saw the group reads the same, and erin, added
    // later, reads from her addition only.
    const carol3 = await clientFor(relay, 'h1carol', {}, open);
    const erin = await clientFor(relay, 'h1erin', {}, open);
    await Promise.all([carol3.connect(), erin.connect()]);
    await Promise.all([carol3.waitSynced(), erin.waitSynced()]);
    await eventually(async () => (await texts(carol3, g.id)).join() === want.join(), 10000, "carol's new device");
    await eventually(async () => (await texts(erin, g.id)).join() === 'after 1', 10000, 'erin reads from her addition');
    // Search runs over what the device holds: the gap is not there.
    assert.deepEqual(await carol3.search('gap'), []);
    assert.equal((await carol3.search('before')).length, 2);
    // Read receipts of a message she could not read are refused.
    const gapSeq = (await alice.messages(g.id, { limit: 200 })).find((m) => m.text === 'gap 1').seq;
    assert.equal(await code(carol.readReceipts(g.id, gapSeq)), Codes.Forbidden);
    // Receipts of a message list only who could read it: not erin, added later.
    const firstSeq = (await alice.messages(g.id, { limit: 200 })).find((m) => m.text === 'before 1').seq;
    const receipts = await alice.readReceipts(g.id, firstSeq);
    assert.deepEqual([...receipts.read, ...receipts.unread].sort(), ['h1carol', 'h1dave']);
  });
});

describe('consent invitations', () => {
  test('with --invite-policy consent, added users are invited and join when they accept', async () => {
    const r = await new Relay({ extra: ['--invite-policy', 'consent'] }).start();
    try {
      const [alice, bob, carol] = await Promise.all(['c3alice', 'c3bob', 'c3carol'].map((u) => clientFor(r, u, {}, open)));
      await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
      const invited = next(bob, 'invitation');
      const g = await alice.createGroup('Book club', ['c3bob']);
      assert.deepEqual(g.members, ['c3alice']);
      const n = await invited;
      assert.equal(n.conversationId, g.id);
      assert.equal(n.by, 'c3alice');
      assert.deepEqual((await bob.invitations()).map((i) => i.conversationId), [g.id]);
      assert.equal(await code(bob.sendText(g.id, 'early')), Codes.Forbidden, 'not a member before accepting');
      await bob.answerInvite(g.id, true);
      await eventually(async () => (await alice.members(g.id)).length === 2, 10000, 'bob joined');
      await alice.addMembers(g.id, ['c3carol']);
      await eventually(async () => (await carol.invitations()).length === 1, 10000, "carol's invitation");
      await carol.answerInvite(g.id, false);
      assert.deepEqual((await alice.members(g.id)).map((m) => m.user), ['c3alice', 'c3bob']);
      assert.deepEqual((await carol.invitations()), []);
    } finally {
      await r.stop();
    }
  });

  test('an invitee offline throughout gets the invitation on reconnecting; the answer reaches the other device', async () => {
    const r = await new Relay({ extra: ['--invite-policy', 'consent'] }).start();
    try {
      const kept = savedStorage();
      const alice = await clientFor(r, 'c4alice', {}, open);
      let bob = await clientFor(r, 'c4bob', { storage: kept, deviceId: 'c4bob-1' }, open);
      await Promise.all([alice.connect(), bob.connect()]);
      await bob.waitSynced();
      await bob.close(); // offline until after the invitation

      const g = await alice.createGroup('Quiet', ['c4bob']);
      assert.deepEqual(g.members, ['c4alice']);
      const bob2 = await clientFor(r, 'c4bob', { deviceId: 'c4bob-2' }, open);
      const seen2 = [];
      bob2.on('invitation', (n) => seen2.push(n));
      await bob2.connect();
      await eventually(() => seen2.some((n) => n.conversationId === g.id && !n.done), 10000, "bob's second device gets the invitation from the feed");

      bob = await clientFor(r, 'c4bob', { storage: kept, deviceId: 'c4bob-1' }, open);
      const seen1 = [];
      bob.on('invitation', (n) => seen1.push(n));
      await bob.connect();
      await eventually(() => seen1.some((n) => n.conversationId === g.id && !n.done), 10000, 'the device offline throughout gets the invitation');
      assert.equal(seen1[0].by, 'c4alice');

      await bob.answerInvite(g.id, true);
      await eventually(() => seen2.some((n) => n.conversationId === g.id && n.done), 10000, 'the answer withdraws it on the other device').catch((e) => { throw new Error(e.message + ' ' + JSON.stringify(seen2)); });
      await eventually(async () => (await bob2.conversation(g.id))?.role === 'member', 10000, 'and the group appears there');
      assert.deepEqual(await bob.invitations(), []);
      // Restarted on its saved state, the answering device does not announce it again.
      await bob.close();
      bob = await clientFor(r, 'c4bob', { storage: kept, deviceId: 'c4bob-1' }, open);
      const again = [];
      bob.on('invitation', (n) => again.push(n));
      await bob.connect();
      await bob.waitSynced();
      assert.deepEqual(again.filter((n) => !n.done), [], 'no stale invitation after a restart');
    } finally {
      await r.stop();
    }
  });
});

/**
 * CutOnCreate is a WebSocket (the ws package's, as the SDK uses in Node)
 * that, once armed, writes the next create-group frame, stops reading at
 * once and drops the connection half a second later: the relay creates the
 * group, and its reply is never read.
 */
let cutArmed = false;
class CutOnCreate extends WS {
  send(data, ...rest) {
    const b = data instanceof Uint8Array ? data : new Uint8Array(data);
    // {1: 17, …}: a map whose first pair is type create-group.
    if (!(cutArmed && b[1] === 0x01 && b[2] === 0x11)) return super.send(data, ...rest);
    cutArmed = false;
    this._socket?.pause();
    super.send(data, () => setTimeout(() => this.terminate(), 500));
  }
}

describe('relay-named groups', () => {
  test('a group asked for offline, and one whose reply is lost with its connection, are each created once', async () => {
    const alice = await clientFor(relay, 'k4alice', { WebSocket: CutOnCreate }, open);
    const bob = await clientFor(relay, 'k4bob', {}, open);
    // Offline: the request waits for the connection.
    const offline = alice.createGroup('Made offline', ['k4bob']);
    await Promise.all([alice.connect(), bob.connect()]);
    const g1 = await offline;
    assert.match(g1.id, /^g:[0-9a-f]{24}$/, 'the relay named the group');
    // The connection is cut after the request is written, before its reply.
    cutArmed = true;
    const g2 = await alice.createGroup('Reply lost', ['k4bob']);
    assert.equal(cutArmed, false, 'the connection was cut during the create');
    await alice.sendText(g2.id, 'after the cut');
    await eventually(async () => (await bob.messages(g2.id)).some((m) => m.text === 'after the cut'), 10000, 'bob has the message');
    const names = async (c) => (await c.conversations()).filter((cv) => cv.type === 'group').map((cv) => cv.name).sort().join(',');
    await eventually(async () => (await names(bob)) === 'Made offline,Reply lost', 10000, "bob's two groups").catch(async (e) => {
      throw new Error(`${e.message}: bob has ${await names(bob)}`);
    });
    assert.equal(await names(alice), 'Made offline,Reply lost', 'one group each, never a second');
    // A chosen id is refused by default.
    assert.equal(await code(alice.createGroup('Chosen', ['k4bob'], { id: 'g:k4alice.chosen' })), Codes.GroupID);
  });
});
