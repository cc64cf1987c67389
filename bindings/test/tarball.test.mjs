// The packed npm tarball, installed the way a customer installs it, runs a
// Node bot that chats with a page in headless Chromium through the relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay } from './support/relay.mjs';
import { launch, haveChromium, watch } from './support/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const tarball = join(here, '..', '..', 'dist', 'parley-im-sdk-0.1.0.tgz');
const skip = !haveChromium() ? 'Debian chromium is not installed' : !existsSync(tarball) ? 'no packed tarball: run ./build.sh npm' : false;

let relay, browser, app, site;

before(async () => {
  if (skip) return;
  app = mkdtempSync(join(tmpdir(), 'parley-node-app-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'bot', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, stdio: 'inherit' });
  writeFileSync(join(app, 'bot.mjs'), `
import { createClient } from '@parley-im/sdk';
const [url, token, peer, n] = process.argv.slice(2);
const client = await createClient({ url, token });
let seen = 0;
client.on('message', async (m) => {
  if (m.sender !== peer) return;
  await client.sendText(m.conversationId, 'echo: ' + m.text);
  if (++seen === Number(n)) { await client.close(); process.exit(0); }
});
await client.connect();
console.log('bot connected as', client.userId);
`);
  site = mkdtempSync(join(tmpdir(), 'parley-site-'));
  cpSync(join(here, '..', 'dist'), site, { recursive: true });
  cpSync(join(here, 'browser', 'harness.html'), join(site, 'harness.html'));
  relay = await new Relay({ static: site }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('a Node bot on the packed tarball chats with a browser page', { skip, timeout: 120000 }, async () => {
  const bot = spawn(process.execPath, ['bot.mjs', relay.ws, relay.token('nodebot'), 'webuser', '3'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  bot.stdout.on('data', (d) => { out += d; });
  bot.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => bot.once('exit', r));
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    const log = watch(p, 'webuser');
    await p.goto(`${relay.http}/harness.html`);
    await p.waitForFunction(() => window.parleyReady === true);
    await p.evaluate(() => P.start('webuser'));
    await p.evaluate(() => P.client.connect());
    const deadline = Date.now() + 20000;
    while (!out.includes('bot connected') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes('bot connected as nodebot'), `bot output: ${out}`);
    const conv = await p.evaluate(() => P.client.p2p('nodebot'));
    await p.evaluate(async (c) => { for (const t of ['one', 'two', 'three']) await P.client.sendText(c, t); }, conv);
    await p.waitForFunction(() => P.events.filter((e) => e.ev === 'message' && e.p.sender === 'nodebot').length >= 3, undefined, { timeout: 30000 });
    const echoes = await p.evaluate(() => P.events.filter((e) => e.ev === 'message' && e.p.sender === 'nodebot').map((e) => e.p.text));
    assert.deepEqual(echoes, ['echo: one', 'echo: two', 'echo: three'], log.join('\n'));
    assert.equal(await exited, 0, `bot output: ${out}`);
  } finally {
    bot.kill();
    await ctx.close();
  }
});
