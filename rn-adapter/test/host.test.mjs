// The React Native side in Node, installed from the packed tarballs as an app
// installs them, talks through a postMessage-like transport (strings only,
// asynchronous) to the host page of the package running in headless Chromium,
// which plays the WebView, against a real relay process; the peer is a Node
// client of @parley-im/sdk. Chromium absent: skipped (./build.sh test
// installs it); present: these must pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { Relay } from '../../bindings/test/support/relay.mjs';
import { launch, haveChromium, ARTIFACTS } from '../../bindings/test/support/browser.mjs';
import { WebView } from './support/webview.mjs';
import { until, tick } from './support/pipe.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const dist = join(here, '..', '..', 'dist');
const sdkTgz = join(dist, 'parley-im-sdk-0.1.0.tgz');
const rnTgz = join(dist, 'parley-im-react-native-0.1.0.tgz');
const skip = haveChromium() ? false : 'Debian chromium is not installed (./build.sh test installs it)';

let relay, browser, app, lib, hostUrl;
const numbers = {};

before(async () => {
  if (skip) return;
  for (const t of [sdkTgz, rnTgz]) assert.ok(existsSync(t), `${t} is missing: run ./build.sh npm`);
  app = mkdtempSync(join(tmpdir(), 'parley-rn-app-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rn-side', private: true, type: 'module' }));
  // The peers React Native needs (react, react-native, the WebView) are not
  // needed by the bridge entry, which is what runs here.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--legacy-peer-deps', sdkTgz, rnTgz], { cwd: app, stdio: 'inherit' });
  writeFileSync(join(app, 'entry.mjs'), [
    "export * as bridge from '@parley-im/react-native/bridge';",
    "export * as sdk from '@parley-im/sdk';",
    "import { createRequire } from 'node:module';",
    "import { dirname } from 'node:path';",
    "export const hostDir = dirname(createRequire(import.meta.url).resolve('@parley-im/react-native/host/index.html'));",
    "export { hostHtml } from '@parley-im/react-native/inline-host';",
  ].join('\n'));
  lib = await import(pathToFileURL(join(app, 'entry.mjs')).href);
  // The relay serves the package's host/ folder: the page's origin is the relay's.
  relay = await new Relay({ static: lib.hostDir, extra: ['--heartbeat', '2s'] }).start();
  hostUrl = `${relay.http}/index.html`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  if (Object.keys(numbers).length) {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'rn-host.json'), JSON.stringify(numbers, null, 2));
    console.log(`# react-native host: ${JSON.stringify(numbers)}`);
  }
});

/** A fresh WebView profile with the host page loaded, and the React Native side's transport over it. */
async function webview(via) {
  const context = await browser.newContext();
  const views = await WebView.install(context);
  const view = new WebView(context, hostUrl, { via });
  views.add(view);
  return { context, view };
}

