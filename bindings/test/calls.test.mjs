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

// reorder stands between the SDK and its parley.wasm bridge on a page:
// the client's events and its answers pass through unchanged, except the
// answer of the next request named by window.order.gate ({ method, until }),
// which is held, with every event after the request, until an event that
// until(event) picks has come. Then the answer settles and the events held
// are handed over right after it, in the same turn: the order the bridge
// itself makes when the answer and later events run in one batch of its
// host queue, which a loaded machine can make of any request and the
// events it causes. window.order.sent lists the kinds of the signals the
// SDK sent.
function reorder() {
  const order = { gate: null, sent: [] };
  window.order = order;
  let bridge;
  const wrapBridge = (b) => new Proxy(b, {
    get(t, k) {
      if (k !== 'newClient') return Reflect.get(t, k);
      return (config, host) => {
        const deliver = host.onEvents.bind(host);
        let held = null; // the gate open meanwhile: { events, check }
        host.onEvents = (evs, stored) => {
          if (!held) return deliver(evs, stored);
          held.events.push([evs, stored]);
          held.check(evs);
        };
        const wc = t.newClient(config, host);
        const gated = (gate, request) => new Promise((resolve, reject) => {
          let settle = null;
          let seen = false;
          const release = () => {
            if (!settle || !seen) return;
            const events = held.events;
            held = null;
            settle();
            for (const [evs, stored] of events) deliver(evs, stored);
          };
          held = { events: [], check: (evs) => { seen ||= evs.some(gate.until); release(); } };
          request.then((v) => { settle = () => resolve(v); release(); }, (e) => { settle = () => reject(e); seen = true; release(); });
        });
        return new Proxy(wc, {
          get(w, m) {
            const f = Reflect.get(w, m);
            if (m === 'signalCall') return (...a) => { order.sent.push(a[2]); return f.apply(w, a); };
            if (m === order.gate?.method) {
              const gate = order.gate;
              order.gate = null;
              return (...a) => gated(gate, f.apply(w, a));
            }
            return f;
          },
        });
      };
    },
  });
  Object.defineProperty(window, '__parley_v1', { configurable: true, get: () => bridge, set: (b) => { bridge = b && wrapBridge(b); } });
}

