// Profiles, conversation settings and devices in the web chat demo
// (examples/web-chat), by clicks in headless Chromium against a real relay.
// alice has two devices (two browser contexts): what she pins on one is
// pinned on the other; a muted conversation's unread messages do not count
// in the title; a draft stays with its conversation across switching and a
// reload; a hidden chat comes back with a new message; from one device she
// signs the other out, which then says so. bob
// sets a nickname and a picture that alice sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webchatSuite, openWebchat, shot, withFailureReport } from './helpers.mjs';

const env = webchatSuite();
const skip = env.skip;
const T = 30000;

const row = (x, name) => x.p.locator(`[data-testid="conv-item"][data-conv-id="${name}"]`);
const firstRowId = (x) => x.p.locator('[data-testid="conv-item"]').first().getAttribute('data-conv-id');

/** chat opens the one-to-one conversation with user through "New chat". */
async function chat(x, user) {
  await x.p.getByTestId('new-chat').click();
  await x.p.getByTestId('new-chat-user').fill(user);
  await x.p.getByTestId('new-chat-submit').click();
  await x.p.locator('.pane-title p').filter({ hasText: `Direct message with ${user}` }).waitFor({ timeout: T });
}

async function send(x, text) {
  await x.p.getByTestId('composer').fill(text);
  await x.p.getByTestId('composer').press('Enter');
  await x.p.locator('[data-testid="message"][data-status="sent"]').filter({ hasText: text }).waitFor({ timeout: T });
}

/** title waits until p's title starts with prefix. */
function title(x, prefix) {
  return x.p.waitForFunction((t) => document.title.startsWith(t), prefix, { timeout: T });
}

