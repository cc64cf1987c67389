// The web chat demo (examples/web-chat), used the way people use it: by
// clicking and typing in headless Chromium, two people against one relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { brotliDecompressSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from './support/relay.mjs';
import { launch, haveChromium, watch, ARTIFACTS, waitForAsync } from './support/browser.mjs';

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
  const log = watch(p, user);
  await p.setViewportSize({ width: 1100, height: 720 });
  await p.goto(relay.http + '/');
  await p.getByTestId('signin-user').fill(user);
  await p.getByTestId('signin-submit').click();
  await p.getByTestId('conn-state').filter({ hasText: /connected|online/i }).waitFor({ timeout: 20000 });
  return { p, log };
}

test('two people chat in the web demo by clicking and typing', { skip, timeout: 120000 }, async () => {
  const [ca, cb] = await Promise.all([browser.newContext(), browser.newContext()]);
  let alice, bob;
  try {
    alice = await signIn(ca, 'alice');
    bob = await signIn(cb, 'bob');

    // alice starts a chat with bob and writes twice
    await alice.p.getByTestId('new-chat').click();
    await alice.p.getByTestId('new-chat-user').fill('bob');
    await alice.p.getByTestId('new-chat-submit').click();
    await alice.p.getByTestId('composer').fill('Hi Bob! Lunch at noon?');
    await alice.p.getByTestId('send').click();
    await alice.p.getByTestId('composer').fill('The usual place.');
    await alice.p.getByTestId('composer').press('Enter');
    const sent = alice.p.getByTestId('message').filter({ hasText: 'The usual place.' });
    await sent.waitFor();
    await alice.p.waitForFunction(() => [...document.querySelectorAll('[data-testid="message"]')].every((m) => m.dataset.status === 'sent'), undefined, { timeout: 20000 });

    // bob sees the conversation with two unread, opens it, reads, answers
    const item = bob.p.getByTestId('conv-item').filter({ hasText: 'alice' });
    await item.waitFor({ timeout: 20000 });
    await bob.p.waitForFunction(() => document.querySelector('[data-testid="conv-item"] [data-testid="unread"]')?.textContent.trim() === '2', undefined, { timeout: 20000 });
    await bob.p.screenshot({ path: join(ARTIFACTS, 'web-chat-bob-unread.png') });
    await item.click();
    await bob.p.getByTestId('message').filter({ hasText: 'The usual place.' }).waitFor({ timeout: 20000 });
    const texts = await bob.p.getByTestId('message').allTextContents();
    assert.ok(texts.some((t) => t.includes('Hi Bob! Lunch at noon?')) && texts.some((t) => t.includes('The usual place.')), `bob's pane: ${texts}`);
    await bob.p.waitForFunction(() => {
      const badge = document.querySelector('[data-testid="conv-item"] [data-testid="unread"]');
      return !badge || badge.hidden || badge.textContent.trim() === '0';
    }, undefined, { timeout: 20000 });
    // bob types: alice, looking at the conversation, sees it under the thread.
    await bob.p.getByTestId('composer').pressSequentially('Sounds good', { delay: 20 });
    await alice.p.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent === 'bob is typing…', undefined, { timeout: 10000 });
    await alice.p.screenshot({ path: join(ARTIFACTS, 'web-chat-typing.png') });
    await bob.p.getByTestId('composer').fill('Sounds good, see you there 👋');
    await bob.p.getByTestId('composer').press('Enter');

    await alice.p.getByTestId('message').filter({ hasText: 'see you there' }).waitFor({ timeout: 20000 });
    // What bob typed has arrived: "typing…" goes with it, not seconds later
    // when its 5 s run out under his message.
    await alice.p.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent === '', undefined, { timeout: 1500 });
    const order = await alice.p.getByTestId('message').allTextContents();
    const idx = (s) => order.findIndex((t) => t.includes(s));
    assert.ok(idx('Lunch') < idx('usual place') && idx('usual place') < idx('see you there'), `order in alice's pane: ${order}`);
    await alice.p.screenshot({ path: join(ARTIFACTS, 'web-chat-alice.png') });
  } catch (e) {
    for (const [who, x] of [['alice', alice], ['bob', bob]]) {
      if (!x) continue;
      await x.p.screenshot({ path: join(ARTIFACTS, `web-chat-failure-${who}.png`) }).catch(() => {});
      e.message += `\n[${who}] list: ${await x.p.getByTestId('conv-list').innerText().catch(() => '?')}`;
    }
    e.message += `\n${[...(alice?.log ?? []), ...(bob?.log ?? [])].join('\n')}`;
    throw e;
  } finally {
    await Promise.all([ca.close(), cb.close()]);
  }
});

