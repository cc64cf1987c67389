// Timed mutes in a group end without a word from the relay: the muted
// member's client emits the conversation again when mutedUntil passes, once,
// and only for the mute the newest state of the conversation holds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { clientFor, closeAll, eventually, next, startRelay } from './helpers.mjs';

const open = [];
let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await closeAll(open);
  await relay?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** group creates a group of admin and member, both connected; it returns the clients and the group id. */
async function group(prefix) {
  const [admin, member] = await Promise.all([`${prefix}admin`, `${prefix}member`].map((u) => clientFor(relay, u, {}, open)));
  await Promise.all([admin.connect(), member.connect()]);
  const g = await admin.createGroup('Quiet please', [`${prefix}member`]);
  await eventually(async () => (await member.conversation(g.id))?.role === 'member', 10000, 'the member joins');
  return { admin, member, id: g.id };
}

/** record collects the member's conversation events of the group, each with the time it came. */
function record(client, id) {
  const seen = [];
  const off = client.on('conversation', (c) => {
    if (c.id === id) seen.push({ at: Date.now(), c });
  });
  return { seen, off };
}

describe('a timed mute', () => {
  test('runs out: the conversation is emitted once with mutedInGroup false, not before the end', async () => {
    const { admin, member, id } = await group('mt1');
    const { seen, off } = record(member, id);
    // Each wait starts before the change that causes it: the member's
    // push may come before the admin's answer.
    const until = Date.now() + 1500;
    const mutedP = next(member, 'conversation', (c) => c.id === id && c.mutedInGroup === true);
    const endedP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === until && c.mutedInGroup === false, 10000);
    await admin.muteMember(id, 'mt1member', until);
    const muted = await mutedP;
    assert.equal(muted.mutedUntil, until);

    const ended = await endedP;
    assert.ok(Date.now() >= until, `emitted ${until - Date.now()} ms before the mute ended`);
    assert.equal(ended.mutedUntil, until);
    assert.equal((await member.conversation(id)).mutedInGroup, false);
    assert.ok((await member.conversations()).some((c) => c.id === id && c.mutedInGroup === false));

    await sleep(1000);
    off();
    const afterEnd = seen.filter((e) => e.c.mutedUntil === until && !e.c.mutedInGroup);
    assert.equal(afterEnd.length, 1, 'one event for the end of the mute');
    assert.ok(afterEnd[0].at >= until);
    assert.ok(seen.every((e) => e.at >= until || e.c.mutedInGroup !== false), 'no unmuted state before the end');
  });

  test('extended, then lifted early: only the newest mute ends, and a lifted one sends nothing late', async () => {
    const { admin, member, id } = await group('mt2');
    const { seen, off } = record(member, id);

    // Extended before it ran out: nothing at the first end, one event at the second.
    const first = Date.now() + 1500;
    const firstP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === first);
    await admin.muteMember(id, 'mt2member', first);
    await firstP;
    const second = Date.now() + 2500;
    const secondP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === second && c.mutedInGroup === true);
    const endedP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === second && c.mutedInGroup === false, 12000);
    await admin.muteMember(id, 'mt2member', second);
    await secondP;
    const ended = await endedP;
    assert.ok(Date.now() >= second, `emitted ${second - Date.now()} ms before the extended mute ended`);
    assert.equal(ended.mutedUntil, second);

    await sleep(500);
    assert.equal(seen.filter((e) => e.c.mutedUntil === second && e.c.mutedInGroup === false).length, 1, 'one event for the extended mute');

    // Lifted early: the lift's own event says so, and the timer is gone.
    const third = Date.now() + 1500;
    const thirdP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === third && c.mutedInGroup === true);
    await admin.muteMember(id, 'mt2member', third);
    await thirdP;
    const liftP = next(member, 'conversation', (c) => c.id === id && c.mutedUntil === undefined);
    await admin.muteMember(id, 'mt2member', 0);
    await liftP;
    const lifted = seen.length;
    await sleep(third - Date.now() + 1000);
    off();
    assert.deepEqual(seen.slice(lifted).map((e) => e.c), [], 'no event after the lift');
    assert.equal(seen.filter((e) => e.c.mutedUntil === first && e.c.mutedInGroup === false).length, 0, 'nothing for the replaced mute');
  });

  test('a client closed while muted emits nothing more', async () => {
    const { admin, member, id } = await group('mt3');
    const { seen, off } = record(member, id);
    const until = Date.now() + 1500;
    const mutedP = next(member, 'conversation', (c) => c.id === id && c.mutedInGroup === true);
    await admin.muteMember(id, 'mt3member', until);
    await mutedP;
    const before = seen.length;
    await member.close();
    await sleep(until - Date.now() + 1000);
    off();
    assert.deepEqual(seen.slice(before).map((e) => e.c), [], 'no event after close()');
  });

  // A mute's timer keeps nothing alive after close(): a script ends by itself.
  test('a script muted for 30 days exits soon after it closes its client', async () => {
    const { admin, id } = await group('mt4');
    // More than setTimeout's longest delay too: the wait goes in steps.
    await admin.muteMember(id, 'mt4member', Date.now() + 30 * 24 * 3600_000);
    const script = fileURLToPath(new URL('./fixtures/exit-while-muted.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, relay.ws, relay.token('mt4member'), id], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve([Date.now(), code])));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    const [end, code] = await exited;
    clearTimeout(killer);
    assert.equal(code, 0, `the script failed: ${out}`);
    const closed = Number(/closed (\d+)/.exec(out)?.[1]);
    assert.ok(closed > 0, `the script closed its client: ${out}`);
    assert.ok(end - closed < 3000, `exited ${end - closed} ms after close()`);
  });
});
