// <ParleyHost /> rendered by React DOM (on happy-dom's document) in Node,
// with react-native and react-native-webview played by test/support/native.mjs:
// what it does when its page does not load, answers an HTTP error or loses
// its process, on a clock the test moves. A page that fails is retried on a
// new WebView after 1 s, doubling to 32 s; a lost process is replaced at once
// the first time, then on the same schedule; a page that talks and stays up
// 32 s with no failure starts the schedule over; one remount is waiting at
// most; none is left after unmount.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(pkg, 'test', 'support', 'native.mjs');

let React, act, createRoot, ParleyHost, webviews, win;

before(async () => {
  // ParleyHost from the source, its native modules aliased to the fakes;
  // React stays external, so the component and React DOM share one copy
  // (the bundle sits under node_modules to resolve it).
  const out = join(pkg, 'node_modules', '.cache', 'parley-host-test', 'host.mjs');
  mkdirSync(dirname(out), { recursive: true });
  await build({
    stdin: {
      contents: `export { ParleyHost } from ${JSON.stringify(join(pkg, 'src', 'index.tsx'))};\nexport { webviews } from ${JSON.stringify(native)};\n`,
      resolveDir: pkg,
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile: out,
    external: ['react', 'react/*', '@parley-im/sdk', '@parley-im/sdk/*'],
    alias: { 'react-native': native, 'react-native-webview': native },
    logLevel: 'error',
  });
  const { Window } = await import('happy-dom');
  win = new Window({ url: 'http://localhost/' });
  globalThis.window = win;
  globalThis.document = win.document;
  globalThis.navigator ??= win.navigator;
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  React = await import('react');
  ({ act } = React);
  ({ createRoot } = await import('react-dom/client'));
  ({ ParleyHost, webviews } = await import(pathToFileURL(out).href));
});

after(async () => {
  await win?.happyDOM?.close();
});

/**
 * clock stands in for setTimeout and clearTimeout, the timers ParleyHost
 * uses (React and the test runner took theirs before), until restore().
 * advance(ms) runs the timers due, in order, each in act().
 */
function clock() {
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  const timers = new Map();
  let now = 0;
  let ids = 0;
  globalThis.setTimeout = (fn, ms = 0, ...args) => {
    const id = ++ids;
    timers.set(id, { at: now + Math.max(0, Number(ms) || 0), fn: () => fn(...args) });
    return id;
  };
  globalThis.clearTimeout = (id) => {
    timers.delete(id);
  };
  return {
    get now() {
      return now;
    },
    /** The delays of the timers waiting, from now. */
    pending: () => [...timers.values()].map((t) => t.at - now),
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        let next;
        for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        await act(async () => next[1].fn());
      }
      now = end;
    },
    restore() {
      Object.assign(globalThis, real);
    },
  };
}

/**
 * scenario runs f(c, h) on a clock c and a ParleyHost h mounted on a fresh
 * root (h.reports: what onHostError was told), and unmounts the host after
 * f if f did not.
 */
async function scenario(f) {
  const c = clock();
  const reports = [];
  const root = createRoot(document.createElement('div'));
  let mounted = true;
  const h = {
    reports,
    /** The WebView mounted now (there is one). */
    view() {
      assert.equal(webviews.live.size, 1, 'one WebView is mounted');
      return [...webviews.live][0];
    },
    async unmount() {
      mounted = false;
      await act(async () => root.unmount());
    },
  };
  try {
    const el = React.createElement(ParleyHost, {
      source: { uri: 'https://chat.example.com/parley-host/index.html' },
      onHostError: (r) => reports.push(r),
    });
    await act(async () => root.render(el));
    await f(c, h);
  } finally {
    if (mounted) await h.unmount();
    c.restore();
  }
}

/** Drives one event of the view in act(), as React Native delivers it. */
const drive = (f) => act(async () => f());

/** Waits out a remount expected after ms: none a millisecond before, a new WebView at ms. */
async function remountsAfter(c, h, ms) {
  const old = h.view();
  if (ms > 0) {
    await c.advance(ms - 1);
    assert.equal(h.view(), old, `no new WebView ${ms - 1} ms after the failure`);
  }
  await c.advance(ms > 0 ? 1 : 0);
  const fresh = h.view();
  assert.notEqual(fresh, old, `a new WebView ${ms} ms after the failure`);
  assert.ok(fresh.load > old.load);
  return fresh;
}

test('a page that does not load is retried after 1 s, doubling to 32 s; HTTP errors count alike', () =>
  scenario(async (c, h) => {
    const delays = [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000];
    for (const [i, ms] of delays.entries()) {
      if (i % 3 === 2) await drive(() => h.view().httpError(503, 'Service Unavailable'));
      else await drive(() => h.view().failLoad());
      assert.deepEqual(c.pending(), [ms], `failure ${i + 1} waits ${ms} ms`);
      await remountsAfter(c, h, ms);
    }
    assert.equal(h.reports.length, delays.length, 'onHostError told of each failure');
    assert.equal(h.reports[0], 'the host page did not load: net::ERR_INTERNET_DISCONNECTED');
    assert.equal(h.reports[2], 'the host page answered HTTP 503');
  }));

const ready = '{"parley":"rn","v":1,"t":"ready"}';

