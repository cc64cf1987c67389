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
// machine). AB_LATENCY_MS adds that much latency to every request of the
// cold-start page (Chromium's network emulation, revalidations included),
// as a network between the page and its server would. AB_QUERY_A /
// AB_QUERY_B add a query to that side's page, e.g. AB_QUERY_B='?early=1'
// (the page starts compiling parley.wasm before its own script loads, see
// harness.html): give the same dist twice to compare the two ways of
// loading one build. AB_RELAY_A / AB_RELAY_B run that side's relay from
// that binary (a relay built from the other commit; default: this
// repository's). The page starts the client itself once its script has
// run (harness.html?cold=); AB_COLD_DRIVER=1 measures the way earlier
// reports did instead: the driver waits until it sees the page ready and
// then starts the client, its polling and round trip counted. AB_SYNC_RUNS sets the number of syncs
// per build (default: runs, at most 3). Besides its wall time, each sync
// reports the renderer's main-thread time (Chromium's TaskDuration and
// ScriptDuration over the sync, from CDP Performance.getMetrics), the CPU
// time the sync cost the browser (every Chromium process, CDP
// SystemInfo.getProcessInfo) and the relay (/proc), which a loaded machine
// does not inflate the way it does wall time, and the number of IndexedDB
// readwrite transactions it ran.
import { readFileSync } from 'node:fs';
import { launch } from '../test/support/browser.mjs';
import { notePhases, coldStart } from './cold-phases.mjs';
import { SYNC_MESSAGES, openPage, seedSync, serveBuild } from './sync-seed.mjs';

const [distA, distB] = process.argv.slice(2, 4);
const RUNS = Number(process.argv[4] || 5);
const SYNC = process.env.AB_SYNC !== '0';
const LATENCY = Number(process.env.AB_LATENCY_MS || 0);
const COLD_DRIVER = process.env.AB_COLD_DRIVER === '1';
if (!distA || !distB) {
  console.error('usage: node bindings/bench/ab.mjs DIST_A DIST_B [runs]');
  process.exit(2);
}
const stat = (xs) => ({ median: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), runs: xs.length });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function side(name, dist) {
  const relay = await serveBuild(dist, `parley-ab-${name}-`, { bin: process.env[`AB_RELAY_${name}`] || undefined });
  return { name, relay, query: process.env[`AB_QUERY_${name}`] ?? '', cold: [], phases: [], sync: [], syncTask: [], syncScript: [], syncBrowserCpu: [], syncRelayCpu: [] };
}

const sides = [await side('A', distA), await side('B', distB)];
const browser = await launch();

const open = (ctx, s) => openPage(ctx, s.relay, s.query);

try {
  // Seed both relays: 50 one-to-one conversations for the cold start, a
  // conversation of 10,000 messages for the sync (sync-seed.mjs).
  for (const s of sides) {
    const ctx = await browser.newContext();
    const p = await open(ctx, s);
    await p.evaluate(async () => {
      await P.start('coldbob', { storage: 'memory' });
      await P.client.connect();
      await Promise.all(Array.from({ length: 50 }, (_, i) => P.client.sendText(P.client.p2p(`cold${i}`), `hello ${i}`)));
      await P.client.close();
    });
    if (SYNC) await seedSync(p);
    await ctx.close();
    s.coldCtx = await browser.newContext();
    await s.coldCtx.addInitScript(notePhases);
    s.coldPage = await open(s.coldCtx, s);
    if (LATENCY) {
      const cdp = await s.coldCtx.newCDPSession(s.coldPage);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: LATENCY, downloadThroughput: -1, uploadThroughput: -1 });
    }
    await s.coldPage.evaluate(async () => { await P.start('coldbob'); await P.client.connect(); await P.client.waitSynced(); await P.client.close(); });
  }
  for (let i = 0; i < RUNS; i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const r = await coldStart(s.coldPage, undefined, { driver: COLD_DRIVER });
      if (r.n < 50) throw new Error(`${s.name}: cold start listed ${r.n} conversations`);
      s.cold.push(r.phases.list);
      s.phases.push(r.phases);
      console.log(JSON.stringify({ side: s.name, cold: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, Math.round(v)])) }));
    }
  }
  const SYNC_RUNS = Number(process.env.AB_SYNC_RUNS || Math.min(RUNS, 3));
  const sys = await browser.newBrowserCDPSession();
  const browserCpu = async () => (await sys.send('SystemInfo.getProcessInfo')).processInfo.reduce((t, p) => t + p.cpuTime, 0) * 1000;
  // utime + stime of a process, in ms (clock ticks of 10 ms on Linux).
  const procCpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
  const metrics = async (cdp) => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  for (let i = 0; i < (SYNC ? SYNC_RUNS : 0); i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const ctx = await browser.newContext();
      const p = await open(ctx, s);
      const cdp = await ctx.newCDPSession(p);
      await cdp.send('Performance.enable');
      await p.evaluate(async () => {
        await P.start('syncbob', { copyEvents: false });
        window.__rw = 0;
        const tx = IDBDatabase.prototype.transaction;
        IDBDatabase.prototype.transaction = function (stores, mode, opts) {
          if (mode === 'readwrite') window.__rw++;
          return tx.call(this, stores, mode, opts);
        };
      });
      const m0 = await metrics(cdp);
      const cpu0 = [await browserCpu(), procCpu(s.relay.proc.pid)];
      const r = await p.evaluate(async () => {
        const t0 = performance.now();
        await P.client.connect();
        await P.client.waitSynced();
        const ms = performance.now() - t0;
        const n = await P.storedMessages();
        return { ms, n, rw: window.__rw };
      });
      const m1 = await metrics(cdp);
      const cpu1 = [await browserCpu(), procCpu(s.relay.proc.pid)];
      if (r.n !== SYNC_MESSAGES) throw new Error(`${s.name}: synced ${r.n} messages into IndexedDB`);
      const task = (m1.TaskDuration - m0.TaskDuration) * 1000;
      const script = (m1.ScriptDuration - m0.ScriptDuration) * 1000;
      s.sync.push(r.ms);
      s.syncTask.push(task);
      s.syncScript.push(script);
      const [browserCpuMs, relayCpuMs] = [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]];
      s.syncBrowserCpu.push(browserCpuMs);
      s.syncRelayCpu.push(relayCpuMs);
      console.log(JSON.stringify({ side: s.name, syncMs: Math.round(r.ms), mainThreadTaskMs: Math.round(task), scriptMs: Math.round(script), browserCpuMs: Math.round(browserCpuMs), relayCpuMs, readwriteTransactions: r.rw }));
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
      offlineSync10kMs: SYNC ? stat(s.sync) : null,
      offlineSync10kMainThreadTaskMs: SYNC ? stat(s.syncTask) : null,
      offlineSync10kScriptMs: SYNC ? stat(s.syncScript) : null,
      offlineSync10kBrowserCpuMs: SYNC ? stat(s.syncBrowserCpu) : null,
      offlineSync10kRelayCpuMs: SYNC ? stat(s.syncRelayCpu) : null,
    }));
  }
} finally {
  await browser.close();
  for (const s of sides) await s.relay.stop();
}
