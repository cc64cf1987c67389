// Shared helpers of the integration suites: a real relay (support/relay.mjs)
// and clients of the built package.
import { createClient } from '@parley-im/sdk';
import { Relay } from './support/relay.mjs';

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
