// Calls from React Native: the React Native side in Node (the packed
// tarballs, installed as an app installs them) drives the host page in
// headless Chromium (the WebView) with fake camera and microphone, against
// a real relay process; the peer is a browser page running @parley-im/sdk
// directly. The call runs in the host page, which shows its media; React
// Native holds a Call proxy. Chromium absent: skipped (./build.sh test
// installs it); present: these must pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { Relay } from '../../bindings/test/support/relay.mjs';
import { haveChromium, watch, CHROMIUM } from '../../bindings/test/support/browser.mjs';
import { WebView } from './support/webview.mjs';
import { until } from './support/pipe.mjs';

/** eventually waits for an async condition (until takes synchronous ones). */
async function eventually(cond, { timeout = 30000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', 'dist');
const sdkTgz = join(dist, 'parley-im-sdk-0.1.0.tgz');
const rnTgz = join(dist, 'parley-im-react-native-0.1.0.tgz');
const skip = haveChromium() ? false : 'Debian chromium is not installed (./build.sh test installs it)';

let relay, browser, lib, hostUrl;
const logs = [];

before(async () => {
  if (skip) return;
  for (const t of [sdkTgz, rnTgz]) assert.ok(existsSync(t), `${t} is missing: run ./build.sh npm`);
  const app = mkdtempSync(join(tmpdir(), 'parley-rn-calls-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rn-side', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--legacy-peer-deps', sdkTgz, rnTgz], { cwd: app, stdio: 'inherit' });
  writeFileSync(join(app, 'entry.mjs'), [
    "export * as bridge from '@parley-im/react-native/bridge';",
    "import { createRequire } from 'node:module';",
    "import { dirname } from 'node:path';",
    "export const hostDir = dirname(createRequire(import.meta.url).resolve('@parley-im/react-native/host/index.html'));",
  ].join('\n'));
  lib = await import(pathToFileURL(join(app, 'entry.mjs')).href);
  relay = await new Relay({ static: lib.hostDir, extra: ['--heartbeat', '2s', '--call-ring-timeout', '30s'] }).start();
  hostUrl = `${relay.http}/index.html`;
  // What react-native-webview grants with mediaCapturePermissionGrantType
  // "grant" and mediaPlaybackRequiresUserAction={false}: the camera and
  // microphone without a prompt, media that plays without a tap.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** A browser page of the relay's origin running @parley-im/sdk directly: the peer. */
async function browserPeer(user) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  logs.push(watch(p, user));
  await p.goto(`${relay.http}/index.html#peer`); // the origin only: the peer makes its own client below
  await p.evaluate(async ([url, token]) => {
    const sdk = await import('/sdk/esm/index.js');
    const client = await sdk.createClient({ url, token, storage: 'memory', wasmUrl: '/sdk/parley.wasm', logLevel: 'silent' });
    window.peer = { client, calls: [], log: [] };
    client.on('call', (call) => {
      window.peer.calls.push(call);
      call.on('state', (s) => window.peer.log.push(['state', s]));
      call.on('ended', (e) => window.peer.log.push(['ended', e.reason]));
    });
    await client.connect();
  }, [relay.ws, relay.token(user)]);
  return { page: p, ctx };
}

/** The frames the video elements of the call view decoded, per stream. */
function callMedia(view) {
  return view.page.evaluate(() => window.parleyHost.callMedia());
}

function track(call) {
  const log = [];
  call.on('state', (s) => log.push(['state', s]));
  call.on('remoteStream', (s) => log.push(['remoteStream', s]));
  call.on('ended', (e) => log.push(['ended', e.reason]));
  return log;
}

async function recordIn(client, conv, callId) {
  let rec;
  await eventually(async () => {
    const ms = await client.messages(conv, { limit: 20 });
    const m = ms.find((x) => x.type === 'call' && x.body?.callId === callId);
    rec = m?.body;
    return rec !== undefined;
  }, { timeout: 30000, what: `the record of ${callId}` });
  return rec;
}

test('a call from React Native: the host page places it, shows the media, React Native holds the Call', { skip, timeout: 180000 }, async () => {
  const context = await browser.newContext();
  const views = await WebView.install(context);
  const view = new WebView(context, hostUrl, { via: 'document' });
  views.add(view);
  const bob = await browserPeer('rnc-bob');
  try {
    await view.load();
    logs.push(watch(view.page, 'host'));
    const alice = await lib.bridge.createClient({ url: relay.ws, token: relay.token('rnc-alice'), logLevel: 'warn', logger: () => {} }, { transport: view });
    await alice.connect();
    const conv = alice.p2p('rnc-bob');

    // Outgoing: React Native calls, the browser answers with video.
    const call = await alice.call('rnc-bob', { audio: true, video: true });
    assert.equal(typeof call.id, 'string');
    assert.deepEqual([call.direction, call.conversationId, call.peers, call.media, call.state], ['outgoing', conv, ['rnc-bob'], { audio: true, video: true }, 'ringing']);
    assert.equal(call.localStream?.video, true, 'the local stream is described: it plays in the page');
    const log = track(call);
    await bob.page.waitForFunction(() => window.peer.calls.length === 1, null, { timeout: 30000 });
    await bob.page.evaluate(() => window.peer.calls[0].accept({ audio: true, video: true }));
    await until(() => call.state === 'connected', { timeout: 45000, what: 'the React Native side sees the call connected' });
    await until(() => call.remoteStreams.length === 1, { timeout: 30000, what: 'a remote stream descriptor' });
    assert.equal(call.remoteStreams[0].video, true);
    assert.ok(log.some(([e, p]) => e === 'remoteStream' && p.id === call.remoteStreams[0].id), 'remoteStream reached React Native');
    // The media plays in the page: the call view's remote video decodes frames.
    let media;
    await eventually(async () => {
      media = await callMedia(view);
      return media.some((m) => !m.local && m.stream === call.remoteStreams[0].id && m.frames > 0);
    }, { timeout: 45000, what: 'remote video frames decoded in the host page' });
    assert.ok(media.some((m) => m.local), 'the local camera is shown too');
    assert.equal(await view.page.evaluate(() => getComputedStyle(document.getElementById('parley-call')).display), 'flex', 'the call view is shown');
    call.setMicrophoneEnabled(false);
    await call.hangup();
    await until(() => log.some(([e]) => e === 'ended'), { timeout: 30000, what: 'ended on React Native' });
    assert.deepEqual(log.filter(([e]) => e === 'ended'), [['ended', 'hangup']]);
    assert.equal(call.state, 'ended');
    await bob.page.waitForFunction(() => window.peer.log.some(([e, r]) => e === 'ended' && r === 'hangup'), null, { timeout: 30000 });
    assert.deepEqual(await callMedia(view), [], 'the call view is empty after the call');
    assert.equal(await view.page.evaluate(() => getComputedStyle(document.getElementById('parley-call')).display), 'none');
    const rec = await recordIn(alice, conv, call.id);
    assert.equal(rec.outcome, 'completed');
    assert.equal(rec.media, 'video');
    assert.ok(rec.durationMs > 0);
    await call.hangup(); // over already: resolves, as the SDK's does

    // Incoming: the browser calls, the 'call' event reaches React Native,
    // which accepts and hangs up.
    const incoming = new Promise((resolve) => alice.once('call', resolve));
    const callId = await bob.page.evaluate(async () => {
      window.peer.out = await window.peer.client.call('rnc-alice', { audio: true, video: true });
      window.peer.out.on('ended', (e) => window.peer.log.push(['outEnded', e.reason]));
      return window.peer.out.id;
    });
    const inCall = await incoming;
    assert.deepEqual([inCall.id, inCall.direction, inCall.state, inCall.peers], [callId, 'incoming', 'ringing', ['rnc-bob']]);
    const inLog = track(inCall);
    await inCall.accept({ audio: true, video: true });
    await until(() => inCall.state === 'connected', { timeout: 45000, what: 'the incoming call connected' });
    await eventually(async () => (await callMedia(view)).some((m) => !m.local && m.frames > 0), { timeout: 45000, what: 'frames of the incoming call decoded in the host page' });
    await inCall.hangup();
    await until(() => inLog.some(([e]) => e === 'ended'), { timeout: 30000, what: 'the incoming call ended' });
    assert.deepEqual(inLog.filter(([e]) => e === 'ended'), [['ended', 'hangup']]);
    assert.equal(inCall.state, 'ended');
    await bob.page.waitForFunction(() => window.peer.log.some(([e, r]) => e === 'outEnded' && r === 'hangup'), null, { timeout: 30000 });
    const rec2 = await recordIn(alice, conv, callId);
    assert.equal(rec2.outcome, 'completed');
    await alice.close();
  } catch (e) {
    for (const l of logs) for (const line of l) console.log(line);
    throw e;
  } finally {
    await context.close();
    await bob.ctx.close();
  }
});

// holdPlaceAnswer, on the host page: the answer of the next placeCall is
// held, with every event after it, until the call's end has come; then the
// answer settles and the events follow in the same turn, the order the
// bridge itself makes when they run in one batch. call() in the page then
// returns a call that is over.
function holdPlaceAnswer() {
  let bridge;
  const wrap = (b) => new Proxy(b, {
    get(t, k) {
      if (k !== 'newClient') return Reflect.get(t, k);
      return (config, host) => {
        const deliver = host.onEvents.bind(host);
        let held = null;
        host.onEvents = (evs, stored) => {
          if (!held) return deliver(evs, stored);
          held.events.push([evs, stored]);
          held.check(evs);
        };
        const wc = t.newClient(config, host);
        let armed = true;
        return new Proxy(wc, {
          get(w, m) {
            const f = Reflect.get(w, m);
            if (m !== 'placeCall' || !armed) return f;
            armed = false;
            return (...a) => new Promise((resolve, reject) => {
              let settle = null;
              let seen = false;
              const release = () => {
                if (!settle || !seen) return;
                const events = held.events;
                held = null;
                settle();
                for (const [evs, stored] of events) deliver(evs, stored);
              };
              held = { events: [], check: (evs) => { seen ||= evs.some((e) => e.kind === 'call' && e.call.change === 'ended'); release(); } };
              f.apply(w, a).then((v) => { settle = () => resolve(v); release(); }, (e) => { settle = () => reject(e); seen = true; release(); });
            });
          },
        });
      };
    },
  });
  Object.defineProperty(window, '__parley_v1', { configurable: true, get: () => bridge, set: (b) => { bridge = b && wrap(b); } });
}

test('a call from React Native that ends before call() returns in the page: the proxy is ended with its reason, its ended handler runs, nothing is shown', { skip, timeout: 120000 }, async () => {
  const context = await browser.newContext();
  await context.addInitScript(holdPlaceAnswer);
  const views = await WebView.install(context);
  const view = new WebView(context, hostUrl, { via: 'document' });
  views.add(view);
  try {
    await view.load();
    logs.push(watch(view.page, 'host'));
    const alice = await lib.bridge.createClient({ url: relay.ws, token: relay.token('rne-alice'), logLevel: 'warn', logger: () => {} }, { transport: view });
    await alice.connect();
    // Nobody online to ring: the relay ends the call as it answers it.
    const call = await alice.call('rne-nobody', { audio: true, video: false });
    assert.deepEqual([call.state, call.endReason], ['ended', 'unavailable']);
    const log = track(call);
    await until(() => log.length > 0, { timeout: 5000, what: 'the ended handler added after the end' });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(log, [['ended', 'unavailable']]);
    assert.deepEqual(await callMedia(view), [], 'nothing of the call is shown');
    assert.equal(await view.page.evaluate(() => {
      const el = document.getElementById('parley-call');
      return el ? getComputedStyle(el).display : 'none';
    }), 'none', 'the call view is not shown');
    await alice.close();
  } catch (e) {
    for (const l of logs) for (const line of l) console.log(line);
    throw e;
  } finally {
    await context.close();
  }
});
