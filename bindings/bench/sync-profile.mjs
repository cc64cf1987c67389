// A CPU profile of one offline sync of 10,000 messages into IndexedDB in
// headless Chromium (the sync of ab.mjs): where the renderer's main thread
// spends the sync, by self time per function, with its idle time.
//
//   node bindings/bench/sync-profile.mjs [dist] [out.cpuprofile]
//
// dist defaults to bindings/dist. SYNC_STORAGE=memory syncs into the SDK's
// memory storage instead of IndexedDB (what the storage costs, by difference). Prints the sync's wall time and the top
// functions by self time (PROFILE_TOP, default 40); the whole profile is
// written to out.cpuprofile when given (Chrome DevTools opens it).
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../test/support/browser.mjs';
import { SYNC_MESSAGES, openPage, seedSync, serveBuild } from './sync-seed.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.argv[2] || join(here, '..', 'dist');
const outFile = process.argv[3];
const TOP = Number(process.env.PROFILE_TOP || 40);
const memory = process.env.SYNC_STORAGE === 'memory';

const relay = await serveBuild(dist, 'parley-profile-');
const browser = await launch();
try {
  const seed = await browser.newContext();
  await seedSync(await openPage(seed, relay));
  await seed.close();
  const ctx = await browser.newContext();
  const p = await openPage(ctx, relay);
  await p.evaluate(async (memory) => {
    await P.start('syncbob', memory ? { copyEvents: false, storage: 'memory' } : { copyEvents: false });
    // What the page sends on its WebSocket during the sync, and the time in send().
    const ws = { frames: 0, bytes: 0, ms: 0, each: [] };
    window.__ws = ws;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (d) {
      const t = performance.now();
      try {
        return send.call(this, d);
      } finally {
        ws.ms += performance.now() - t;
        ws.each.push(Math.round((performance.now() - t) * 10) / 10);
        ws.frames++;
        ws.bytes += d.byteLength ?? d.length ?? 0;
      }
    };
  }, memory);
  const cdp = await ctx.newCDPSession(p);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const r = await p.evaluate(async (memory) => {
    const t0 = performance.now();
    await P.client.connect();
    await P.client.waitSynced();
    const ms = performance.now() - t0;
    // In memory, the conversation's last message is the last seeded once every page is in.
    const n = memory ? (await P.client.conversations()).find((c) => c.id === P.client.p2p('syncalice'))?.lastMessage?.seq : await P.storedMessages();
    return { ms, n, ws: window.__ws };
  }, memory);
  const { profile } = await cdp.send('Profiler.stop');
  if (r.n !== SYNC_MESSAGES) throw new Error(`synced ${r.n} messages into ${memory ? 'memory' : 'IndexedDB'}`);
  if (outFile) writeFileSync(outFile, JSON.stringify(profile));
  // Self time per node from the samples and their time deltas.
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] / 1000;
    total += dt;
    const f = byId.get(id).callFrame;
    const key = f.functionName || `(anonymous ${f.url.split('/').pop()}:${f.lineNumber})`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  console.log(JSON.stringify({ syncMs: Math.round(r.ms), profiledMs: Math.round(total), webSocketSends: r.ws.frames, webSocketBytes: r.ws.bytes, webSocketSendMs: Math.round(r.ws.ms), eachSendMs: r.ws.each }));
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${v.toFixed(1).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
  }
} finally {
  await browser.close();
  await relay.stop();
}
