// Builds the package into dist/:
//
//   dist/esm/   ES modules (tsc -p tsconfig.esm.json) + .d.ts
//   dist/cjs/   CommonJS (tsc -p tsconfig.cjs.json) + .d.ts, with a
//               package.json {"type":"commonjs"}
//   LICENSE     the repository's licence, which npm packs with the package
//
//   node scripts/build.mjs
//   node scripts/build.mjs --check    (prepack: is dist complete?)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkg, 'dist');
const required = ['esm/index.js', 'esm/index.d.ts', 'cjs/index.js', 'cjs/index.d.ts', 'cjs/package.json', '../LICENSE'];

if (process.argv.includes('--check')) {
  const missing = required.filter((f) => !existsSync(join(dist, f)));
  if (missing.length > 0) {
    console.error(`@parley-im/react: dist is incomplete (missing ${missing.join(', ')}); run \`npm run build\`.`);
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
copyFileSync(join(pkg, '..', 'LICENSE'), join(pkg, 'LICENSE'));
console.log('@parley-im/react: built dist/ (esm, cjs)');
