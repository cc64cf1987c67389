// Before/after on the same machine in the same run: two builds of the
// package (their dist/ folders, each with its parley.wasm) are served by two
// relays and measured in turns, A B A B …, so that whatever else loads the
// machine weighs on both alike. Cold start (a reload of a page whose
// IndexedDB holds 50 conversations, to the conversation list, with its
// phases) and an offline sync of 10,000 messages into IndexedDB.
//
//   node bindings/bench/ab.mjs /path/to/before/bindings/dist bindings/dist [runs]
//
// Prints one JSON line per measurement and a summary per build. AB_SYNC=0
// leaves the sync out (seeding 10,000 messages takes minutes on a busy
// machine).
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from '../test/support/relay.mjs';
import { launch } from '../test/support/browser.mjs';
import { notePhases, coldStart } from './cold-phases.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [distA, distB] = process.argv.slice(2, 4);
const RUNS = Number(process.argv[4] || 5);
const SYNC = process.env.AB_SYNC !== '0';
if (!distA || !distB) {
  console.error('usage: node bindings/bench/ab.mjs DIST_A DIST_B [runs]');
  process.exit(2);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function side(name, dist) {
  const site = mkdtempSync(join(tmpdir(), `parley-ab-${name}-`));
  cpSync(dist, site, { recursive: true });
  cpSync(join(here, '..', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
  const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
  return { name, relay, cold: [], phases: [], sync: [] };
}

const sides = [await side('A', distA), await side('B', distB)];
const browser = await launch();

async function open(ctx, s) {
  const p = await ctx.newPage();
  await p.goto(`${s.relay.http}/harness.html`);
  await p.waitForFunction(() => window.parleyReady === true);
  return p;
}

try {
  // Seed both relays: 50 one-to-one conversations for the cold start, a
  // conversation of 10,000 messages for the sync.
  for (const s of sides) {
    const ctx = await browser.newContext();
    const p = await open(ctx, s);
    await p.evaluate(async () => {
      await P.start('coldbob', { storage: 'memory' });
      await P.client.connect();
      await Promise.all(Array.from({ length: 50 }, (_, i) => P.client.sendText(P.client.p2p(`cold${i}`), `hello ${i}`)));
      await P.client.close();
    });
    if (SYNC) {
      await p.evaluate(async () => {
        await P.start('syncalice', { storage: 'memory' });
        await P.client.connect();
        const c = P.client.p2p('syncbob');
        for (let k = 0; k < 10; k++) await Promise.all(Array.from({ length: 1000 }, (_, i) => P.client.sendText(c, `message ${k * 1000 + i}`)));
        await P.client.close();
      });
    }
    await ctx.close();
    s.coldCtx = await browser.newContext();
    await s.coldCtx.addInitScript(notePhases);
    s.coldPage = await open(s.coldCtx, s);
    await s.coldPage.evaluate(async () => { await P.start('coldbob'); await P.client.connect(); await P.client.waitSynced(); await P.client.close(); });
  }
  for (let i = 0; i < RUNS; i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const r = await coldStart(s.coldPage);
      if (r.n < 50) throw new Error(`${s.name}: cold start listed ${r.n} conversations`);
      s.cold.push(r.phases.list);
      s.phases.push(r.phases);
      console.log(JSON.stringify({ side: s.name, cold: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, Math.round(v)])) }));
    }
  }
  for (let i = 0; i < (SYNC ? Math.min(RUNS, 3) : 0); i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const ctx = await browser.newContext();
      const p = await open(ctx, s);
      const r = await p.evaluate(async () => {
        await P.start('syncbob');
        const t0 = performance.now();
        await P.client.connect();
        await P.client.waitSynced();
        const ms = performance.now() - t0;
        const n = await new Promise((resolve, reject) => {
          const req = indexedDB.open('parley');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => { const c = req.result.transaction('messages').objectStore('messages').count(); c.onsuccess = () => resolve(c.result); };
        });
        return { ms, n };
      });
      if (r.n !== 10000) throw new Error(`${s.name}: synced ${r.n} messages into IndexedDB`);
      s.sync.push(r.ms);
      console.log(JSON.stringify({ side: s.name, syncMs: Math.round(r.ms) }));
      await ctx.close();
    }
  }
  for (const s of sides) {
    const keys = Object.keys(s.phases[0]);
    const med = Object.fromEntries(keys.map((k) => [k, Math.round(median(s.phases.map((p) => p[k] ?? 0)))]));
    console.log(JSON.stringify({
      side: s.name,
      coldStartToListMs: { median: Math.round(median(s.cold)), min: Math.round(Math.min(...s.cold)), max: Math.round(Math.max(...s.cold)), runs: s.cold.length },
      coldPhasesMedian: med,
      offlineSync10kMs: SYNC ? { median: Math.round(median(s.sync)), min: Math.round(Math.min(...s.sync)), max: Math.round(Math.max(...s.sync)), runs: s.sync.length } : null,
    }));
  }
} finally {
  await browser.close();
  for (const s of sides) await s.relay.stop();
}
