// Group management in the web chat demo (examples/web-chat), by clicks in
// headless Chromium against a real relay: alice creates a group and runs it
// from the members panel (promote, mute, rename and notice, join requests
// under the approval policy, remove, transfer); bob, carol and erin watch
// each change arrive as a line in the conversation; dave's page is closed
// through all of it and catches up when he opens it again; bob, the new
// owner, mutes everyone and dismisses the group.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webchatSuite, openWebchat, shot, withFailureReport } from './helpers.mjs';

const env = webchatSuite();
const skip = env.skip;
const T = 30000; // every wait: the machine is shared and slow at times

/** sees waits until p shows the group change line text in the open conversation. */
function sees(x, text) {
  return x.p.getByTestId('system-message').filter({ hasText: text }).first().waitFor({ timeout: T });
}

/** openConv clicks the list row whose name contains name. */
async function openConv(x, name) {
  const row = x.p.getByTestId('conv-item').filter({ hasText: name }).first();
  await row.waitFor({ timeout: T });
  await row.click();
  await x.p.locator('.pane-title h2').filter({ hasText: name }).waitFor({ timeout: T });
}

/** role waits until the open members panel of p shows user with role. */
function role(x, user, r) {
  return x.p.locator(`[data-testid="member-${user}"][data-role="${r}"]`).waitFor({ timeout: T });
}