test('profiles, pin, mute, drafts and devices in the web demo', { skip, timeout: 600000 }, async () => {
  const [ca1, ca2, cb, cc] = await Promise.all([env.browser.newContext(), env.browser.newContext(), env.browser.newContext(), env.browser.newContext()]);
  const people = [];
  try {
    await withFailureReport('web-chat-settings', () => people, async () => {
      const alice = await openWebchat(env.relay, ca1, 's-alice');
      const bob = await openWebchat(env.relay, cb, 's-bob');
      const carol = await openWebchat(env.relay, cc, 's-carol');
      people.push(alice, bob, carol);
      const pBob = 'p:s-alice:s-bob';
      const pCarol = 'p:s-alice:s-carol';

      // bob sets a nickname and a picture in his profile form.
      const picture = `${env.relay.http}/favicon.svg`;
      await bob.p.getByTestId('edit-profile').click();
      await bob.p.getByTestId('profile-nickname').fill('Bobby');
      await bob.p.getByTestId('profile-avatar').fill(picture);
      await bob.p.getByTestId('profile-save').click();
      await bob.p.getByTestId('profile-dialog').waitFor({ state: 'detached', timeout: T });
      await bob.p.locator('.me-name').filter({ hasText: 'Bobby (s-bob)' }).waitFor({ timeout: T });

      // alice writes to bob, then to carol: she sees bob's nickname and picture.
      await chat(alice, 's-bob');
      await send(alice, 'hi bob');
      await chat(alice, 's-carol');
      await send(alice, 'hi carol');
      await alice.p.locator(`[data-testid="conv-item"][data-conv-id="${pBob}"] .conv-name`).filter({ hasText: 'Bobby' }).waitFor({ timeout: T });
      await row(alice, pBob).locator(`.avatar.has-picture[data-picture="${picture}"]`).waitFor({ timeout: T });
      await row(alice, pBob).click();
      await alice.p.locator('.pane-head h2').filter({ hasText: 'Bobby' }).waitFor({ timeout: T });
      await shot(alice.p, 'web-chat-settings-profile.png');

      // alice's second device: the same list, carol's chat on top (the newest).
      const alice2 = await openWebchat(env.relay, ca2, 's-alice');
      people.push(alice2);
      await row(alice2, pBob).waitFor({ timeout: T });
      await alice2.p.waitForFunction((id) => document.querySelector('[data-testid="conv-item"]')?.dataset.convId === id, pCarol, { timeout: T });

      // alice pins bob's chat on her first device: it moves to the top on both.
      await alice.p.getByTestId('pin').click();
      for (const x of [alice, alice2]) {
        await row(x, pBob).getByTestId('pinned-badge').waitFor({ timeout: T });
        await x.p.waitForFunction((id) => document.querySelector('[data-testid="conv-item"]')?.dataset.convId === id, pBob, { timeout: T });
      }
      assert.equal(await firstRowId(alice2), pBob);
      await shot(alice2.p, 'web-chat-settings-pinned.png');

      // alice mutes carol's chat, then opens a new one (nobody's unread is read).
      await row(alice, pCarol).click();
      await alice.p.getByTestId('mute').click();
      for (const x of [alice, alice2]) await row(x, pCarol).getByTestId('muted-badge').waitFor({ timeout: T });
      await chat(alice, 's-dave');

      // carol writes twice, bob once: only bob's message counts in the title.
      await chat(carol, 's-alice');
      await send(carol, 'one');
      await send(carol, 'two');
      await chat(bob, 's-alice');
      await send(bob, 'hello from bob');
      for (const x of [alice, alice2]) {
        await row(x, pCarol).locator('[data-testid="unread"]').filter({ hasText: '2' }).waitFor({ timeout: T });
        await row(x, pBob).locator('[data-testid="unread"]').filter({ hasText: '1' }).waitFor({ timeout: T });
        await title(x, '(1) s-alice');
      }
      await shot(alice2.p, 'web-chat-settings-muted.png');

      // Drafts: each chat keeps its own across switching and a reload.
      await row(alice, pBob).click();
      await alice.p.getByTestId('composer').fill('draft for bob');
      await row(alice, pCarol).click();
      await title(alice, 's-alice'); // both read now
      assert.equal(await alice.p.getByTestId('composer').inputValue(), '');
      await alice.p.getByTestId('composer').fill('draft for carol');
      await row(alice, pBob).click();
      assert.equal(await alice.p.getByTestId('composer').inputValue(), 'draft for bob');
      await row(alice, pCarol).click();
      assert.equal(await alice.p.getByTestId('composer').inputValue(), 'draft for carol');
      // Both are in the SDK's cache (the list marks them) before the reload.
      for (const id of [pBob, pCarol]) await row(alice, id).getByTestId('draft-badge').waitFor({ timeout: T });
      await shot(alice.p, 'web-chat-settings-drafts.png');
      await alice.p.reload();
      await alice.p.locator('[data-testid="conn-state"][data-state="connected"]').waitFor({ timeout: T });
      await alice.p.waitForFunction(() => document.querySelector('[data-testid="composer"]')?.value === 'draft for carol', undefined, { timeout: T });
      await row(alice, pBob).click();
      assert.equal(await alice.p.getByTestId('composer').inputValue(), 'draft for bob');

      // Hide carol's chat: gone from both devices until carol writes again.
      await row(alice, pCarol).click();
      await alice.p.getByTestId('hide').click();
      for (const x of [alice, alice2]) await row(x, pCarol).waitFor({ state: 'detached', timeout: T });
      await alice.p.locator('.pane.has-conv').waitFor({ state: 'detached', timeout: T }); // the hidden chat is closed
      await send(carol, 'are you there?');
      for (const x of [alice, alice2]) await row(x, pCarol).filter({ hasText: 'are you there?' }).waitFor({ timeout: T });

      // Devices: alice sees both of hers and signs the second one out.
      await alice.p.getByTestId('devices').click();
      const devices = alice.p.getByTestId('device');
      await alice.p.waitForFunction(() => document.querySelectorAll('[data-testid="device"]').length === 2, undefined, { timeout: T });
      assert.equal(await devices.filter({ hasText: 'this device' }).count(), 1);
      await shot(alice.p, 'web-chat-settings-devices.png');
      await alice.p.getByTestId('kick-device').click();
      await alice2.p.locator('.signin .notice').filter({ hasText: 'signed out by another of your devices (4011)' }).waitFor({ timeout: T });
      await alice.p.waitForFunction(() => document.querySelectorAll('[data-testid="device"]').length === 1, undefined, { timeout: T });
      await shot(alice2.p, 'web-chat-settings-kicked.png');
    });
  } finally {
    await Promise.all([ca1, ca2, cb, cc].map((c) => c.close().catch(() => {})));
  }
});
