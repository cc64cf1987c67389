// Where a cold start's time goes, in headless Chromium: a page whose
// IndexedDB holds 50 conversations is reloaded, and the phases from
// navigation start to the conversation list are read from the page's own
// clock (an init script notes when the wasm response ended, when
// instantiation resolved and when the Go program published its bridge).
// Used by browser-bench.mjs; `node bindings/bench/cold-phases.mjs` prints
// the phases of the benchmark page and of the same page with the package
// bundled into one file, interleaved (after ./build.sh npm).
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * addBundledPage writes bundle.html into site: harness.html with the
 * package's ES modules bundled into one file (bundle.js, by esbuild, as an
 * app's bundler would), so that the page loads one script instead of the
 * package's ~20 modules. parley.wasm stays where it is (the bundle keeps
 * the package's `new URL('../parley.wasm?v=…', import.meta.url)`, which
 * from the site's root names /parley.wasm).
 */
export async function addBundledPage(site) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(site, 'esm', 'index.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    external: ['ws', 'node:*'],
    outfile: join(site, 'bundle.js'),
    logLevel: 'warning',
  });
  const page = readFileSync(join(site, 'harness.html'), 'utf8');
  const bundled = page.replace("from './esm/index.js'", "from './bundle.js'");
  if (bundled === page) throw new Error('harness.html no longer imports ./esm/index.js');
  writeFileSync(join(site, 'bundle.html'), bundled);
}

/**
 * seedColdCache has the page (harness.html) start the client as coldbob,
 * send 50 one-to-one messages and keep them in its IndexedDB cache: the
 * conversations a cold start then lists.
 */
export async function seedColdCache(page) {
  await page.evaluate(async () => {
    await P.start('coldbob');
    await P.client.connect();
    await Promise.all(Array.from({ length: 50 }, (_, i) => P.client.sendText(P.client.p2p(`cold${i}`), `hello ${i}`)));
    await P.client.waitSynced();
    await P.client.close();
  });
}

/** The init script: marks on the page's clock, in window.__phases. */
export function notePhases() {
  const ph = (window.__phases = {});
  const W = WebAssembly;
  for (const name of ['instantiate', 'instantiateStreaming', 'compile', 'compileStreaming']) {
    const f = W[name];
    if (typeof f !== 'function') continue;
    W[name] = function (...args) {
      ph[`${name}Called`] ??= performance.now();
      return f.apply(this, args).then((r) => {
        ph[`${name}Done`] ??= performance.now();
        return r;
      });
    };
  }
  // When the page's own script has run (it sets parleyReady last): what
  // comes after it, until harnessReady, is the driver noticing.
  let ready;
  Object.defineProperty(globalThis, 'parleyReady', {
    configurable: true,
    get: () => ready,
    set: (v) => {
      ph.pageScriptDone ??= performance.now();
      ready = v;
    },
  });
  let bridge;
  Object.defineProperty(globalThis, '__parley_v1', {
    configurable: true,
    get: () => bridge,
    set: (v) => {
      ph.goMain ??= performance.now();
      bridge = v;
    },
  });
}

/**
 * coldStart measures one cold start of page: it navigates the page to url
 * (or, without one, reloads it: the same origin's cache) and reads that cold
 * start's phases (ms from navigation start). By default the page starts the
 * client itself as soon as its script has run (harness.html?cold=coldbob),
 * as an application does when it loads. With { driver: true } the driver
 * first waits until it sees the page ready and then asks it to start the
 * client: the measure of earlier reports, which also counts the driver's
 * polling and its round trip into the page (under Playwright on this 2-CPU
 * host, 60–130 ms when it was loaded, a few ms when idle).
 */
export async function coldStart(page, url, { driver = false } = {}) {
  const target = new URL(url ?? page.url());
  if (driver) target.searchParams.delete('cold');
  else target.searchParams.set('cold', 'coldbob');
  if (target.href === page.url()) await page.reload();
  else await page.goto(target.href);
  if (driver) {
    await page.waitForFunction(() => window.parleyReady === true);
    await page.evaluate(async () => {
      const ph = window.__phases;
      ph.harnessReady = performance.now();
      await P.start('coldbob');
      ph.clientCreated = performance.now();
      window.parleyCold = Promise.resolve((await P.client.conversations()).length);
      ph.list = performance.now();
    });
  } else {
    await page.waitForFunction(() => window.parleyCold !== undefined);
  }
  return page.evaluate(async () => {
    const n = await window.parleyCold;
    const ph = window.__phases;
    ph.instantiated = ph.instantiateStreamingDone ?? ph.instantiateDone;
    ph.streaming = ph.instantiateStreamingDone !== undefined || ph.compileStreamingDone !== undefined ? 1 : 0;
    const wasm = performance.getEntriesByType('resource').find((e) => /\/parley\.wasm(\?|$)/.test(e.name));
    const modules = performance.getEntriesByType('resource').filter((e) => /\/(esm\/[^/]+|bundle)\.js$/.test(e.name));
    if (modules.length > 0) ph.modulesEnd = Math.max(...modules.map((e) => e.responseEnd));
    if (wasm) {
      ph.wasmRequest = wasm.requestStart || wasm.startTime;
      ph.wasmResponseStart = wasm.responseStart;
      ph.wasmResponseEnd = wasm.responseEnd;
      ph.wasmTransferBytes = wasm.transferSize;
    }
    return { n, phases: ph };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { Relay } = await import('../test/support/relay.mjs');
  const { launch } = await import('../test/support/browser.mjs');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const site = mkdtempSync(join(tmpdir(), 'parley-cold-'));
  cpSync(join(root, 'bindings', 'dist'), site, { recursive: true });
  cpSync(join(root, 'bindings', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
  await addBundledPage(site);
  const relay = await new Relay({ static: site, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
  const browser = await launch();
  try {
    const ctx = await browser.newContext();
    await ctx.addInitScript(notePhases);
    const p = await ctx.newPage();
    await p.goto(`${relay.http}/harness.html`);
    await p.waitForFunction(() => window.parleyReady === true);
    await seedColdCache(p);
    for (let i = 0; i < Number(process.env.RUNS || 5); i++) {
      for (const page of i % 2 ? ['bundle.html', 'harness.html'] : ['harness.html', 'bundle.html']) {
        const r = await coldStart(p, `${relay.http}/${page}`);
        console.log(page, JSON.stringify(Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, Math.round(v)]))));
      }
    }
  } finally {
    await browser.close();
    await relay.stop();
  }
}
