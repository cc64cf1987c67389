// The cold start of cold-phases.mjs without Playwright: Chromium driven
// over its DevTools protocol directly, with nothing but the Page and
// Runtime domains (no Network domain, no injected scripts), so the time
// between the page being ready and the driver starting the client is a
// few ms instead of Playwright's. Pages are given relative to site, each
// reloaded in turn; a page whose path contains "harness" is the benchmark
// page (50 conversations seeded, then createClient and the list), any
// other page gets P.start() only (cold-floor.mjs's empty.html, wasm.html).
//
//   RUNS=14 node bindings/bench/cold-cdp.mjs SITE a/harness.html b/harness.html
//
// e.g. SITE/a and SITE/b each holding a build's bindings/dist and
// harness.html, to compare two builds with the same driver. CDP_NETWORK=1
// turns the Network domain on, as Playwright does.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const WebSocket = require('ws');
import { Relay } from '../test/support/relay.mjs';
import { CHROMIUM } from '../test/support/browser.mjs';
import { notePhases } from './cold-phases.mjs';

const site = process.argv[2]; const pages = process.argv.slice(3);
const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
const udd = mkdtempSync(join(tmpdir(), 'rawcdp-'));
const chrome = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--remote-debugging-port=0', `--user-data-dir=${udd}`, 'about:blank'], { stdio: 'ignore' });
process.on('exit', () => chrome.kill());
let port;
for (let i = 0; i < 100 && !port; i++) { await new Promise((r) => setTimeout(r, 100)); const f = join(udd, 'DevToolsActivePort'); if (existsSync(f)) port = readFileSync(f, 'utf8').split('\n')[0]; }
async function session(url) {
  const t = await (await fetch(`http://127.0.0.1:${port}/json/new?about:blank`, { method: 'PUT' })).json();
  const ws = new WebSocket(t.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((r) => ws.on('open', r));
  let id = 0; const pending = new Map(); const listeners = [];
  ws.on('message', (m) => { const msg = JSON.parse(m); if (msg.id && pending.has(msg.id)) { const [res, rej] = pending.get(msg.id); pending.delete(msg.id); msg.error ? rej(new Error(JSON.stringify(msg.error))) : res(msg.result); } else for (const l of listeners) l(msg); });
  const send = (method, params = {}) => new Promise((res, rej) => { const i = ++id; pending.set(i, [res, rej]); ws.send(JSON.stringify({ id: i, method, params })); });
  await send('Page.enable');
  // CDP_NETWORK=1: the Network domain on, as Playwright keeps it on every page.
  if (process.env.CDP_NETWORK === '1') await send('Network.enable');
  await send('Page.addScriptToEvaluateOnNewDocument', { source: `(${notePhases})()` });
  const loaded = () => new Promise((r) => listeners.push(function f(m) { if (m.method === 'Page.loadEventFired') { listeners.splice(listeners.indexOf(f), 1); r(); } }));
  const ev = async (expr) => (await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true })).result.value;
  const waitReady = async () => { for (;;) { if (await ev('window.parleyReady === true')) return; await new Promise((r) => setTimeout(r, 2)); } };
  let l = loaded(); await send('Page.navigate', { url }); await l; await waitReady();
  return { send, ev, waitReady, loaded, close: () => ws.close() };
}
try {
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const S = {};
  for (const p of pages) {
    S[p] = await session(`${relay.http}/${p}`);
    if (p.includes('harness')) await S[p].ev(`(async () => { await P.start('coldbob'); await P.client.connect(); await Promise.all(Array.from({ length: 50 }, (_, i) => P.client.sendText(P.client.p2p('cold' + i), 'hello ' + i))); await P.client.waitSynced(); await P.client.close(); })()`);
    else await S[p].ev('P.start()');
  }
  const res = Object.fromEntries(pages.map((p) => [p, []]));
  for (let i = 0; i < Number(process.env.RUNS || 8); i++) {
    for (const p of i % 2 ? [...pages].reverse() : pages) {
      const s = S[p];
      const l = s.loaded(); await s.send('Page.reload'); await s.waitReady();
      const ph = await s.ev(p.includes('harness') ? `(async () => { const ph = window.__phases; ph.harnessReady = performance.now(); await P.start('coldbob'); ph.clientCreated = performance.now(); const list = await P.client.conversations(); ph.list = performance.now(); ph.n = list.length; const w = performance.getEntriesByType('resource').find((e) => e.name.includes('/parley.wasm')); ph.wasmRequest = w.requestStart; ph.wasmResponseEnd = w.responseEnd; return ph; })()`
        : `(async () => { const ph = window.__phases; ph.harnessReady = performance.now(); await P.start(); ph.end = performance.now(); const w = performance.getEntriesByType('resource').find((e) => e.name.includes('/parley.wasm')); if (w) { ph.wasmRequest = w.requestStart; ph.wasmResponseEnd = w.responseEnd; } return ph; })()`);
      await l;
      res[p].push(ph);
      console.log(p, JSON.stringify(Object.fromEntries(Object.entries(ph).map(([k, v]) => [k, Math.round(v)]))));
    }
  }
  for (const p of pages) { const keys = Object.keys(res[p][0]); console.log(JSON.stringify({ page: p, median: Object.fromEntries(keys.map((k) => [k, Math.round(med(res[p].map((r) => r[k] ?? NaN)))])) })); }
  for (const p of pages) S[p].close();
} finally {
  chrome.kill();
  await relay.stop();
}
