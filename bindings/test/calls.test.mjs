// Calls between two headless Chromium pages through a real relay process:
// fake camera and microphone (--use-fake-device-for-media-stream), the
// browser's own RTCPeerConnection, the relay's signaling. Run with
// `node --test test/calls.test.mjs` after `npm run build`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Relay } from './support/relay.mjs';
import { haveChromium, watch, CHROMIUM, waitForAsync } from './support/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
const skip = !haveChromium() ? 'Debian chromium is not installed (./build.sh test installs it)' : false;

let relay, browser;
const logs = [];

before(async () => {
  if (skip) return;
  assert.ok(existsSync(join(dist, 'esm', 'index.js')) && existsSync(join(dist, 'parley.wasm')), 'run `npm run build` first');
  const site = mkdtempSync(join(tmpdir(), 'parley-calls-'));
  cpSync(dist, site, { recursive: true });
  cpSync(join(here, 'browser', 'harness.html'), join(site, 'harness.html'));
  relay = await new Relay({ static: site, extra: ['--call-ring-timeout', '20s'] }).start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function page(name, user) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  logs.push(watch(p, name));
  await p.goto(`${relay.http}/harness.html`);
  await p.waitForFunction(() => window.parleyReady === true);
  await p.evaluate((u) => P.start(u), user);
  await p.evaluate(() => P.client.connect());
  // Calls and their events, kept on the page.
  await p.evaluate(() => {
    P.calls = [];
    P.callLog = [];
    P.track = (call) => {
      P.calls.push(call);
      call.on('state', (s) => P.callLog.push(['state', s]));
      call.on('remoteStream', () => P.callLog.push(['remoteStream']));
      call.on('ended', (e) => P.callLog.push(['ended', e.reason]));
    };
    P.client.on('call', (call) => P.track(call));
    // Every RTCPeerConnection the SDK makes, for getStats().
    const Native = window.RTCPeerConnection;
    P.pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        P.pcs.push(this);
      }
    };
    P.inboundVideo = async () => {
      let framesDecoded = 0;
      for (const pc of P.pcs) {
        (await pc.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video') framesDecoded += r.framesDecoded ?? 0;
        });
      }
      return { framesDecoded };
    };
  });
  return p;
}

const waitFor = (p, fn, arg, timeout = 30000) => p.waitForFunction(fn, arg, { timeout, polling: 100 });
const dump = () => logs.flat().slice(-40).join('\n');

test('two browsers: a video call connects, video frames are decoded, hang-up ends both, the record is in both views', { skip, timeout: 180000 }, async (t) => {
  const a = await page('alice', 'alice');
  const b = await page('bob', 'bob');
  try {
    await a.evaluate(async () => {
      const call = await P.client.call('bob', { audio: true, video: true });
      P.track(call);
      P.callLog.push(['placed', call.state, call.direction]);
    });
    await waitFor(b, () => P.calls.length === 1 && P.calls[0].state === 'ringing');
    const incoming = await b.evaluate(() => ({ dir: P.calls[0].direction, peers: P.calls[0].peers, media: P.calls[0].media }));
    assert.deepEqual(incoming, { dir: 'incoming', peers: ['alice'], media: { audio: true, video: true } });
    await b.evaluate(async () => {
      const call = P.calls[0];
      call.on('remoteStream', (s) => {
        const v = document.createElement('video');
        v.muted = true;
        v.autoplay = true;
        v.playsInline = true;
        v.srcObject = s;
        document.body.append(v);
        void v.play().catch(() => {});
      });
      await call.accept({ audio: true, video: true });
    });
    await waitFor(a, () => P.calls[0].state === 'connected');
    await waitFor(b, () => P.calls[0].state === 'connected' && P.calls[0].remoteStreams.length > 0);
    // getStats on the callee: inbound video frames decoded.
    const stats = await waitForAsync(b, async () => {
      const s = await P.inboundVideo();
      return s.framesDecoded > 0 && s;
    });
    assert.ok(stats.framesDecoded > 0, `framesDecoded ${stats.framesDecoded}`);
    t.diagnostic(`callee decoded ${stats.framesDecoded} video frames`);
    await a.evaluate(() => P.calls[0].hangup());
    await waitFor(a, () => P.callLog.some(([k, r]) => k === 'ended' && r === 'hangup'));
    await waitFor(b, () => P.callLog.some(([k, r]) => k === 'ended' && r === 'hangup'));
    for (const p of [a, b]) {
      const rec = await waitForAsync(p, async () => {
        const conv = P.client.p2p(P.client.userId === 'alice' ? 'bob' : 'alice');
        const ms = await P.client.messages(conv);
        const m = ms.find((x) => x.type === 'call');
        return m ? m.body : false;
      });
      assert.equal(rec.outcome, 'completed');
      assert.equal(rec.media, 'video');
      assert.ok(rec.durationMs > 0);
    }
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  }
});
