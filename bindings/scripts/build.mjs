// Builds the package into dist/:
//
//   dist/esm/        ES modules: index.js and errors-entry.js, bundled from
//                    tsc's output (tsc -p tsconfig.esm.json) with the code
//                    they share in one shared-<hash>.js, + the .d.ts of
//                    every source file
//   dist/cjs/        CommonJS (tsc -p tsconfig.cjs.json) + .d.ts, with a
//                    package.json {"type":"commonjs"}
//   dist/parley.wasm the Go client, shared by both builds
//   dist/{esm,cjs}/wasm_exec.js   Go's js/wasm support, one per module format
//   dist/{esm,cjs}/wasm-url.js    the default parley.wasm location (src/platform;
//                    in the ESM build, bundled into index.js)
//
// parley.wasm and wasm_exec.js are a pair made by one Go toolchain
// (`./build.sh wasm` writes both to ../dist/wasm; PARLEY_WASM_DIR overrides
// the folder), so they are copied from there, never checked in. Without them
// the TypeScript build still succeeds with a warning; --require-wasm makes it
// fail instead.
//
//   node scripts/build.mjs [--require-wasm]
//   node scripts/build.mjs --check    (prepack: is dist complete?)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkg, 'dist');
const wasmDir = process.env.PARLEY_WASM_DIR || join(pkg, '..', 'dist', 'wasm');
const args = new Set(process.argv.slice(2));

const required = [
  'esm/index.js', 'esm/index.d.ts', 'esm/wasm_exec.js', 'esm/node.js',
  'cjs/index.js', 'cjs/index.d.ts', 'cjs/wasm_exec.js', 'cjs/wasm-url.js', 'cjs/package.json',
  'esm/errors-entry.js', 'cjs/errors-entry.js',
  'parley.wasm',
];

if (args.has('--check')) {
  const missing = required.filter((f) => !existsSync(join(dist, f)));
  if (missing.length > 0) {
    console.error(`@parley-im/sdk: dist is incomplete (missing ${missing.join(', ')}).\n` +
      'Build it with `./build.sh npm` from the repository root (it builds parley.wasm first).');
    process.exit(1);
  }
  process.exit(0);
}

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
for (const config of ['tsconfig.esm.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', config], { cwd: pkg, stdio: 'inherit' });
}
writeFileSync(join(dist, 'cjs', 'package.json'), '{"type":"commonjs"}\n');
for (const format of ['esm', 'cjs']) {
  copyFileSync(join(pkg, 'src', 'platform', format, 'wasm-url.js'), join(dist, format, 'wasm-url.js'));
}
addressWasm(join(dist, 'esm', 'wasm-url.js'), join(wasmDir, 'parley.wasm'));
await bundleEsm(join(dist, 'esm'));

const wasm = join(wasmDir, 'parley.wasm');
const exec = join(wasmDir, 'wasm_exec.js');
if (existsSync(wasm) && existsSync(exec)) {
  copyFileSync(wasm, join(dist, 'parley.wasm'));
  for (const format of ['esm', 'cjs']) copyFileSync(exec, join(dist, format, 'wasm_exec.js'));
  const kib = (statSync(wasm).size / 1024).toFixed(0);
  console.log(`@parley-im/sdk: built dist/ with parley.wasm (${kib} KiB) from ${relative(pkg, wasmDir)}`);
} else {
  const msg = `parley.wasm and wasm_exec.js not found in ${wasmDir}; run \`./build.sh wasm\` at the repository root ` +
    '(or set PARLEY_WASM_DIR). The TypeScript build is in dist/, but the package cannot run without them.';
  if (args.has('--require-wasm')) {
    console.error(`@parley-im/sdk: ${msg}`);
    process.exit(1);
  }
  console.warn(`@parley-im/sdk: warning: ${msg}`);
}

/**
 * addressWasm names parley.wasm by its content in the ESM build's default
 * URL: '../parley.wasm?v=' and the first 16 hex digits of its SHA-256. A
 * new build is a new URL, so a server may let browsers keep the module
 * without asking again on every page load (parley-relay --static does, for
 * a ?v= that matches the file). Bundlers keep the query on the URL of the
 * asset they copy. Without parley.wasm (a TypeScript-only build) the URL
 * stays bare.
 */
function addressWasm(urlFile, wasm) {
  if (!existsSync(wasm)) return;
  const v = createHash('sha256').update(readFileSync(wasm)).digest('hex').slice(0, 16);
  const src = readFileSync(urlFile, 'utf8');
  const out = src.replace("new URL('../parley.wasm', import.meta.url)", `new URL('../parley.wasm?v=${v}', import.meta.url)`);
  if (out === src) throw new Error(`${urlFile}: no new URL('../parley.wasm', import.meta.url) to address`);
  writeFileSync(urlFile, out);
}

/**
 * bundleEsm turns tsc's ES modules in dir into the two entries and one
 * chunk they share. A page that imports the package without a bundler (a
 * CDN's URL, a plain <script type="module">) then loads it as 2 modules
 * instead of ~20, fetched one level of imports after another, each a round
 * trip (or a revalidation on every reload). Bundlers are unaffected: they
 * take an ES module either way. The two lazy imports stay files of their
 * own, as before: wasm_exec.js (Go's runtime, loaded while parley.wasm
 * compiles) and node.js (mapped to false for browsers by package.json's
 * "browser" field). The chunk sits beside the entries, so
 * `new URL('../parley.wasm', import.meta.url)` still names dist/parley.wasm.
 */
async function bundleEsm(dir) {
  const { build } = await import('esbuild');
  const lazy = /^\.\/(node|wasm_exec)\.js$/;
  const res = await build({
    entryPoints: { index: join(dir, 'index.js'), 'errors-entry': join(dir, 'errors-entry.js') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    outdir: dir,
    chunkNames: 'shared-[hash]',
    write: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [{
      name: 'lazy-files',
      setup(b) {
        b.onResolve({ filter: lazy }, (args) => ({ path: args.path, external: true }));
      },
    }],
  });
  // tsc's modules are gone from dir, those the bundle took in and those
  // only types imported (empty at run time); the .d.ts stay.
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const file of walk(dir)) {
    if (file.endsWith('.js') && !lazy.test(`./${relative(dir, file)}`)) rmSync(file);
  }
  for (const out of res.outputFiles) writeFileSync(out.path, out.contents);
}