async function page(name, user) {
  const ctx = await browser.newContext();
  await ctx.addInitScript(reorder);
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

// The answer to a request and the events it lets happen can reach the SDK
// in one turn of the bridge, the answer first: the events are then handled
// before the code awaiting the answer runs again. These place the events
// there on purpose (reorder) and expect what the relay's order gives.

/** placeTo starts a call from page a to user and keeps it in P.calls once call() resolves. */
function placeTo(a, user) {
  return a.evaluate((u) => {
    P.placed = P.client.call(u, { audio: true, video: false }).then((c) => {
      P.track(c);
      P.callLog.push(['placed', c.state]);
      return c.state;
    });
  }, user);
}

/** mediaClosed reports whether every peer connection of page p is closed and its local tracks stopped. */
function mediaClosed(p) {
  return p.evaluate(() => ({
    pcs: P.pcs.map((pc) => pc.connectionState),
    tracks: (P.calls[0].localStream?.getTracks() ?? []).map((t) => t.readyState),
  }));
}

test('calls: the callee answers an offer handed over in the turn accept() is answered in: the call connects', { skip, timeout: 120000 }, async () => {
  const a = await page('ana', 'ana');
  const b = await page('ben', 'ben');
  try {
    await placeTo(a, 'ben');
    await waitFor(b, () => P.calls.length === 1 && P.calls[0].state === 'ringing');
    await b.evaluate(async () => {
      window.order.gate = { method: 'acceptCall', until: (e) => e.kind === 'callSignal' && e.signal.kind === 'offer' };
      await P.calls[0].accept({ audio: true, video: false });
    });
    await waitFor(b, () => window.order.sent.includes('answer'), undefined, 15000).catch(() => {
      throw new Error('the callee never answered the offer');
    });
    await waitFor(a, () => P.calls[0]?.state === 'connected');
    await waitFor(b, () => P.calls[0].state === 'connected');
    await a.evaluate(() => P.calls[0].hangup());
    await waitFor(b, () => P.callLog.some(([k, r]) => k === 'ended' && r === 'hangup'));
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  } finally {
    await Promise.all([a.context().close(), b.context().close()]);
  }
});

test('calls: the caller offers to a callee whose join is handed over in the turn call() is answered in: the call connects', { skip, timeout: 120000 }, async () => {
  const a = await page('cleo', 'cleo');
  const b = await page('dan', 'dan');
  try {
    await a.evaluate(() => {
      window.order.gate = { method: 'placeCall', until: (e) => e.kind === 'call' && e.call.change === 'joined' };
    });
    await placeTo(a, 'dan');
    await waitFor(b, () => P.calls.length === 1 && P.calls[0].state === 'ringing');
    await b.evaluate(() => P.calls[0].accept({ audio: true, video: false }));
    assert.equal(await a.evaluate(() => P.placed), 'connecting');
    await waitFor(a, () => window.order.sent.includes('offer'), undefined, 15000).catch(() => {
      throw new Error('the caller never offered');
    });
    await waitFor(a, () => P.calls[0].state === 'connected');
    await waitFor(b, () => P.calls[0].state === 'connected');
    await b.evaluate(() => P.calls[0].hangup());
    await waitFor(a, () => P.callLog.some(([k, r]) => k === 'ended' && r === 'hangup'));
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  } finally {
    await Promise.all([a.context().close(), b.context().close()]);
  }
});

test('calls: a call whose end is handed over in the turn call() or accept() is answered in ends, its media closed, with its reason', { skip, timeout: 120000 }, async () => {
  const a = await page('eve', 'eve');
  const b = await page('finn', 'finn');
  try {
    // Nobody to ring: the relay answers the call and ends it at once.
    await a.evaluate(() => {
      window.order.gate = { method: 'placeCall', until: (e) => e.kind === 'call' && e.call.change === 'ended' };
    });
    await placeTo(a, 'nobody-online');
    assert.equal(await a.evaluate(() => P.placed), 'ended');
    assert.deepEqual(await mediaClosed(a), { pcs: [], tracks: ['ended'] });
    // The call came back over: it says why, and the ended handler the app
    // added once it held the call runs (once), after call() resolved.
    assert.equal(await a.evaluate(() => P.calls[0].endReason), 'unavailable');
    await waitFor(a, () => P.callLog.some(([k]) => k === 'ended'), undefined, 5000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await a.evaluate(() => P.callLog), [['placed', 'ended'], ['ended', 'unavailable']]);

    // The caller hangs up as soon as the callee joined; the callee's accept
    // is answered in the turn the end (and the offer before it) comes.
    await a.evaluate(() => {
      P.calls = [];
      P.callLog = [];
    });
    await placeTo(a, 'finn');
    await a.evaluate(() => P.placed);
    await a.evaluate(() => P.calls[0].on('state', (s) => s === 'connecting' && P.calls[0].hangup()));
    await waitFor(b, () => P.calls.length === 1 && P.calls[0].state === 'ringing');
    // The relay let the callee in, then ended the call: accept() has no
    // call to join, and says so as the relay does of an ended call.
    const accepted = await b.evaluate(async () => {
      window.order.gate = { method: 'acceptCall', until: (e) => e.kind === 'call' && e.call.change === 'ended' };
      return P.calls[0].accept({ audio: true, video: false }).then(
        () => 'resolved',
        (e) => e.code,
      );
    });
    assert.equal(accepted, 4260, 'accept() of a call that ended meanwhile');
    assert.deepEqual(await b.evaluate(() => [P.calls[0].state, P.calls[0].endReason]), ['ended', 'hangup']);
    await waitFor(b, () => P.callLog.some(([k, r]) => k === 'ended' && r === 'hangup'));
    // Nothing handled after the end reopens the media.
    await new Promise((r) => setTimeout(r, 500));
    const closed = await mediaClosed(b);
    assert.ok(closed.pcs.every((s) => s === 'closed'), `peer connections ${closed.pcs}`);
    assert.deepEqual(closed.tracks, ['ended']);
    assert.equal(await b.evaluate(() => P.calls[0].state), 'ended');
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  } finally {
    await Promise.all([a.context().close(), b.context().close()]);
  }
});

test('calls: accept() of a call that ends while the devices open, or that ended, rejects with 4260 and leaves no media open', { skip, timeout: 120000 }, async () => {
  const a = await page('gail', 'gail');
  const b = await page('hank', 'hank');
  try {
    // hank's camera and microphone open only once the call has ended here.
    await b.evaluate(() => {
      const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      P.opened = [];
      navigator.mediaDevices.getUserMedia = async (c) => {
        const s = await open(c);
        P.opened.push(s);
        await new Promise((resolve) => {
          const check = () => (P.calls[0]?.state === 'ended' ? resolve() : setTimeout(check, 20));
          check();
        });
        return s;
      };
    });
    await placeTo(a, 'hank');
    await a.evaluate(() => P.placed);
    await waitFor(b, () => P.calls.length === 1 && P.calls[0].state === 'ringing');
    await b.evaluate(() => {
      P.accepted = P.calls[0].accept({ audio: true, video: false }).then(
        () => 'resolved',
        (e) => e.code,
      );
    });
    await a.evaluate(() => P.calls[0].hangup());
    assert.equal(await b.evaluate(() => P.accepted), 4260);
    assert.deepEqual(await b.evaluate(() => [P.calls[0].state, P.calls[0].endReason]), ['ended', 'cancelled']);
    assert.deepEqual(await b.evaluate(() => P.opened.flatMap((s) => s.getTracks().map((t) => t.readyState))), ['ended']);
    assert.equal(await b.evaluate(() => P.calls[0].localStream), undefined);
    // Once ended, accept() says the same at once.
    assert.equal(await b.evaluate(() => P.calls[0].accept().then(() => 'resolved', (e) => e.code)), 4260);
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  } finally {
    await Promise.all([a.context().close(), b.context().close()]);
  }
});
