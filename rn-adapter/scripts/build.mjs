// Builds the package:
//
//   dist/esm/, dist/cjs/   the React Native side: index (ParleyHost, createClient),
//                          bridge (no React Native import), protocol; + .d.ts
//   host/                  the page the WebView loads, self-contained:
//     index.html           loads page.js
//     page.js, protocol.js the page side of the bridge (src/page.ts)
//     sdk/esm/*.js         @parley-im/sdk's ESM build, unchanged (with wasm_exec.js)
//     sdk/parley.wasm      the Go client
//     inline.html          the same page in ONE file, for a WebView that loads
//                          it as a string (source={{ html, baseUrl }}): page.js
//                          and the SDK bundled into one module script,
//                          parley.wasm gzip-compressed and base64-encoded in it.
//                          It fetches nothing, so it starts offline.
//   dist/{esm,cjs}/inline-host.js  inline.html as a string (the subpath
//                          @parley-im/react-native/inline-host), for apps.
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
import zlib from 'node:zlib';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkg, 'package.json'));
const args = new Set(process.argv.slice(2));

const required = [
  'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/bridge.js', 'dist/esm/bridge.d.ts', 'dist/esm/protocol.js',
  'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/bridge.js', 'dist/cjs/bridge.d.ts', 'dist/cjs/package.json',
  'host/index.html', 'host/page.js', 'host/protocol.js', 'host/sdk/esm/index.js', 'host/sdk/esm/wasm_exec.js', 'host/sdk/parley.wasm',
  'host/inline.html', 'dist/esm/inline-host.js', 'dist/esm/inline-host.d.ts', 'dist/cjs/inline-host.js', 'dist/cjs/inline-host.d.ts',
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

// The single-file page: one module script (esbuild bundles page.js with the
// SDK; the SDK's Node-only helpers stay behind dynamic imports a browser
// never takes) and the wasm inline. "</script" cannot occur in an inline
// script: the only place it could is a string, where "<\/script" reads the same.
const esbuild = require('esbuild');
const bundled = esbuild.buildSync({
  entryPoints: [join(host, 'page.js')],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  external: ['node:*', 'ws'],
  logLevel: 'warning',
}).outputFiles[0].text.replace(/<\/script/gi, '<\\/script');
const gz = zlib.gzipSync(readFileSync(wasm), { level: 9 });
const inline = readFileSync(join(pkg, 'src', 'host', 'index.html'), 'utf8')
  .replace(/^<!-- Fetch[^\n]*\n/m, '')
  .replace(/^<link [^\n]*\n/gm, '')
  .replace(
    '<script type="module" src="./page.js"></script>',
    // A function, not a string: the minified bundle can hold "$&" or "$'",
    // which a replacement string reads as patterns.
    () =>
      `<script id="parley-wasm" type="application/octet-stream" data-encoding="gzip">${gz.toString('base64')}</script>\n` +
      `<script type="module">${bundled}</script>`,
  );
if (!inline.includes('id="parley-wasm"') || /<link |src="\.\/page\.js"/.test(inline)) throw new Error('build: inline.html still refers to other files');
writeFileSync(join(host, 'inline.html'), inline);
// The string once, in the CommonJS file; the ESM entry re-exports it (Node
// and Metro both read the named export of a CommonJS module).
const stringModule = (cjs) =>
  '// Generated by scripts/build.mjs: host/inline.html as a string.\n' +
  (cjs
    ? '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.hostHtml = ' + JSON.stringify(inline) + ';\n'
    : "export { hostHtml } from '../cjs/inline-host.js';\n");
const stringTypes =
  '/** The single-file host page (`host/inline.html`) as a string: give it to `<ParleyHost source={{ html: hostHtml, baseUrl }} />`. */\n' +
  'export declare const hostHtml: string;\n';
writeFileSync(join(pkg, 'dist', 'esm', 'inline-host.js'), stringModule(false));
writeFileSync(join(pkg, 'dist', 'cjs', 'inline-host.js'), stringModule(true));
writeFileSync(join(pkg, 'dist', 'esm', 'inline-host.d.ts'), stringTypes);
writeFileSync(join(pkg, 'dist', 'cjs', 'inline-host.d.ts'), stringTypes);

const missing = required.filter((f) => !existsSync(join(pkg, f)));
if (missing.length > 0) throw new Error(`build: missing ${missing.join(', ')}`);
const kib = (f) => (statSync(f).size / 1024).toFixed(0);
console.log(`@parley-im/react-native: built dist/ and host/ (parley.wasm ${kib(wasm)} KiB from @parley-im/sdk ${sdkPkg.version}; ` +
  `inline.html ${kib(join(host, 'inline.html'))} KiB, of which the page's JavaScript ${(bundled.length / 1024).toFixed(0)} KiB)`);
