// Before/after of the offline sync of 10,000 messages into IndexedDB (the
// sync of ab.mjs), measured by the CPU time of the renderer's main thread
// as well as by wall time. On a shared host the wall time of a sync, and
// Chromium's TaskDuration, count the time the main thread waits for a
// core; the CPU time of its tasks (the `tdur` of the top-level tasks of
// the renderer main thread in a Chromium trace taken over the sync) does
// not, so it compares two builds on a loaded host where wall time cannot.
//
//   node bindings/bench/sync-cpu-ab.mjs DIST_A DIST_B [pairs]
//
// Each build is served by a relay of its own, seeded once; the syncs
// alternate A B, B A, … (pairs, default 8). Prints one JSON line per sync:
// wall time, the main thread's task time and CPU time (ms), the messages
// stored and the load average when it ended.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../test/support/browser.mjs';
import { SYNC_MESSAGES, openPage, seedSync, serveBuild } from './sync-seed.mjs';

const [distA, distB] = process.argv.slice(2, 4);
const PAIRS = Number(process.argv[4] || 8);
if (!distA || !distB) {
  console.error('usage: node bindings/bench/sync-cpu-ab.mjs DIST_A DIST_B [pairs]');
  process.exit(2);
}

const browser = await launch();
const sides = [];
try {
  for (const [name, dist] of [['A', distA], ['B', distB]]) {
    const relay = await serveBuild(dist, `parley-cpu-ab-${name}-`);
    sides.push({ name, relay });
    const seed = await browser.newContext();
    await seedSync(await openPage(seed, relay));
    await seed.close();
  }
  const traces = mkdtempSync(join(tmpdir(), 'parley-cpu-ab-trace-'));
  for (let i = 0; i < PAIRS; i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const ctx = await browser.newContext();
      const p = await openPage(ctx, s.relay);
      await p.evaluate(() => P.start('syncbob', { copyEvents: false }));
      const file = join(traces, `${s.name}${i}.json`);
      await browser.startTracing(p, { path: file, categories: ['toplevel'] });
      const r = await p.evaluate(async () => {
        const t0 = performance.now();
        await P.client.connect();
        await P.client.waitSynced();
        return { ms: performance.now() - t0, n: await P.storedMessages() };
      });
      await browser.stopTracing();
      if (r.n !== SYNC_MESSAGES) throw new Error(`side ${s.name}: synced ${r.n} messages into IndexedDB`);
      const events = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
      const main = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
      const tasks = events.filter((e) => e.ph === 'X' && e.tdur !== undefined && main.has(`${e.pid}:${e.tid}`)).sort((a, b) => a.ts - b.ts);
      // Top-level tasks only: a task nested in another is in its time.
      let cpu = 0;
      let task = 0;
      let end = 0;
      for (const e of tasks) {
        if (e.ts < end) continue;
        cpu += e.tdur;
        task += e.dur;
        end = e.ts + e.dur;
      }
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
      console.log(JSON.stringify({ side: s.name, syncMs: Math.round(r.ms), mainTaskMs: Math.round(task / 1000), mainCpuMs: Math.round(cpu / 1000), n: r.n, load: Number(load) }));
      await ctx.close();
    }
  }
} finally {
  await browser.close();
  for (const s of sides) await s.relay.stop();
}
