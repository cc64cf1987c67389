// The offline sync that ab.mjs, sync-profile.mjs and sync-cpu-ab.mjs
// measure, set up once for all three: a build of the package served with
// the benchmark page (test/browser/harness.html) by a relay of its own, and
// a one-to-one conversation of SYNC_MESSAGES messages from syncalice that
// syncbob's page then syncs.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from '../test/support/relay.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** The messages a seeded conversation holds, and so a finished sync stores. */
export const SYNC_MESSAGES = 10000;

/**
 * serveBuild copies dist (a build's bindings/dist) and the benchmark page
 * into a new temporary folder named after prefix, and starts a relay that
 * serves it, with rate limits a seed does not reach. bin runs the relay
 * from that binary (default: this repository's).
 */
export async function serveBuild(dist, prefix, { bin } = {}) {
  const site = mkdtempSync(join(tmpdir(), prefix));
  cpSync(dist, site, { recursive: true });
  cpSync(join(here, '..', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
  return new Relay({ static: site, bin, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
}

/** openPage opens the benchmark page of relay (with query) in ctx and waits until it is ready. */
export async function openPage(ctx, relay, query = '') {
  const p = await ctx.newPage();
  await p.goto(`${relay.http}/harness.html${query}`);
  await p.waitForFunction(() => window.parleyReady === true);
  return p;
}

/**
 * seedSync sends the conversation from the benchmark page p: syncalice, on
 * memory storage, writes SYNC_MESSAGES texts to syncbob, 1,000 at a time,
 * and closes its client.
 */
export async function seedSync(p) {
  await p.evaluate(async (total) => {
    await P.start('syncalice', { storage: 'memory' });
    await P.client.connect();
    const c = P.client.p2p('syncbob');
    for (let k = 0; k < total / 1000; k++) await Promise.all(Array.from({ length: 1000 }, (_, i) => P.client.sendText(c, `message ${k * 1000 + i}`)));
    await P.client.close();
  }, SYNC_MESSAGES);
}
