// Live send → delivered between two pages, before/after in one run: two
// builds of the package (their dist/ folders) are served by two relays and
// measured in turns, A B A B …. In each turn a sender page sends 300 texts
// to a receiver page, one every 10 ms (100 msg/s), and the receiver notes
// how long each took from the sender's clock (the first 50 warm up and are
// not counted); each turn prints its p50 and p99.
//
//   node bindings/bench/live-ab.mjs DIST_A DIST_B [turns]
//
// LAT_STORAGE sets both pages' storage ('memory', the default, or
// 'indexeddb'); LAT_RECEIVER sets the receiver's alone. AB_RELAY_A /
// AB_RELAY_B run that side's relay from that binary.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from '../test/support/relay.mjs';
import { launch } from '../test/support/browser.mjs';
const here = dirname(fileURLToPath(import.meta.url));
const [distA, distB] = process.argv.slice(2, 4);
const ROUNDS = Number(process.argv[4] || 4);
async function side(name, dist) {
  const site = mkdtempSync(join(tmpdir(), `lat-${name}-`));
  cpSync(dist, site, { recursive: true });
  cpSync(join(here, '..', 'test', 'browser', 'harness.html'), join(site, 'harness.html'));
  const relay = await new Relay({ static: site, bin: process.env[`AB_RELAY_${name}`] || undefined, extra: ['--rate-limit', '100000', '--rate-burst', '100000'] }).start();
  return { name, relay, p50: [], p99: [] };
}
const sides = [await side('A', distA), await side('B', distB)];
const browser = await launch();
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const [ca, cb] = [await browser.newContext(), await browser.newContext()];
      const open = async (ctx) => { const p = await ctx.newPage(); await p.goto(`${s.relay.http}/harness.html`); await p.waitForFunction(() => window.parleyReady === true); return p; };
      const a = await open(ca), b = await open(cb);
      const storage = process.env.LAT_STORAGE || 'memory'; const rstorage = process.env.LAT_RECEIVER || storage;
      await a.evaluate(async (st) => { await P.start('latalice' + Math.random().toString(36).slice(2, 8), { storage: st }); await P.client.connect(); }, storage);
      const bob = 'latbob' + i;
      await b.evaluate(async ([st, bob]) => { await P.start(bob, { storage: st }); window.lat = []; P.client.on('message', (m) => { const t = Number(m.text); if (t) window.lat.push(performance.timeOrigin + performance.now() - t); }); await P.client.connect(); }, [rstorage, bob]);
      await a.evaluate(async (bob) => { const c = P.client.p2p(bob); for (let i = 0; i < 300; i++) { P.client.sendText(c, String(performance.timeOrigin + performance.now())).catch(() => {}); await new Promise((r) => setTimeout(r, 10)); } }, bob);
      await b.waitForFunction(() => window.lat.length >= 300, undefined, { timeout: 30000 });
      const lat = (await b.evaluate(() => window.lat)).slice(50);
      s.p50.push(pct(lat, 50)); s.p99.push(pct(lat, 99));
      console.log(JSON.stringify({ side: s.name, storage, rstorage, p50: +pct(lat, 50).toFixed(1), p99: +pct(lat, 99).toFixed(1) }));
      await ca.close(); await cb.close();
    }
  }
} finally { await browser.close(); for (const s of sides) await s.relay.stop(); }