test('a group run from the members panel, seen by every member', { skip, timeout: 600000 }, async () => {
  const ctx = {};
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) ctx[u] = await env.browser.newContext();
  const people = {};
  try {
    await withFailureReport('web-chat-groups', () => Object.values(people), async () => {
      for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) people[u] = await openWebchat(env.relay, ctx[u], `g-${u}`);
      const { alice, bob, carol, dave, erin } = people;
      for (const x of [alice, bob, carol, dave, erin]) x.p.on('dialog', (d) => void d.accept());

      // alice creates the group; everyone in it, dave too, sees it.
      await alice.p.getByTestId('new-group').click();
      await alice.p.getByTestId('new-group-name').fill('Trip');
      await alice.p.getByTestId('new-group-members').fill('g-bob, g-carol, g-dave');
      await alice.p.getByTestId('new-group-submit').click();
      await alice.p.locator('.pane-title h2').filter({ hasText: 'Trip' }).waitFor({ timeout: T });
      for (const x of [bob, carol, dave]) await openConv(x, 'Trip');
      await dave.p.locator('.pane-title p').filter({ hasText: '4 members' }).waitFor({ timeout: T });

      // dave closes his page; he is away for everything that follows.
      await dave.p.close();

      // The members panel: alice owns it, the others are members.
      await alice.p.getByTestId('members-open').click();
      await role(alice, 'g-alice', 'owner');
      for (const u of ['g-bob', 'g-carol', 'g-dave']) await role(alice, u, 'member');
      const groupId = (await alice.p.getByTestId('members-group-id').textContent()).trim();
      assert.match(groupId, /^g:/);
      await shot(alice.p, 'web-chat-groups-panel.png');

      // Promote bob.
      await alice.p.getByTestId('member-promote-g-bob').click();
      await role(alice, 'g-bob', 'admin');
      for (const x of [bob, carol]) await sees(x, 'g-alice made g-bob an admin');

      // Mute carol: her composer says so, and a send is refused with its code.
      await alice.p.getByTestId('member-mute-g-carol').click();
      await alice.p.getByTestId('member-muted-g-carol').waitFor({ timeout: T });
      await sees(bob, 'g-alice muted g-carol until');
      await carol.p.locator('[data-testid="composer-note"][data-why="muted"]').waitFor({ timeout: T });
      await carol.p.getByTestId('composer').fill('can I still talk?');
      await carol.p.getByTestId('composer').press('Enter');
      const refused = carol.p.locator('[data-testid="message"][data-status="failed"]').filter({ hasText: 'can I still talk?' });
      await refused.waitFor({ timeout: T });
      assert.match(await refused.locator('.failed-row').textContent(), /4224 muted/);
      await shot(carol.p, 'web-chat-groups-muted.png');

      // A new name and a notice, then the approval policy.
      await alice.p.getByTestId('group-name-input').fill('Trip 2026');
      await alice.p.getByTestId('group-notice-input').fill('Bring boots');
      await alice.p.getByTestId('group-save').click();
      for (const x of [bob, carol]) {
        await sees(x, 'g-alice renamed the group to “Trip 2026” and set the notice to “Bring boots”');
        await x.p.getByTestId('group-notice').filter({ hasText: 'Bring boots' }).waitFor({ timeout: T });
        await x.p.getByTestId('conv-item').filter({ hasText: 'Trip 2026' }).waitFor({ timeout: T });
      }
      await alice.p.getByTestId('group-policy').selectOption('approval');
      await alice.p.getByTestId('group-save').click();
      await sees(bob, 'g-alice set joining to “People ask, admins approve”');

      // erin asks to join with the id the panel shows; alice accepts in the panel.
      await erin.p.getByTestId('join-group').click();
      await erin.p.getByTestId('join-group-id').fill(groupId);
      await erin.p.getByTestId('join-group-note').fill('I have boots');
      await erin.p.getByTestId('join-group-submit').click();
      await erin.p.getByTestId('join-group-result').filter({ hasText: 'Request sent' }).waitFor({ timeout: T });
      await alice.p.getByTestId('join-request-g-erin').filter({ hasText: 'I have boots' }).waitFor({ timeout: T });
      await shot(alice.p, 'web-chat-groups-join-request.png');
      await alice.p.getByTestId('join-accept-g-erin').click();
      await role(alice, 'g-erin', 'member');
      await erin.p.keyboard.press('Escape');
      await openConv(erin, 'Trip 2026');
      for (const x of [bob, erin]) await sees(x, 'g-erin joined');

      // Remove carol: her page says she is out.
      await alice.p.getByTestId('member-remove-g-carol').click();
      await alice.p.getByTestId('member-g-carol').waitFor({ state: 'detached', timeout: T });
      for (const x of [bob, carol, erin]) await sees(x, 'g-alice removed g-carol');
      await carol.p.locator('[data-testid="composer-note"][data-why="gone"]').waitFor({ timeout: T });

      // Transfer to bob: alice is a member now, with no owner's buttons.
      await alice.p.getByTestId('member-transfer-g-bob').click();
      await role(alice, 'g-bob', 'owner');
      await role(alice, 'g-alice', 'member');
      assert.equal(await alice.p.getByTestId('members-dismiss').count(), 0);
      for (const x of [bob, erin]) await sees(x, 'g-alice made g-bob the owner');
      await shot(bob.p, 'web-chat-groups-bob.png');

      // dave opens his page again: every change is there.
      people.dave = await openWebchat(env.relay, ctx.dave, 'g-dave', { signIn: false });
      const dave2 = people.dave;
      dave2.p.on('dialog', (d) => void d.accept());
      await openConv(dave2, 'Trip 2026');
      for (const line of ['g-alice made g-bob an admin', 'g-alice muted g-carol until', 'g-alice renamed the group to “Trip 2026”',
        'g-erin joined', 'g-alice removed g-carol', 'g-alice made g-bob the owner']) await sees(dave2, line);
      await dave2.p.getByTestId('group-notice').filter({ hasText: 'Bring boots' }).waitFor({ timeout: T });
      await dave2.p.getByTestId('members-open').click();
      await role(dave2, 'g-bob', 'owner');
      await role(dave2, 'g-alice', 'member');
      await role(dave2, 'g-erin', 'member');
      assert.equal(await dave2.p.getByTestId('member-g-carol').count(), 0);
      await shot(dave2.p, 'web-chat-groups-dave-back.png');
      await dave2.p.getByTestId('members-close').click();

      // bob, the owner, mutes everyone: erin's composer says so.
      await bob.p.getByTestId('members-open').click();
      await bob.p.getByTestId('members-mute-all').filter({ hasText: 'Mute everyone' }).click();
      await sees(erin, 'g-bob muted everyone');
      await erin.p.locator('[data-testid="composer-note"][data-why="muteAll"]').waitFor({ timeout: T });
      await bob.p.getByTestId('members-mute-all').filter({ hasText: 'Let everyone speak' }).waitFor({ timeout: T });

      // bob dismisses the group.
      await bob.p.getByTestId('members-dismiss').click();
      for (const x of [alice, dave2, erin]) {
        await sees(x, 'g-bob dismissed the group');
        await x.p.locator('[data-testid="composer-note"][data-why="gone"]').waitFor({ timeout: T });
      }
      await alice.p.getByTestId('members-gone').waitFor({ timeout: T });
      await shot(dave2.p, 'web-chat-groups-dismissed.png');
    });
  } finally {
    await Promise.all(Object.values(ctx).map((c) => c.close().catch(() => {})));
  }
});
