// Shared helpers of the integration suites: a real relay (support/relay.mjs)
// and clients of the built package.
import { createClient } from '@parley-im/sdk';
import { Relay } from './support/relay.mjs';

export { Relay };

/** startRelay starts a fresh relay process for one test file. */
export async function startRelay() {
  return new Relay().start();
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