test('a page that talks and stays up 32 s starts the schedule over, and stays', () =>
  scenario(async (c, h) => {
    for (const ms of [1000, 2000, 4000]) {
      await drive(() => h.view().failLoad('net::ERR_NAME_NOT_RESOLVED', -2));
      await remountsAfter(c, h, ms);
    }
    const page = h.view();
    await drive(() => page.pagePosts(ready));
    await drive(() => page.pagePosts('{"parley":"rn","v":1,"t":"event"}'));
    assert.deepEqual(c.pending(), [32000], 'the page that talked is given 32 s, once');
    await c.advance(32000);
    assert.deepEqual(c.pending(), [], 'nothing waits once the page is up');
    await c.advance(3_600_000);
    assert.equal(h.view(), page, 'a page that loaded is left alone');

    // It dies later; the new one fails: 1 s again, not 8 s.
    await drive(() => page.terminate());
    await c.advance(0);
    assert.notEqual(h.view(), page, 'a terminated page is replaced at once');
    await drive(() => h.view().failLoad());
    assert.deepEqual(c.pending(), [1000]);
    await remountsAfter(c, h, 1000);
  }));

test('a process lost while a failed load waits out its backoff remounts once, at once', () =>
  scenario(async (c, h) => {
    await drive(() => h.view().failLoad());
    await remountsAfter(c, h, 1000);
    const waiting = h.view();
    await drive(() => waiting.failLoad());
    assert.deepEqual(c.pending(), [2000]);
    const before = webviews.all.length;
    await drive(() => waiting.rendererGone(false));
    assert.deepEqual(c.pending(), [0], 'the backoff gave way to the remount the lost process needs');
    await c.advance(0);
    const fresh = h.view();
    assert.notEqual(fresh, waiting);
    await c.advance(60_000);
    assert.equal(webviews.all.length, before + 1, 'one new WebView, not a second one when the backoff ran out');
    assert.equal(h.view(), fresh, 'the page loading after the crash is not replaced');
  }));

test('unmounted while waiting out a backoff: no remount is left waiting', () =>
  scenario(async (c, h) => {
    await drive(() => h.view().failLoad());
    await remountsAfter(c, h, 1000);
    await drive(() => h.view().failLoad());
    assert.deepEqual(c.pending(), [2000]);
    await h.unmount();
    assert.equal(webviews.live.size, 0);
    assert.deepEqual(c.pending(), [], 'the remount was dropped with the host');
  }));

test('a lost process is replaced at once the first time, then after 1 s doubling to 32 s, talking or not', () =>
  scenario(async (c, h) => {
    // A page that kills its process on every load: iOS and Android alike,
    // whether it dies before it talks or soon after.
    const delays = [0, 1000, 2000, 4000, 8000, 16000, 32000, 32000];
    for (const [i, ms] of delays.entries()) {
      const v = h.view();
      if (i % 2 === 1) {
        await drive(() => v.pagePosts(ready));
        await c.advance(5000);
      }
      await drive(() => (i % 3 === 0 ? v.terminate() : v.rendererGone(i % 3 === 1)));
      assert.deepEqual(c.pending(), [ms], `loss ${i + 1} waits ${ms} ms`);
      await remountsAfter(c, h, ms);
    }
    assert.equal(h.reports[0], 'the WebView content process terminated');
    assert.equal(h.reports[1], 'the WebView renderer crashed');
    assert.equal(h.reports[2], 'the WebView renderer was killed');

    // A page that stays up 32 s: its loss is the first again, and so is
    // the next load failure.
    await drive(() => h.view().pagePosts(ready));
    await c.advance(31_999);
    await drive(() => h.view().rendererGone(true));
    assert.deepEqual(c.pending(), [32000], 'up 31.999 s is not steady');
    await remountsAfter(c, h, 32000);
    await drive(() => h.view().pagePosts(ready));
    await c.advance(32000);
    await drive(() => h.view().terminate());
    assert.deepEqual(c.pending(), [0], 'up 32 s starts the schedule over');
    await remountsAfter(c, h, 0);
    await drive(() => h.view().failLoad());
    assert.deepEqual(c.pending(), [1000]);
  }));

test('a page that answers an HTTP error yet talks is reloaded on the schedule, not every second', () =>
  scenario(async (c, h) => {
    // The server answers 404 with the host page as its body: each page
    // talks before its remount.
    for (const ms of [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000]) {
      const v = h.view();
      await drive(() => v.httpError(404, 'Not Found'));
      await drive(() => v.pagePosts(ready));
      assert.deepEqual(c.pending(), [ms], `the page that talked still waits ${ms} ms`);
      await remountsAfter(c, h, ms);
    }
    // The server is fixed: the page talks, stays, and the schedule starts over.
    const page = h.view();
    await drive(() => page.pagePosts(ready));
    await c.advance(3_600_000);
    assert.equal(h.view(), page, 'a page that loaded is left alone');
    await drive(() => page.httpError(500, 'Internal Server Error'));
    assert.deepEqual(c.pending(), [1000]);
  }));

test('events of a WebView already replaced change nothing', () =>
  scenario(async (c, h) => {
    const old = h.view();
    await drive(() => old.failLoad());
    await remountsAfter(c, h, 1000);
    const page = h.view();
    // Late events of the old WebView: no report, no remount, no steady page.
    await drive(() => old.pagePosts(ready));
    await drive(() => old.terminate());
    await drive(() => old.httpError(502, 'Bad Gateway'));
    assert.deepEqual(c.pending(), []);
    assert.equal(h.reports.length, 1);
    await c.advance(60_000);
    assert.equal(h.view(), page);
    await drive(() => page.failLoad());
    assert.deepEqual(c.pending(), [2000], 'the schedule went on');
  }));