// "Offline first" covers the app too: after one visit, the demo reloaded
// with the network gone opens from its service worker and shows the
// conversations cached in IndexedDB, with the state saying it is not online.
test('the demo reloaded offline shows the cached conversations', { skip, timeout: 120000 }, async () => {
  const [ca, cb] = await Promise.all([browser.newContext(), browser.newContext()]);
  try {
    const carol = await signIn(ca, 'carol');
    await signIn(cb, 'dave');
    await carol.p.getByTestId('new-chat').click();
    await carol.p.getByTestId('new-chat-user').fill('dave');
    await carol.p.getByTestId('new-chat-submit').click();
    await carol.p.getByTestId('composer').fill('cached before the network went away');
    await carol.p.getByTestId('composer').press('Enter');
    await carol.p.waitForFunction(() => [...document.querySelectorAll('[data-testid="message"]')].some((m) => m.dataset.status === 'sent'), undefined, { timeout: 20000 });
    // The service worker is active and holds the app shell of this first visit.
    await waitForAsync(carol.p, async () => {
      if (!navigator.serviceWorker.controller) return false;
      const cache = await caches.open('parley-web-chat-v1');
      const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
      return keys.includes('/') && keys.some((k) => k.endsWith('.wasm'));
    });
    await ca.setOffline(true);
    await carol.p.reload();
    const item = carol.p.getByTestId('conv-item').filter({ hasText: 'dave' });
    await item.waitFor({ timeout: 20000 });
    await item.click();
    await carol.p.getByTestId('message').filter({ hasText: 'cached before the network went away' }).waitFor({ timeout: 20000 });
    const state = await carol.p.getByTestId('conn-state').textContent();
    assert.doesNotMatch(state ?? '', /^\s*connected\s*$/i, `offline, the state says ${state}`);
    await carol.p.screenshot({ path: join(ARTIFACTS, 'web-chat-offline.png') });
  } finally {
    await ca.setOffline(false).catch(() => {});
    await Promise.all([ca.close(), cb.close()]);
  }
});

// The relay serves the demo's parley.wasm precompressed, under the hashed
// name the bundler gave it, typed for streaming compilation and cached for
// good; the page itself is revalidated.
test('the relay answers parley.wasm with brotli, application/wasm and immutable caching', { skip, timeout: 60000 }, async () => {
  const wasm = readdirSync(join(app, 'assets')).find((f) => /^parley-.+\.wasm$/.test(f));
  assert.ok(wasm, 'the build has a hashed parley-<hash>.wasm');
  const raw = readFileSync(join(app, 'assets', wasm));
  const fetchRaw = (path, enc) => new Promise((resolve, reject) => {
    httpGet(relay.http + path, { headers: { 'Accept-Encoding': enc } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  const br = await fetchRaw(`/assets/${wasm}`, 'gzip, deflate, br');
  assert.equal(br.status, 200);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers['content-type'], 'application/wasm');
  assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(br.headers.vary ?? '', /Accept-Encoding/);
  assert.ok(br.body.length < raw.length / 3, `brotli ${br.body.length} B of ${raw.length} B`);
  assert.ok(brotliDecompressSync(br.body).equals(raw), 'the brotli bytes are the module');
  const gz = await fetchRaw(`/assets/${wasm}`, 'gzip');
  assert.equal(gz.headers['content-encoding'], 'gzip');
  const plain = await fetchRaw(`/assets/${wasm}`, 'identity');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.ok(plain.body.equals(raw));
  const page = await fetchRaw('/', 'br');
  assert.equal(page.headers['cache-control'], 'no-cache');
});