/** declaredMembers reads ParleyClient's members from the installed SDK's declarations, with the TypeScript compiler. */
function declaredMembers() {
  const ts = require('typescript');
  const entry = join(app, 'members.ts');
  writeFileSync(entry, "import type { ParleyClient } from '@parley-im/sdk';\nexport type T = ParleyClient;\n");
  const program = ts.createProgram([entry], { module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler, strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const src = program.getSourceFile(entry);
  const alias = src.statements.find((s) => ts.isTypeAliasDeclaration(s));
  const type = checker.getTypeAtLocation(alias.name);
  const methods = new Set();
  const getters = new Set();
  for (const p of type.getProperties()) {
    const t = checker.getTypeOfSymbolAtLocation(p, alias);
    (t.getCallSignatures().length > 0 ? methods : getters).add(p.getName());
  }
  assert.ok(methods.size > 0 && getters.size > 0, 'ParleyClient was found in the declarations');
  return { methods, getters };
}

function tokenFn(user) {
  let calls = 0;
  const f = async () => {
    calls++;
    return relay.token(user);
  };
  f.calls = () => calls;
  return f;
}

async function peer(user) {
  const c = await lib.sdk.createClient({ url: relay.ws, token: relay.token(user), storage: 'memory', logLevel: 'silent' });
  const got = [];
  c.on('message', (m) => {
    if (m.sender !== user) got.push(m); // its own sends are announced too
  });
  await c.connect();
  return { c, got };
}

function record(client) {
  const events = [];
  for (const ev of ['state', 'message', 'messageUpdate', 'conversation', 'syncStart', 'syncEnd']) client.on(ev, (p) => events.push({ ev, p }));
  return events;
}

const opts = (token) => ({ url: relay.ws, token, reconnect: { minDelayMs: 50, maxDelayMs: 500 }, logLevel: 'warn', logger: () => {} });

test('chat through the relay: React Native side ⇄ host page ⇄ relay ⇄ a Node client', { skip, timeout: 120000 }, async () => {
  const { context, view } = await webview('bubbles');
  try {
    const t0 = performance.now();
    await view.load();
    const token = tokenFn('rn-alice');
    const alice = await lib.bridge.createClient(opts(token), { transport: view });
    const tCreated = performance.now();
    const events = record(alice);
    await alice.connect();
    const tConnected = performance.now();
    assert.equal(alice.state, 'connected');
    assert.equal(alice.userId, 'rn-alice');
    assert.match(alice.deviceId, /^rn-[0-9a-f]{16}$/, 'the page keeps a device id of its own');
    assert.ok(token.calls() >= 1, 'the token function runs on the React Native side');
    const d = await view.diag();
    numbers.coldStart = { loadToClientMs: Math.round(tCreated - t0), loadToConnectedMs: Math.round(tConnected - t0), page: d.timings };

    const bob = await peer('rn-bob');
    const conv = alice.p2p('rn-bob');
    assert.equal(conv, 'p:rn-alice:rn-bob');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await alice.sendText(conv, `hello ${i}`));
    const bytes = new Uint8Array([0, 159, 146, 150, 255]);
    sent.push(await alice.send(conv, { type: 'custom', body: bytes }));
    sent.push(await alice.send(conv, { type: 'custom', text: 'json', body: { n: 1, list: [true, null] } }));
    assert.deepEqual(sent.map((m) => [m.seq, m.status]), Array.from({ length: 7 }, (_, i) => [i + 1, 'sent']));
    await until(() => bob.got.length === 7, { timeout: 20000, what: 'bob gets 7' });
    assert.deepEqual(bob.got.slice(0, 5).map((m) => m.text), ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
    assert.deepEqual(bob.got[5].body, bytes, 'bytes cross the string-only bridge intact');
    assert.deepEqual(bob.got[6].body, { n: 1, list: [true, null] });

    for (const t of ['one', 'two', 'three']) await bob.c.sendText(conv, t);
    await until(() => events.filter((e) => e.ev === 'message' && e.p.sender === 'rn-bob').length === 3, { timeout: 20000, what: 'alice gets 3' });
    const fromBob = events.filter((e) => e.ev === 'message' && e.p.sender === 'rn-bob').map((e) => [e.p.seq, e.p.text]);
    assert.deepEqual(fromBob, [[8, 'one'], [9, 'two'], [10, 'three']], 'events in order, once');
    const list = await alice.conversations();
    const c = list.find((x) => x.id === conv);
    assert.equal(c.unread, 3);
    await alice.markRead(conv);
    assert.equal((await alice.conversations()).find((x) => x.id === conv).unread, 0);
    const page = await alice.messages(conv, { limit: 4 });
    assert.deepEqual(page.map((m) => m.seq), [7, 8, 9, 10]);
    const found = await alice.search('HELLO 3');
    assert.deepEqual(found.map((m) => m.text), ['hello 3']);
    await alice.waitSynced();
    const after = await view.diag();
    assert.equal(after.received, view.posted, 'each string handled once, bubbling or not');
    await alice.close();
    assert.equal(alice.state, 'closed');
    await bob.c.close();

    // Warm: the app started again in the same profile (files in the HTTP
    // cache, the history in IndexedDB).
    await view.page.close();
    const t1 = performance.now();
    await view.load();
    const again = await lib.bridge.createClient(opts(tokenFn('rn-alice')), { transport: view });
    const cached = (await again.conversations()).find((x) => x.id === conv);
    assert.equal(cached?.lastSeq, 10, 'the cache answers before the network');
    const tCached = performance.now();
    await again.connect();
    numbers.warmStart = { loadToCachedListMs: Math.round(tCached - t1), loadToConnectedMs: Math.round(performance.now() - t1), page: (await view.diag()).timings };
    await again.close();
  } finally {
    await context.close();
  }
});

for (const variant of ['replies arriving until the crash', 'the bridge silent before the crash']) {
  test(`the page's process dies mid-send (${variant}): nothing lost, nothing twice, in order`, { skip, timeout: 180000 }, async () => {
    const { context, view } = await webview('window');
    try {
      await view.load();
      const alice = await lib.bridge.createClient(opts(tokenFn('crash-alice')), { transport: view });
      const events = record(alice);
      await alice.connect();
      const user = variant.startsWith('replies') ? 'crash-bob' : 'crash-bob2';
      const bob = await peer(user);
      const conv = alice.p2p(user);

      const N = 40;
      const settled = new Array(N + 10).fill(null);
      const send = (i) => alice.sendText(conv, `m${i}`).then((m) => { settled[i] = m; }, (e) => { settled[i] = e; });
      const all = [];
      for (let i = 0; i < N; i++) all.push(send(i));
      // Crash once the page has taken some of them and not all were acknowledged.
      await until(() => settled.filter(Boolean).length >= 5, { timeout: 20000, what: 'the first acks' });
      if (variant.startsWith('the bridge')) view.silent = true;
      const doneAtCrash = settled.filter(Boolean).length;
      await view.crash();
      // Sent while there is no page: they wait in the bridge.
      for (let i = N; i < N + 10; i++) all.push(send(i));
      await tick(200);
      const t0 = performance.now();
      await view.load();
      await Promise.all(all);
      const tAll = performance.now();
      numbers[`crash (${variant})`] = { settledBeforeCrash: doneAtCrash, of: N + 10, reloadToAllSettledMs: Math.round(tAll - t0) };

      const failed = settled.filter((x) => !(x && x.status === 'sent'));
      assert.deepEqual(failed, [], 'every send resolved with its sent message');
      const ids = new Set(settled.map((m) => m.clientId));
      assert.equal(ids.size, N + 10, 'each call its own message');
      assert.deepEqual(settled.map((m) => m.text), Array.from({ length: N + 10 }, (_, i) => `m${i}`));

      await until(() => bob.got.length >= N + 10, { timeout: 40000, what: `bob gets ${N + 10}` });
      await tick(1000); // room for a duplicate to show up, if there were one
      assert.deepEqual(bob.got.map((m) => m.text), Array.from({ length: N + 10 }, (_, i) => `m${i}`), 'exactly once, in order');
      assert.deepEqual(bob.got.map((m) => m.seq), Array.from({ length: N + 10 }, (_, i) => i + 1));
      await alice.waitSynced();
      const stored = await alice.messages(conv, { limit: 100 });
      assert.deepEqual(stored.map((m) => [m.text, m.status]), Array.from({ length: N + 10 }, (_, i) => [`m${i}`, 'sent']), 'the outbox is empty, the history whole');
      assert.ok(events.some((e) => e.ev === 'state' && e.p.state === 'reconnecting'), 'the app saw the restart');
      assert.equal(alice.state, 'connected');
      await alice.close();
      await bob.c.close();
    } finally {
      await context.close();
    }
  });
}

test('background and foreground: the page lets go of the relay, then catches up once, in order', { skip, timeout: 120000 }, async () => {
  const { context, view } = await webview('document');
  let change;
  const appState = { currentState: 'active', addEventListener: (_, h) => { change = h; return { remove() {} }; } };
  try {
    await view.load();
    const alice = await lib.bridge.createClient(opts(tokenFn('bg-alice')), { transport: view, appState });
    const events = record(alice);
    await alice.connect();
    const bob = await peer('bg-bob');
    const conv = alice.p2p('bg-bob');
    for (const t of ['a', 'b', 'c']) await bob.c.sendText(conv, t);
    const fromBob = () => events.filter((e) => e.ev === 'message' && e.p.sender === 'bg-bob').map((e) => e.p.text);
    await until(() => fromBob().length === 3, { timeout: 20000, what: 'the first three' });

    change('background');
    await until(() => alice.state === 'disconnected', { what: 'paused' });
    await view.page.waitForFunction(() => window.parleyHost.clients === 0, undefined, { timeout: 10000 });
    for (const t of ['d', 'e', 'f', 'g', 'h']) await bob.c.sendText(conv, t);
    const queued = [alice.sendText(conv, 'written in the background 1'), alice.sendText(conv, 'written in the background 2')];
    await tick(500);
    assert.deepEqual(fromBob(), ['a', 'b', 'c'], 'nothing arrives while in the background');
    assert.equal(bob.got.length, 0);

    const t0 = performance.now();
    change('active');
    await until(() => fromBob().length >= 8, { timeout: 20000, what: 'the five sent meanwhile' });
    numbers.foregroundToCaughtUpMs = Math.round(performance.now() - t0);
    const mine = await Promise.all(queued);
    assert.deepEqual(mine.map((m) => m.status), ['sent', 'sent']);
    await until(() => bob.got.length === 2, { timeout: 20000, what: 'bob gets the two' });
    await tick(500);
    assert.deepEqual(fromBob(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 'each once, in order');
    assert.deepEqual(bob.got.map((m) => m.text), ['written in the background 1', 'written in the background 2']);
    assert.equal(alice.state, 'connected');
    const d = await view.diag();
    assert.equal(d.calls.$pause, 1);
    await alice.close();
    await bob.c.close();
  } finally {
    await context.close();
  }
});

test('every method and getter of the real ParleyClient is reachable through the bridge, and answers as the real one', { skip, timeout: 120000 }, async () => {
  const { context, view } = await webview('document');
  try {
    await view.load();
    const viaBridge = await lib.bridge.createClient(opts(tokenFn('every')), { transport: view });
    // The reference: a real client of the same user, in Node.
    const real = await lib.sdk.createClient({ url: relay.ws, token: relay.token('every'), storage: 'memory', logLevel: 'silent' });
    // What ParleyClient is: its members as the installed SDK declares them
    // (the class behind it has internals too, which are not API).
    const { methods, getters } = declaredMembers();
    for (const m of methods) assert.equal(typeof real[m], 'function', `the real client has ${m}()`);
    for (const g of getters) assert.ok(g in real, `the real client has ${g}`);
    assert.ok(methods.size >= 15 && getters.size >= 3, `enumerated ${[...methods]} / ${[...getters]}`);
    for (const m of methods) assert.equal(typeof viaBridge[m], 'function', `method ${m} reachable`);
    for (const g of getters) assert.ok(g in viaBridge, `getter ${g} reachable`);
    assert.deepEqual(new Set(Object.keys(viaBridge)), new Set([...methods, ...getters]), 'nothing more, nothing less');

    await Promise.all([viaBridge.connect(), real.connect()]);
    for (const g of getters) {
      if (g === 'deviceId') assert.ok(viaBridge[g] && real[g] && viaBridge[g] !== real[g], 'two devices');
      else assert.equal(viaBridge[g], real[g], g);
    }
    // Arguments per method; one this table does not know (added later) is
    // called without any and must answer as the real one does.
    const conv = real.p2p('every-peer');
    const table = {
      connect: () => [],
      reconnect: () => [],
      on: () => ['message', () => {}],
      once: () => ['message', () => {}],
      off: () => ['message', () => {}],
      conversation: () => [conv],
      history: () => [conv, { limit: 5 }],
      p2p: () => ['every-peer'],
      sendText: () => [conv, 'text'],
      send: () => [conv, { type: 'custom', body: { k: 1 } }],
      resend: () => ['no-such-client-id'],
      discard: () => ['no-such-client-id'],
      conversations: () => [],
      messages: () => [conv, { limit: 5 }],
      search: () => [''],
      markRead: () => [conv],
      typing: () => [conv],
      devices: () => [],
      kickDevice: () => ['no-such-device'],
      call: () => ['every-peer'],
      createGroup: () => ['team', ['every-peer']],
      waitSynced: () => [],
      close: () => [],
    };
    const outcome = async (client, m) => {
      let r;
      try {
        r = client[m](...(table[m] ? table[m]() : []));
      } catch (e) {
        return { sync: true, threw: e.code ?? String(e) };
      }
      const sync = typeof r?.then !== 'function';
      try {
        const v = await r;
        return { sync, kind: Array.isArray(v) ? 'array' : typeof v, keys: v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).filter((k) => k !== 'localTime').sort() : undefined, str: m === 'p2p' ? v : undefined };
      } catch (e) {
        return { sync, rejected: e.code };
      }
    };
    const before = await view.diag();
    const order = [...methods].filter((m) => m !== 'close').concat(methods.has('close') ? ['close'] : []);
    for (const m of order) {
      // A Node client has no WebRTC (4920) and the page has: calls through
      // the bridge are tested against a browser peer in calls.test.mjs.
      if (m === 'call') continue;
      const a = await outcome(real, m);
      const b = await outcome(viaBridge, m);
      assert.deepEqual(b, a, `${m}() through the bridge answers as the real client`);
    }
    const afterDiag = await view.diag();
    for (const m of order) {
      if (['on', 'once', 'off', 'p2p'].includes(m)) continue; // answered on the React Native side, as the SDK does synchronously
      if (m === 'call') continue; // not made here (above)
      assert.ok((afterDiag.calls[m] ?? 0) > (before.calls[m] ?? 0), `${m}() reached the page`);
    }
  } finally {
    await context.close();
  }
});

/**
 * inlineWebView plays react-native-webview given source={{ html, baseUrl }}:
 * the document is the string, its URL (and so its origin, the owner of its
 * IndexedDB) is baseUrl, and nothing else is there to load: every other
 * request of the page fails as it would offline, and is counted.
 */
async function inlineWebViews(context, html, bases) {
  const fetched = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (bases.includes(url)) return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    fetched.push(url);
    return route.abort('internetdisconnected');
  });
  const views = await WebView.install(context);
  return {
    fetched,
    view(baseUrl, via = 'document') {
      const v = new WebView(context, baseUrl, { via });
      views.add(v);
      return v;
    },
  };
}

