// A Chromium trace of one cold start (a reload of the benchmark page whose
// IndexedDB holds 50 conversations) and a summary of where its time went:
// each request of the page (sent, response, finished, from cache or not),
// the wasm compile and instantiate events, and the renderer main thread's
// busy time between the phases. After ./build.sh npm:
//
//   node bindings/bench/cold-trace.mjs [dist] [out.json]
//
// dist defaults to bindings/dist; out.json (the raw trace) to a temporary file.
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from '../test/support/relay.mjs';
import { launch } from '../test/support/browser.mjs';
import { notePhases, coldStart, seedColdCache } from './cold-phases.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.argv[2] || join(here, '..', 'dist');
const out = process.argv[3] || join(mkdtempSync(join(tmpdir(), 'parley-trace-')), 'trace.json');
const site = mkdtempSync(join(tmpdir(), 'parley-trace-site-'));
cpSync(dist, site, { recursive: true });
cpSync(join(here, '..', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  await ctx.addInitScript(notePhases);
  const p = await ctx.newPage();
  await p.goto(`${relay.http}/harness.html`);
  await p.waitForFunction(() => window.parleyReady === true);
  await seedColdCache(p);
  for (let i = 0; i < Number(process.env.WARM || 2); i++) await coldStart(p);
  await browser.startTracing(p, {
    path: out,
    categories: (process.env.TRACE_CATEGORIES || 'devtools.timeline,v8.wasm,disabled-by-default-v8.wasm.detailed,loading,blink.user_timing,toplevel,disabled-by-default-devtools.timeline').split(','),
  });
  const r = await coldStart(p);
  await browser.stopTracing();
  console.log(JSON.stringify(Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, Math.round(v)]))));
  console.log('trace:', out);
  summarize(JSON.parse(readFileSync(out, 'utf8')).traceEvents);
} finally {
  await browser.close();
  await relay.stop();
}

// summarize prints, in ms from the reload's navigation start, the requests
// of the page, the wasm events and the renderer main thread's tasks of
// over 3 ms with their CPU time (wall time above it is the thread waiting
// for a core).
function summarize(ev) {
  const navs = ev.filter((e) => e.name === 'navigationStart' && e.args?.data?.documentLoaderURL);
  if (navs.length === 0) return console.log('no navigationStart in the trace (add blink.user_timing)');
  const nav = navs.at(-1);
  const ms = (ts) => ((ts - nav.ts) / 1000).toFixed(1).padStart(7);
  const main = (e) => e.pid === nav.pid && e.tid === nav.tid;
  const urls = new Map();
  for (const e of ev.filter((e) => e.ts >= nav.ts).sort((a, b) => a.ts - b.ts)) {
    const d = e.args?.data;
    if (e.name === 'ResourceSendRequest') urls.set(d.requestId, d.url.replace(/^https?:\/\/[^/]+/, ''));
    if (/^Resource(SendRequest|ReceiveResponse|Finish)$/.test(e.name)) {
      console.log(ms(e.ts), e.name.replace('Resource', '').padEnd(15), urls.get(d.requestId) ?? d.requestId, e.name === 'ResourceReceiveResponse' ? `${d.statusCode} fromCache=${d.fromCache}` : e.name === 'ResourceFinish' ? `${d.decodedBodyLength} B` : '');
    } else if (/^(wasm\.|v8\.wasm\.)/.test(e.name) && (e.dur ?? 0) >= 1000) {
      console.log(ms(e.ts), `${(e.dur / 1000).toFixed(1)} ms`.padEnd(15), e.name, main(e) ? '(main thread)' : '(worker)');
    } else if (main(e) && e.name === 'RunTask' && e.dur >= 3000) {
      console.log(ms(e.ts), `${(e.dur / 1000).toFixed(1)} ms`.padEnd(15), `task, ${(e.tdur / 1000).toFixed(1)} ms CPU`);
    }
  }
}
