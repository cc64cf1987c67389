// What a cold start cannot go below on this machine, measured the way
// cold-phases.mjs measures the benchmark page (a reload, phases on the
// page's clock, the same driver, which starts each page once it sees it
// ready: coldStart's driver option), interleaved with that page:
//
//   empty.html    a module script that only sets window.parleyReady: the
//                 page's own load and the driver noticing it is ready
//   wasm.html     the same page, then fetch + WebAssembly.compileStreaming
//                 of parley.wasm alone (a reload: Chromium's HTTP cache and
//                 in-memory compiled module) and the instantiation of a
//                 trivial module
//   harness.html  the benchmark page: createClient and the conversation
//                 list from IndexedDB (50 conversations)
//
//   RUNS=10 node bindings/bench/cold-floor.mjs [dist]
//
// dist defaults to bindings/dist (after ./build.sh npm).
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from '../test/support/relay.mjs';
import { launch } from '../test/support/browser.mjs';
import { notePhases, coldStart, seedColdCache } from './cold-phases.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const site = mkdtempSync(join(tmpdir(), 'parley-floor-'));
cpSync(process.argv[2] || join(here, '..', 'dist'), site, { recursive: true });
cpSync(join(here, '..', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
writeFileSync(join(site, 'empty.html'), `<!doctype html>
<meta charset="utf-8">
<title>empty</title>
<script type="module">
window.P = { async start() {} };
window.parleyReady = true;
</script>
`);
writeFileSync(join(site, 'wasm.html'), `<!doctype html>
<meta charset="utf-8">
<title>parley.wasm alone</title>
<script type="module">
window.P = {
  async start() {
    await WebAssembly.compileStreaming(fetch('./parley.wasm'));
    // (module (func (export "f")))
    await WebAssembly.instantiate(new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,4,1,2,0,11]));
  },
};
window.parleyReady = true;
</script>
`);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
const browser = await launch();
try {
  const pages = {};
  for (const name of ['empty.html', 'wasm.html', 'harness.html']) {
    const ctx = await browser.newContext();
    await ctx.addInitScript(notePhases);
    const p = await ctx.newPage();
    await p.goto(`${relay.http}/${name}`);
    await p.waitForFunction(() => window.parleyReady === true);
    if (name === 'harness.html') {
      await seedColdCache(p);
    } else {
      await p.evaluate(() => P.start());
    }
    pages[name] = { p, runs: [] };
  }
  const order = Object.keys(pages);
  for (let i = 0; i < Number(process.env.RUNS || 10); i++) {
    for (const name of i % 2 ? [...order].reverse() : order) {
      const { p, runs } = pages[name];
      let ph;
      if (name === 'harness.html') {
        const r = await coldStart(p, undefined, { driver: true }); // started like the two pages above
        if (r.n < 50) throw new Error(`listed ${r.n} conversations`);
        ph = r.phases;
      } else {
        await p.reload();
        await p.waitForFunction(() => window.parleyReady === true);
        ph = await p.evaluate(async () => {
          const ph = window.__phases;
          ph.harnessReady = performance.now();
          await P.start();
          ph.end = performance.now();
          return ph;
        });
      }
      runs.push(ph);
      console.log(JSON.stringify({ page: name, phases: Object.fromEntries(Object.entries(ph).map(([k, v]) => [k, Math.round(v)])) }));
    }
  }
  for (const name of order) {
    const { runs } = pages[name];
    const keys = Object.keys(runs[0]).filter((k) => runs.every((r) => typeof r[k] === 'number'));
    console.log(JSON.stringify({ page: name, median: Object.fromEntries(keys.map((k) => [k, Math.round(median(runs.map((r) => r[k])))])) }));
  }
} finally {
  await browser.close();
  await relay.stop();
}