test('offline cold start: the single-file page inside the app shows the cached history with the relay down, from the same baseUrl only', { skip, timeout: 180000 }, async () => {
  // The page as the app ships it: the string of @parley-im/react-native/inline-host, which is host/inline.html.
  const html = lib.hostHtml;
  assert.equal(html, readFileSync(join(lib.hostDir, 'inline.html'), 'utf8'));
  assert.doesNotMatch(html, /<link |<script[^>]* src=/, 'the page refers to no other file');
  const base = 'https://parley-host.localhost/';
  // A relay of its own (this test takes it down), allowing the page's origin only.
  const own = await new Relay({ extra: ['--origins', 'parley-host.localhost'] }).start();
  const context = await browser.newContext();
  // A WebView has no Local Network Access checks; Chromium has, and the
  // relay of this test is on loopback while the page's origin is not.
  await context.grantPermissions(['local-network-access']);
  try {
    const other = 'https://another-host.localhost/';
    const app = await inlineWebViews(context, html, [base, other]);
    const view = app.view(base);
    const o = (user) => ({ ...opts(tokenFn(user)), url: own.ws, token: async () => own.token(user) });
    await view.load();
    assert.equal(await view.page.evaluate(() => location.origin), 'https://parley-host.localhost');
    const alice = await lib.bridge.createClient(o('off-alice'), { transport: view });
    await alice.connect();
    const bob = await lib.sdk.createClient({ url: own.ws, token: own.token('off-bob'), storage: 'memory', logLevel: 'silent' });
    await bob.connect();
    const conv = alice.p2p('off-bob');
    for (const t of ['one', 'two', 'three']) await bob.sendText(conv, t);
    await alice.sendText(conv, 'four');
    await alice.waitSynced();
    const had = await alice.messages(conv, { limit: 10 });
    assert.deepEqual(had.map((m) => m.text), ['one', 'two', 'three', 'four']);
    await alice.close();
    await bob.close();
    await view.page.close();

    // The phone restarts the app with no network: the relay is down and the
    // page can fetch nothing.
    await own.kill9();
    const t0 = performance.now();
    await view.load();
    const again = await lib.bridge.createClient(o('off-alice'), { transport: view });
    const connecting = again.connect().then(() => 'connected', (e) => e);
    const list = await again.conversations();
    const tList = performance.now();
    assert.deepEqual(list.map((c) => [c.id, c.lastMessage?.text, c.lastSeq]), [[conv, 'four', 4]], 'the cached conversation list');
    const cached = await again.messages(conv, { limit: 10 });
    assert.deepEqual(cached.map((m) => [m.seq, m.text, m.status]), [[1, 'one', 'sent'], [2, 'two', 'sent'], [3, 'three', 'sent'], [4, 'four', 'sent']], 'the cached history');
    assert.notEqual(again.state, 'connected');
    // Written offline: it waits in the outbox (IndexedDB) for the relay.
    const pending = again.sendText(conv, 'five, written offline');
    const d = await view.diag();
    numbers.offlineColdStart = { loadToCachedListMs: Math.round(tList - t0), page: d.timings, htmlBytes: Buffer.byteLength(html) };

    // Another baseUrl in the same WebView profile is another origin, with a
    // cache of its own (empty): the app must keep baseUrl fixed.
    const elsewhere = app.view(other, 'window');
    await elsewhere.load();
    const fresh = await lib.bridge.createClient(o('off-alice'), { transport: elsewhere });
    assert.deepEqual(await fresh.conversations(), [], 'another origin has no cache');
    await fresh.close();
    await elsewhere.page.close();
    assert.deepEqual(app.fetched, [], 'the page fetched nothing');

    // The network comes back: the client connects, the offline send goes out once.
    await own.start();
    assert.equal(await connecting, 'connected');
    const sent = await pending;
    assert.deepEqual([sent.seq, sent.status], [5, 'sent']);
    await again.close();
  } finally {
    await context.close();
    await own.stop();
  }
});

