// The React example (examples/react-chat), built from the packed tarballs and
// served by a real relay, used by clicking and typing in headless Chromium:
// two people, live delivery, paging back through history, and a reload that
// shows the conversation list from the cache while the relay is out of reach.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
// The SDK suites' support: a relay process and Debian's Chromium.
import { Relay } from '../../bindings/test/support/relay.mjs';
import { launch, haveChromium, watch, ARTIFACTS } from '../../bindings/test/support/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const app = join(repo, 'examples', 'react-chat', 'dist');
// The README's picture: refreshed when missing or with UPDATE_SCREENSHOTS=1
// (it changes on every run, if only its clock); artifacts/ gets one each run.
const screenshot = join(repo, 'docs', 'img', 'react-chat.png');
const refreshDocs = process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(screenshot);
const skip = !haveChromium()
  ? 'Debian chromium is not installed'
  : !existsSync(join(app, 'index.html'))
    ? 'react chat not built: run ./build.sh reactchat'
    : false;

// The app's page size (PAGE_SIZE in src/Chat.tsx): history longer than one
// page needs "Load older".
const PAGE = 20;
const HISTORY = 27;

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
  const log = watch(p, user);
  await p.setViewportSize({ width: 1000, height: 680 });
  await p.goto(relay.http + '/');
  await p.getByTestId('signin-user').fill(user);
  await p.getByTestId('signin-submit').click();
  await p.locator('[data-testid="conn-state"][data-state="connected"]').waitFor({ timeout: 20000 });
  return { p, log };
}

const seqsOf = (p) =>
  p.getByTestId('message').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));

test('two people chat in the React example: live delivery, load older, cached list on reload', { skip, timeout: 300000 }, async () => {
  const [ca, cb] = await Promise.all([browser.newContext(), browser.newContext()]);
  let alice, bob;
  try {
    alice = await signIn(ca, 'alice');
    bob = await signIn(cb, 'bob');

    // alice opens a chat with bob and writes more than a page of history.
    await alice.p.getByTestId('new-chat-user').fill('bob');
    await alice.p.getByTestId('new-chat-submit').click();
    const composer = alice.p.getByTestId('composer');
    for (let i = 1; i <= HISTORY; i++) {
      await composer.fill(`history ${i}`);
      await composer.press('Enter');
    }
    await alice.p.waitForFunction(
      (n) => {
        const ms = [...document.querySelectorAll('[data-testid="message"]')];
        return ms.length === n && ms.every((m) => m.dataset.status === 'sent');
      },
      HISTORY,
      { timeout: 30000 },
    );
    assert.deepEqual(await seqsOf(alice.p), Array.from({ length: HISTORY }, (_, i) => i + 1), "alice's own sends, each once, in order");

    // bob sees the conversation arrive with its unread count, and opens it: the newest page.
    const item = bob.p.locator('[data-testid="conv-item"][data-conv-id="p:alice:bob"]');
    await item.waitFor({ timeout: 20000 });
    await bob.p.waitForFunction((n) => document.querySelector('[data-conv-id="p:alice:bob"] [data-testid="unread"]')?.textContent === String(n), HISTORY, { timeout: 20000 });
    await item.click();
    await bob.p.waitForFunction((n) => document.querySelectorAll('[data-testid="message"]').length === n, PAGE, { timeout: 20000 });
    assert.deepEqual(await seqsOf(bob.p), Array.from({ length: PAGE }, (_, i) => HISTORY - PAGE + 1 + i), 'the newest page');
    await bob.p.getByTestId('load-older').waitFor();
    // Opening it read it: the badge goes.
    await bob.p.locator('[data-conv-id="p:alice:bob"] [data-testid="unread"]').waitFor({ state: 'detached', timeout: 20000 });

    // alice writes; bob sees it live, once, after the page.
    await composer.fill('Are you there, Bob?');
    await composer.press('Enter');
    const live = bob.p.getByTestId('message').filter({ hasText: 'Are you there, Bob?' });
    await live.waitFor({ timeout: 20000 });
    assert.equal(await live.count(), 1);
    assert.equal(await live.getAttribute('data-seq'), String(HISTORY + 1));

    // bob loads older history: everything from seq 1, each once, and no more "Load older".
    await bob.p.getByTestId('load-older').click();
    await bob.p.waitForFunction((n) => document.querySelectorAll('[data-testid="message"]').length === n, HISTORY + 1, { timeout: 20000 });
    assert.deepEqual(await seqsOf(bob.p), Array.from({ length: HISTORY + 1 }, (_, i) => i + 1));
    await bob.p.getByTestId('load-older').waitFor({ state: 'detached' });

    // bob answers; alice sees it.
    await bob.p.getByTestId('composer').fill('Here! Reading back through our history.');
    await bob.p.getByTestId('send').click();
    await alice.p.getByTestId('message').filter({ hasText: 'Reading back' }).waitFor({ timeout: 20000 });
    await bob.p.locator('[data-testid="message"][data-status="sent"]').filter({ hasText: 'Reading back' }).waitFor({ timeout: 20000 });
    await bob.p.getByTestId('message-list').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await bob.p.screenshot({ path: join(ARTIFACTS, 'react-chat.png') });
    if (refreshDocs) {
      mkdirSync(dirname(screenshot), { recursive: true });
      await bob.p.screenshot({ path: screenshot });
    }

    // bob reloads with the relay out of reach: the list and the open
    // conversation come from the cache, and the badge says it is not connected.
    await bob.p.routeWebSocket(/\/v1\/ws/, (ws) => ws.close({ code: 1011, reason: 'unreachable in this test' }));
    await bob.p.reload();
    await bob.p.locator('[data-testid="conv-item"][data-conv-id="p:alice:bob"]').waitFor({ timeout: 20000 });
    assert.match(await bob.p.getByTestId('conv-item').first().innerText(), /alice[\s\S]*Reading back/);
    await bob.p.getByTestId('message').filter({ hasText: 'Are you there, Bob?' }).waitFor({ timeout: 20000 });
    assert.notEqual(await bob.p.getByTestId('conn-state').getAttribute('data-state'), 'connected');
    await bob.p.screenshot({ path: join(ARTIFACTS, 'react-chat-bob-offline.png') });
  } catch (e) {
    for (const [who, x] of [['alice', alice], ['bob', bob]]) {
      if (!x) continue;
      await x.p.screenshot({ path: join(ARTIFACTS, `react-chat-failure-${who}.png`) }).catch(() => {});
      e.message += `\n[${who}] list: ${await x.p.getByTestId('conv-list').innerText().catch(() => '?')}`;
    }
    e.message += `\n${[...(alice?.log ?? []), ...(bob?.log ?? [])].join('\n')}`;
    throw e;
  } finally {
    await Promise.all([ca.close(), cb.close()]);
  }
});
