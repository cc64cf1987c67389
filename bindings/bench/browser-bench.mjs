// Client-side benchmarks in headless Chromium against a real relay: the
// numbers SPEC §5 budgets for the browser. Writes docs/benchmarks/browser.json
// and browser.md. Run by `./build.sh bench` (after `./build.sh npm`).
import { cpSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { Relay } from '../test/support/relay.mjs';
import { launch } from '../test/support/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = process.argv[2] || join(root, 'docs', 'benchmarks');
const RUNS = Number(process.env.BENCH_RUNS || 5);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length });

const results = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, runs: RUNS };

// 1. What a browser downloads.
const wasm = readFileSync(join(root, 'dist', 'wasm', 'parley.wasm'));
results.wasmBytes = {
  raw: wasm.length,
  gzip: zlib.gzipSync(wasm, { level: 9 }).length,
  brotli: zlib.brotliCompressSync(wasm, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: wasm.length } }).length,
};

const site = mkdtempSync(join(tmpdir(), 'parley-bench-site-'));
cpSync(join(root, 'bindings', 'dist'), site, { recursive: true });
cpSync(join(root, 'bindings', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
const browser = await launch();

async function open(ctx) {
  const p = await ctx.newPage();
  await p.goto(`${relay.http}/harness.html`);
  await p.waitForFunction(() => window.parleyReady === true);
  return p;
}

try {
  // 2. Instantiate (fetch + compile + start the Go program) to connected.
  const inst = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext();
    const p = await open(ctx);
    inst.push(await p.evaluate(async (u) => {
      const t0 = performance.now();
      await P.start(u, { storage: 'memory' });
      await P.client.connect();
      return performance.now() - t0;
    }, `inst${i}`));
    await ctx.close();
  }
  results.instantiateToConnectedMs = summary(inst);

  // 3. Cold start: a reload of a page whose cache holds 50 conversations,
  // from navigation start to the conversation list, before the network.
  {
    const seeder = await browser.newContext();
    const s = await open(seeder);
    await s.evaluate(async () => {
      await P.start('coldbob', { storage: 'memory' });
      await P.client.connect();
      await Promise.all(Array.from({ length: 50 }, (_, i) => P.client.sendText(P.client.p2p(`cold${i}`), `hello ${i}`)));
    });
    const ctx = await browser.newContext();
    const p = await open(ctx);
    await p.evaluate(async () => { await P.start('coldbob'); await P.client.connect(); await P.client.waitSynced(); await P.client.close(); });
    const cold = [];
    for (let i = 0; i < RUNS; i++) {
      await p.reload();
      await p.waitForFunction(() => window.parleyReady === true);
      const r = await p.evaluate(async () => {
        await P.start('coldbob');
        const list = await P.client.conversations();
        return { ms: performance.now(), n: list.length };
      });
      if (r.n < 50) throw new Error(`cold start listed ${r.n} conversations`);
      cold.push(r.ms);
    }
    results.coldStartToListMs = summary(cold);
    await ctx.close();
    await seeder.close();
  }

  // 4. A device that was offline syncs 10,000 messages into IndexedDB.
  {
    const seeder = await browser.newContext();
    const s = await open(seeder);
    await s.evaluate(async () => {
      await P.start('syncalice', { storage: 'memory' });
      await P.client.connect();
      const c = P.client.p2p('syncbob');
      for (let k = 0; k < 10; k++) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => P.client.sendText(c, `message ${k * 1000 + i}`)));
      }
    });
    await seeder.close();
    const sync = [];
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const ctx = await browser.newContext();
      const p = await open(ctx);
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
      if (r.n !== 10000) throw new Error(`synced ${r.n} messages into IndexedDB`);
      sync.push(r.ms);
      await ctx.close();
    }
    results.offlineSync10kMs = summary(sync);
  }

  // 5. send → delivered between two pages at a gentle pace.
  {
    const [ca, cb] = [await browser.newContext(), await browser.newContext()];
    const a = await open(ca);
    const b = await open(cb);
    await a.evaluate(async () => { await P.start('latalice', { storage: 'memory' }); await P.client.connect(); });
    await b.evaluate(async () => {
      await P.start('latbob', { storage: 'memory' });
      window.lat = [];
      P.client.on('message', (m) => { const t = Number(m.text); if (t) window.lat.push(performance.timeOrigin + performance.now() - t); });
      await P.client.connect();
    });
    await a.evaluate(async () => {
      const c = P.client.p2p('latbob');
      for (let i = 0; i < 300; i++) {
        P.client.sendText(c, String(performance.timeOrigin + performance.now())).catch(() => {});
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    await b.waitForFunction(() => window.lat.length >= 300, undefined, { timeout: 30000 });
    const lat = (await b.evaluate(() => window.lat)).slice(50); // the first ones warm the JIT up
    results.sendToDeliverMs = { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat), samples: lat.length };
    await ca.close();
    await cb.close();
  }
} finally {
  await browser.close();
  await relay.stop();
}

const budgets = [
  ['parley.wasm after brotli', `${(results.wasmBytes.brotli / 1048576).toFixed(2)} MiB`, '≤ 1.5 MiB (moonshot 0.8)', results.wasmBytes.brotli <= 1.5 * 1048576],
  ['cold start to conversation list from cache', `${results.coldStartToListMs.median.toFixed(0)} ms`, '≤ 300 ms', results.coldStartToListMs.median <= 300],
  ['offline sync of 10,000 messages into IndexedDB', `${(results.offlineSync10kMs.median / 1000).toFixed(2)} s`, '≤ 3 s (moonshot 1 s)', results.offlineSync10kMs.median <= 3000],
  ['send → delivered between two pages p50', `${results.sendToDeliverMs.p50.toFixed(1)} ms`, '≤ 5 ms', results.sendToDeliverMs.p50 <= 5],
  ['send → delivered between two pages p99', `${results.sendToDeliverMs.p99.toFixed(1)} ms`, '≤ 25 ms', results.sendToDeliverMs.p99 <= 25],
];
results.budgets = budgets.map(([what, value, budget, pass]) => ({ what, value, budget, pass }));

const r = (s, f = 0) => `${s.median.toFixed(f)} (${s.min.toFixed(f)} – ${s.max.toFixed(f)})`;
const md = `# Parley client benchmark (headless Chromium)

Date ${results.date} · ${results.cpu}, ${results.cores} CPUs · Chromium (Debian) headless · median of ${RUNS} runs unless noted, range in brackets.

| metric | value |
|---|---|
| parley.wasm raw / gzip / brotli | ${(results.wasmBytes.raw / 1048576).toFixed(2)} / ${(results.wasmBytes.gzip / 1048576).toFixed(2)} / ${(results.wasmBytes.brotli / 1048576).toFixed(2)} MiB |
| instantiate → connected (fetch, compile, start, dial, hello) | ${r(results.instantiateToConnectedMs)} ms |
| cold start → conversation list from IndexedDB (50 conversations, from navigation start) | ${r(results.coldStartToListMs)} ms |
| offline sync of 10,000 messages into IndexedDB (${results.offlineSync10kMs.runs} runs) | ${r(results.offlineSync10kMs)} ms |
| send → delivered between two pages, 100 msg/s (${results.sendToDeliverMs.samples} samples) | p50 ${results.sendToDeliverMs.p50.toFixed(1)} ms, p99 ${results.sendToDeliverMs.p99.toFixed(1)} ms, max ${results.sendToDeliverMs.max.toFixed(1)} ms |

| SPEC §5 budget | measured | budget | |
|---|---|---|---|
${budgets.map(([w, v, b, p]) => `| ${w} | ${v} | ${b} | ${p ? '**pass**' : '**FAIL**'} |`).join('\n')}

Reproduce: \`./build.sh bench\` (or \`node bindings/bench/browser-bench.mjs\` after \`./build.sh npm\`).
`;
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'browser.json'), JSON.stringify(results, null, 2));
writeFileSync(join(out, 'browser.md'), md);
console.log(md);
