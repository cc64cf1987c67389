// Shared helpers of the integration suites: a real relay (support/relay.mjs)
// and clients of the built package.
import { before, after } from 'node:test';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@parley-im/sdk';
import { Relay } from './support/relay.mjs';
import { launch, haveChromium, watch, ARTIFACTS } from './support/browser.mjs';

export { Relay };

/** startRelay starts a fresh relay process for one test file (options: see Relay). */
export async function startRelay(opts = {}) {
  return new Relay(opts).start();
}

/**
 * clientFor creates a client of user on relay, fast to reconnect, and
 * registers it for closing. Options override the defaults.
 */
export async function clientFor(relay, user, opts = {}, open = []) {
  const client = await createClient({
    url: relay.ws,
    token: relay.token(user),
    storage: 'memory',
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    logLevel: 'error',
    ...opts,
  });
  open.push(client);
  return client;
}

/**
 * next resolves with the first payload of event on client that satisfies
 * pred, or rejects after ms.
 */
export function next(client, event, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    const off = client.on(event, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** eventually polls f until it returns a truthy value, or throws after ms. */
export async function eventually(f, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** closeAll closes every client, ignoring failures. */
export async function closeAll(clients) {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
}

/**
 * savedStorage is a StorageAdapter kept in this process, so a client closed
 * and created again on it starts from what the first one cached: a device
 * that was offline.
 */
export function savedStorage() {
  const db = { meta: null, convs: new Map(), messages: new Map(), outbox: new Map() };
  return {
    db,
    async load() {
      if (!db.meta) return null;
      return {
        meta: structuredClone(db.meta),
        conversations: [...db.convs.values()].map((c) => structuredClone(c)),
        outbox: [...db.outbox.values()].sort((a, b) => a.order - b.order),
      };
    },
    async apply(batch) {
      const b = JSON.parse(JSON.stringify(batch));
      if (b.reset) {
        db.convs.clear();
        db.messages.clear();
      }
      if (b.meta) db.meta = b.meta;
      for (const c of b.conversations ?? []) db.convs.set(c.id, c);
      for (const m of b.messages ?? []) db.messages.set(`${m.conversationId}#${m.seq}`, m);
      for (const e of b.outboxPut ?? []) db.outbox.set(e.message.clientId, e);
      for (const id of b.outboxDelete ?? []) db.outbox.delete(id);
    },
    async messages(conv, before, limit) {
      const ms = [...db.messages.values()].filter((m) => m.conversationId === conv && (before === 0 || m.seq < before));
      ms.sort((a, b) => a.seq - b.seq);
      return ms.slice(-limit);
    },
    async close() {},
  };
}

// ------------------------------------------------------------ the web chat demo
// The browser suites of examples/web-chat (webchat*.test.mjs): the relay
// serves the built demo, each person is a page in their own browser context
// (their own device), signed in by typing their name as people do.

/** WEBCHAT_DIST is the built demo (`./build.sh webchat`). */
export const WEBCHAT_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'web-chat', 'dist');

/** webchatSkip is the reason a web chat suite cannot run here, or false. */
export function webchatSkip() {
  if (!haveChromium()) return 'Debian chromium is not installed';
  if (!existsSync(join(WEBCHAT_DIST, 'index.html'))) return 'web chat not built: run ./build.sh webchat';
  return false;
}

/** startWebchat starts a relay serving the demo (extra: more relay flags) and a browser (args: more Chromium flags). */
export async function startWebchat({ extra = [], args = [] } = {}) {
  const relay = await new Relay({ static: WEBCHAT_DIST, extra }).start();
  const browser = await launch({ args });
  return { relay, browser };
}

/**
 * webchatSuite registers the node:test hooks of a web chat file: before its
 * tests a relay serving the demo and a browser start (startWebchat's
 * options), after them both stop. It returns { skip, relay, browser }, whose
 * relay and browser are set once the hook ran; skip is webchatSkip's answer
 * (and nothing starts when it is set).
 */
export function webchatSuite(opts) {
  const env = { skip: webchatSkip(), relay: undefined, browser: undefined };
  before(async () => {
    if (env.skip) return;
    Object.assign(env, await startWebchat(opts));
  });
  after(async () => {
    await env.browser?.close();
    await env.relay?.stop();
  });
  return env;
}

/**
 * openWebchat opens the demo in ctx as user and waits until it is online:
 * it signs in through the form, or (signIn false) relies on the session the
 * context remembers. Resolves with { p, log, user }.
 */
export async function openWebchat(relay, ctx, user, { signIn = true } = {}) {
  const p = await ctx.newPage();
  const log = watch(p, user);
  await p.setViewportSize({ width: 1200, height: 760 });
  await p.goto(relay.http + '/');
  if (signIn) {
    await p.getByTestId('signin-user').fill(user);
    await p.getByTestId('signin-submit').click();
  }
  await p.locator('[data-testid="conn-state"][data-state="connected"]').waitFor({ timeout: 30000 });
  return { p, log, user };
}

/** shot saves a screenshot of page to the artifacts folder. */
export async function shot(p, name) {
  await p.screenshot({ path: join(ARTIFACTS, name) });
}

/**
 * withFailureReport runs f; when it throws, every page in people gets a
 * failure screenshot (prefix-failure-<user>.png) and the error gets the
 * pages' console errors.
 */
export async function withFailureReport(prefix, people, f) {
  try {
    return await f();
  } catch (e) {
    for (const x of people()) {
      if (!x?.p || x.p.isClosed()) continue;
      await x.p.screenshot({ path: join(ARTIFACTS, `${prefix}-failure-${x.user}.png`) }).catch(() => {});
    }
    e.message += '\n' + people().flatMap((x) => x?.log ?? []).join('\n');
    throw e;
  }
}
