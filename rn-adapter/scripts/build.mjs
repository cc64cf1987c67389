// Builds the package:
//
//   dist/esm/, dist/cjs/   the React Native side: index (ParleyHost, createClient),
//                          bridge (no React Native import), protocol; + .d.ts
//   host/                  the page the WebView loads, self-contained:
//     index.html           loads page.js
//     page.js, protocol.js the page side of the bridge (src/page.ts)
//     sdk/esm/*.js         @parley-im/sdk's ESM build, unchanged (with wasm_exec.js)
//     sdk/parley.wasm      the Go client
//
// The SDK comes from the installed @parley-im/sdk (in this repository a link
// to ../bindings, built first by `./build.sh npm`).
//
//   node scripts/build.mjs
//   node scripts/build.mjs --check    (prepack: is everything there?)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkg, 'package.json'));
const args = new Set(process.argv.slice(2));

const required = [
  'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/bridge.js', 'dist/esm/bridge.d.ts', 'dist/esm/protocol.js',
  'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/bridge.js', 'dist/cjs/bridge.d.ts', 'dist/cjs/package.json',
  'host/index.html', 'host/page.js', 'host/protocol.js', 'host/sdk/esm/index.js', 'host/sdk/esm/wasm_exec.js', 'host/sdk/parley.wasm',
];

if (args.has('--check')) {
  const missing = required.filter((f) => !existsSync(join(pkg, f)));
  if (missing.length > 0) {
    console.error(`@parley-im/react-native: the build is incomplete (missing ${missing.join(', ')}).\n` +
      'Build it with `./build.sh npm` from the repository root (it builds @parley-im/sdk first).');
    process.exit(1);
  }
  process.exit(0);
}

const sdkDir = dirname(require.resolve('@parley-im/sdk/package.json'));
const sdkPkg = JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8'));
const wasm = join(sdkDir, 'dist', 'parley.wasm');
if (!existsSync(wasm) || !existsSync(join(sdkDir, 'dist', 'esm', 'wasm_exec.js'))) {
  console.error(`@parley-im/react-native: ${relative(pkg, sdkDir)} has no built parley.wasm and wasm_exec.js; ` +
    'run `./build.sh npm` at the repository root.');
  process.exit(1);
}

for (const d of ['dist', 'build', 'host']) rmSync(join(pkg, d), { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc');
for (const config of ['tsconfig.esm.json', 'tsconfig.cjs.json', 'tsconfig.host.json']) {
  execFileSync(process.execPath, [tsc, '-p', config], { cwd: pkg, stdio: 'inherit' });
}
writeFileSync(join(pkg, 'dist', 'cjs', 'package.json'), '{"type":"commonjs"}\n');

// The page: its two modules, the SDK import pointed at the copy beside it.
const host = join(pkg, 'host');
mkdirSync(host, { recursive: true });
copyFileSync(join(pkg, 'src', 'host', 'index.html'), join(host, 'index.html'));
copyFileSync(join(pkg, 'build', 'host', 'protocol.js'), join(host, 'protocol.js'));
let page = readFileSync(join(pkg, 'build', 'host', 'page.js'), 'utf8');
const from = "from '@parley-im/sdk';";
if (!page.includes(from)) throw new Error(`build: page.js does not import ${from}`);
page = page.replace(from, "from './sdk/esm/index.js';").replace('__SDK_VERSION__', sdkPkg.version);
writeFileSync(join(host, 'page.js'), page);

// The SDK's ESM build (JavaScript only) and the wasm, as the SDK lays them out.
const copyJs = (src, dst) => {
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) copyJs(join(src, e.name), join(dst, e.name));
    else if (e.name.endsWith('.js')) {
      mkdirSync(dst, { recursive: true });
      copyFileSync(join(src, e.name), join(dst, e.name));
    }
  }
};
copyJs(join(sdkDir, 'dist', 'esm'), join(host, 'sdk', 'esm'));
copyFileSync(wasm, join(host, 'sdk', 'parley.wasm'));
rmSync(join(pkg, 'build'), { recursive: true, force: true });

const missing = required.filter((f) => !existsSync(join(pkg, f)));
if (missing.length > 0) throw new Error(`build: missing ${missing.join(', ')}`);
const kib = (f) => (statSync(f).size / 1024).toFixed(0);
console.log(`@parley-im/react-native: built dist/ and host/ (parley.wasm ${kib(wasm)} KiB from @parley-im/sdk ${sdkPkg.version})`);