test('the page side of the protocol in Chromium: other versions, unknown ids, unknown types and garbage', { skip, timeout: 120000 }, async () => {
  const { context, view } = await webview('document');
  try {
    await view.load();
    const got = [];
    view.onMessage((d) => got.push(JSON.parse(d)));
    const send = (o) => view.postMessage(typeof o === 'string' ? o : JSON.stringify(o));
    const result = (id) => until(() => got.some((m) => m.t === 'result' && m.id === id), { timeout: 20000, what: `the result of ${id}` }).then(() => got.find((m) => m.t === 'result' && m.id === id));
    const before = await view.diag();

    // Not bridge messages: ignored, nothing answered.
    for (const s of ['', 'not json', '[1,2]', '{"parley":"other","v":1,"t":"hello","vs":[1]}', '{"parley":"rn","v":1,"t":"call","id":"x"}']) send(s);
    // A call in a version the page does not speak: 4005, and the page says again which versions it speaks.
    send({ parley: 'rn', v: 9, t: 'call', id: 41, c: 1, m: 'conversations', a: [] });
    const r41 = await result(41);
    assert.deepEqual([r41.v, r41.ok, r41.e.code], [1, false, 4005]);
    await until(() => got.some((m) => m.t === 'ready' && m.vs.includes(1)), { timeout: 20000, what: 'ready re-sent with the versions spoken' });
    // An answer to no question, and a type this page does not know: ignored.
    send({ parley: 'rn', v: 1, t: 'answer', id: 987654, ok: true, r: 'stray' });
    send({ parley: 'rn', v: 1, t: 'teleport', id: 43 });
    // A call for a client this page does not have: 4900.
    send({ parley: 'rn', v: 1, t: 'call', id: 42, c: 77, m: 'conversations', a: [] });
    const r42 = await result(42);
    assert.deepEqual([r42.ok, r42.e.code], [false, 4900]);
    // A method that is not ParleyClient's: 4903, even one the SDK's class has.
    send({ parley: 'rn', v: 1, t: 'open', id: 44, c: 5, o: { url: relay.ws, token: relay.token('proto-page'), logLevel: 'silent' }, tf: false, lg: false, ev: [] });
    assert.equal((await result(44)).ok, true);
    send({ parley: 'rn', v: 1, t: 'call', id: 45, c: 5, m: 'constructor', a: [] });
    send({ parley: 'rn', v: 1, t: 'call', id: 46, c: 5, m: 'toString', a: [] });
    for (const id of [45, 46]) assert.deepEqual([(await result(id)).ok, (await result(id)).e.code], [false, 4903], `call ${id}`);
    send({ parley: 'rn', v: 1, t: 'call', id: 47, c: 5, m: 'close', a: [] });
    assert.equal((await result(47)).ok, true);

    const d = await view.diag();
    assert.equal(d.ignored - before.ignored, 5 + 1 + 1, 'five strings that are not bridge messages, the other version, the unknown type');
    assert.equal(got.filter((m) => m.t === 'result').length, 6, 'one result per call, none for what was ignored');
    assert.deepEqual(view.errors, [], 'no error in the page');
  } finally {
    await context.close();
  }
});
