// Presence and profiles in the web chat demo (examples/web-chat), by clicks
// in headless Chromium: a green dot on the peer who is signed in, their
// nickname and status once they edit their profile, grey once they leave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webchatSuite, openWebchat, shot } from './helpers.mjs';

const env = webchatSuite();
const skip = env.skip;

async function signIn(ctx, user) {
  return (await openWebchat(env.relay, ctx, user)).p;
}

test('presence dots, nickname and status in the web demo', { skip, timeout: 120000 }, async () => {
  const [ca, cb] = await Promise.all([env.browser.newContext(), env.browser.newContext()]);
  try {
    const alice = await signIn(ca, 'pres-alice');
    const bob = await signIn(cb, 'pres-bob');

    // alice opens a chat with bob: his dot is green, he is signed in.
    await alice.getByTestId('new-chat').click();
    await alice.getByTestId('new-chat-user').fill('pres-bob');
    await alice.getByTestId('new-chat-submit').click();
    await alice.getByTestId('composer').fill('Are you there?');
    await alice.getByTestId('composer').press('Enter');
    const dot = '[data-testid="conv-item"] [data-testid="presence-dot"][data-user="pres-bob"]';
    await alice.waitForFunction((sel) => document.querySelector(sel)?.classList.contains('online'), dot, { timeout: 20000 });

    // bob sets a nickname and a status in his profile form.
    await bob.getByTestId('edit-profile').click();
    await bob.getByTestId('profile-nickname').fill('Bobby');
    await bob.getByTestId('profile-status').fill('at lunch');
    await bob.getByTestId('profile-save').click();
    await bob.getByTestId('profile-dialog').waitFor({ state: 'detached', timeout: 20000 });
    await alice.waitForFunction(() => document.querySelector('[data-testid="conv-item"] .conv-name')?.textContent === 'Bobby', undefined, { timeout: 20000 });
    await alice.waitForFunction((sel) => document.querySelector(sel)?.title.includes('at lunch'), dot, { timeout: 20000 });
    await shot(alice, 'web-chat-presence-online.png');

    // bob leaves: his dot turns grey.
    await cb.close();
    await alice.waitForFunction((sel) => {
      const d = document.querySelector(sel);
      return d && !d.classList.contains('online') && d.title.includes('last seen');
    }, dot, { timeout: 20000 });
    await shot(alice, 'web-chat-presence-offline.png');
    assert.equal(await alice.locator('[data-testid="conv-item"] .conv-name').first().textContent(), 'Bobby');
  } finally {
    await ca.close().catch(() => {});
    await cb.close().catch(() => {});
  }
});
