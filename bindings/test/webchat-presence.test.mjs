// Presence and profiles in the web chat demo (examples/web-chat), by clicks
// in headless Chromium: a green dot on the peer who is signed in, their
// nickname and status once they edit their profile, grey once they leave.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from './support/relay.mjs';
import { launch, haveChromium, watch, ARTIFACTS } from './support/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const app = join(here, '..', '..', 'examples', 'web-chat', 'dist');
const skip = !haveChromium() ? 'Debian chromium is not installed' : !existsSync(join(app, 'index.html')) ? 'web chat not built: run ./build.sh webchat' : false;

let relay, browser;

before(async () => {
  if (skip) return;
  relay = await new Relay({ static: app }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function signIn(ctx, user) {
  const p = await ctx.newPage();
  watch(p, user);
  await p.setViewportSize({ width: 1100, height: 720 });
  await p.goto(relay.http + '/');
  await p.getByTestId('signin-user').fill(user);
  await p.getByTestId('signin-submit').click();
  await p.getByTestId('conn-state').filter({ hasText: /connected|online/i }).waitFor({ timeout: 20000 });
  return p;
}

test('presence dots, nickname and status in the web demo', { skip, timeout: 120000 }, async () => {
  const [ca, cb] = await Promise.all([browser.newContext(), browser.newContext()]);
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

    // bob sets a nickname and a status with the edit button.
    bob.on('dialog', (d) => void d.accept(d.message() === 'Nickname' ? 'Bobby' : 'at lunch'));
    await bob.getByTestId('edit-profile').click();
    await alice.waitForFunction(() => document.querySelector('[data-testid="conv-item"] .conv-name')?.textContent === 'Bobby', undefined, { timeout: 20000 });
    await alice.waitForFunction((sel) => document.querySelector(sel)?.title.includes('at lunch'), dot, { timeout: 20000 });
    await alice.screenshot({ path: join(ARTIFACTS, 'web-chat-presence-online.png') });

    // bob leaves: his dot turns grey.
    await cb.close();
    await alice.waitForFunction((sel) => {
      const d = document.querySelector(sel);
      return d && !d.classList.contains('online') && d.title.includes('last seen');
    }, dot, { timeout: 20000 });
    await alice.screenshot({ path: join(ARTIFACTS, 'web-chat-presence-offline.png') });
    assert.equal(await alice.locator('[data-testid="conv-item"] .conv-name').first().textContent(), 'Bobby');
  } finally {
    await ca.close().catch(() => {});
    await cb.close().catch(() => {});
  }
});
