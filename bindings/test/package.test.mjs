// The package as consumers get it: the exports map, the CommonJS build in a
// process of its own, and the published type declarations.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRelay } from './helpers.mjs';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const require = createRequire(import.meta.url);

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

test('the exports map resolves both formats, the wasm and every browser mapping', async () => {
  assert.equal(pkg.type, 'module');
  const esm = fileURLToPath(import.meta.resolve('@parley-im/sdk'));
  const cjs = require.resolve('@parley-im/sdk');
  assert.equal(esm, join(pkgDir, 'dist/esm/index.js'));
  assert.equal(cjs, join(pkgDir, 'dist/cjs/index.js'));
  assert.equal(require.resolve('@parley-im/sdk/parley.wasm'), join(pkgDir, 'dist/parley.wasm'));
  for (const cond of ['import', 'require']) {
    assert.deepEqual(Object.keys(pkg.exports['.'][cond]), ['types', 'default'], `types first under ${cond}`);
    assert.ok(existsSync(join(pkgDir, pkg.exports['.'][cond].types)));
  }
  for (const file of Object.keys(pkg.browser).filter((k) => k.startsWith('./'))) {
    assert.ok(existsSync(join(pkgDir, file)), `browser field maps ${file}, which must exist`);
  }
  for (const file of pkg.sideEffects) assert.ok(existsSync(join(pkgDir, file)), `${file} is built`);
  assert.equal(JSON.parse(readFileSync(join(pkgDir, 'dist/cjs/package.json'), 'utf8')).type, 'commonjs');
  // ESM and CJS agree on the public surface.
  const fromEsm = Object.keys(await import('@parley-im/sdk')).sort();
  const fromCjs = Object.keys(require('@parley-im/sdk')).filter((k) => k !== '__esModule').sort();
  assert.deepEqual(fromCjs, fromEsm);
  assert.deepEqual(fromEsm, ['Codes', 'ParleyError', 'codeName', 'createClient', 'foldText', 'indexedDBStorage', 'retryable', 'terminal']);
});

test('@parley-im/sdk/errors: the same ParleyError and Codes, in engines that cannot load the client', async () => {
  const main = await import('@parley-im/sdk');
  const errors = await import('@parley-im/sdk/errors');
  assert.equal(errors.ParleyError, main.ParleyError, 'one class: instanceof works across the entries');
  assert.equal(errors.Codes, main.Codes);
  assert.equal(require('@parley-im/sdk/errors').ParleyError, require('@parley-im/sdk').ParleyError);
  // Hermes (React Native) has no WebAssembly and no TextDecoder: the entry must not touch them.
  for (const spec of ['import', 'require']) {
    const load = spec === 'import' ? "const m = await import('@parley-im/sdk/errors');" : "const m = require('@parley-im/sdk/errors');";
    const code = `delete globalThis.WebAssembly; delete globalThis.TextDecoder; delete globalThis.TextEncoder; delete globalThis.WebSocket;
      ${load} const e = new m.ParleyError(m.Codes.Unavailable, 'x'); if (!e.retryable || e.code !== 4300) process.exit(1);`;
    await run(process.execPath, spec === 'import' ? ['--input-type=module', '-e', code] : ['-e', code], { cwd: pkgDir });
  }
});

test('the ESM build keeps the literal new URL(…, import.meta.url) bundlers look for', () => {
  const src = readFileSync(join(pkgDir, 'dist/esm/index.js'), 'utf8');
  const url = /new URL\((['"])\.\.\/parley\.wasm\?v=([0-9a-f]{16})\1, import\.meta\.url\)/.exec(src);
  assert.ok(url, 'new URL(\'../parley.wasm?v=…\', import.meta.url)');
  const sha = createHash('sha256').update(readFileSync(join(pkgDir, 'dist/parley.wasm'))).digest('hex');
  assert.equal(url[2], sha.slice(0, 16), 'the URL names the module by the start of its SHA-256');
  assert.match(src, /import\((['"])\.\/wasm_exec\.js\1\)/, 'wasm_exec.js is loaded lazily');
  for (const f of esmGraph('dist/esm/index.js')) {
    assert.doesNotMatch(readFileSync(join(pkgDir, f), 'utf8'), /from ['"](ws|node:[a-z/]+)['"]/, `${f}: nothing Node-only is imported statically`);
  }
});

// esmGraph lists the files a browser loads for an ES module before it runs
// (its static imports, transitively), relative to the package.
function esmGraph(entry) {
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const src = readFileSync(join(pkgDir, f), 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]|^\s*import\s*['"](\.[^'"]+)['"]/gm)) {
      visit(join(dirname(f), m[1] ?? m[2]));
    }
  };
  visit(entry);
  return [...seen];
}

test('a page importing the ESM build without a bundler loads it as two modules, shared with the errors entry', () => {
  // One level of imports: index.js and the chunk it shares with
  // errors-entry.js (so that ParleyError is one class across the entries),
  // not one request (and on every reload one revalidation) per source file.
  const main = esmGraph('dist/esm/index.js');
  assert.equal(main.length, 2, `dist/esm/index.js loads ${main.join(', ')}`);
  const errors = esmGraph('dist/esm/errors-entry.js');
  assert.equal(errors.length, 2, `dist/esm/errors-entry.js loads ${errors.join(', ')}`);
  assert.equal(errors[1], main[1]);
});

test('the declarations stand alone: internals stripped, no reference to the bridge', () => {
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const f of walk(join(pkgDir, 'dist')).filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(f, 'utf8');
    assert.doesNotMatch(text, /wasm\.js|@internal|WasmClient|BridgeMessage/, f);
  }
});

test('TypeScript consumers type-check, ESM and CJS, with and without the DOM lib', async () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const fixtures = join(here, 'fixtures');
  for (const extra of [[], ['--lib', 'ES2022', '--types', 'node']]) {
    try {
      await run(process.execPath, [tsc, '-p', join(fixtures, 'tsconfig.json'), ...extra], { cwd: fixtures });
    } catch (e) {
      assert.fail(`tsc ${extra.join(' ')}:\n${e.stdout}${e.stderr}`);
    }
  }
});

test('the CommonJS build chats from a process of its own (wasm via __dirname, ws via require)', async () => {
  const { stdout } = await run(process.execPath, [join(here, 'fixtures/cjs-chat.cjs'), relay.ws, relay.token('cjs-a'), relay.token('cjs-b')], {
    cwd: pkgDir,
    timeout: 60000,
  });
  const out = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.deepEqual(out, { sent: 'sent', body: { via: 'cjs' }, codes: 4203, isError: true, WebSocket: 'function' });
});
