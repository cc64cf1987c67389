// Prepares `npm test`: the suites run against the built package (dist) with
// the real parley.wasm, so build both first.
//
// parley.wasm and wasm_exec.js come from `../build.sh wasm` (or the folder in
// PARLEY_WASM_DIR); when they are missing this runs it once, and fails with
// a clear message if that does not produce them. The relay binary is built by
// the suites themselves (test/support/relay.mjs), or taken from
// PARLEY_RELAY_BIN.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..');
const wasmDir = process.env.PARLEY_WASM_DIR || join(repo, 'dist', 'wasm');
const have = () => existsSync(join(wasmDir, 'parley.wasm')) && existsSync(join(wasmDir, 'wasm_exec.js'));

if (!have() && !process.env.PARLEY_WASM_DIR) {
  console.log(`@parley-im/sdk: ${join(wasmDir, 'parley.wasm')} is missing; running ../build.sh wasm`);
  const r = spawnSync('bash', [join(repo, 'build.sh'), 'wasm'], { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) console.error('@parley-im/sdk: ../build.sh wasm failed');
}
if (!have()) {
  console.error(
    `@parley-im/sdk: the tests need parley.wasm and wasm_exec.js in ${wasmDir}.\n` +
      'Build them with `./build.sh wasm` at the repository root (Go ≥ 1.24 required), ' +
      'or point PARLEY_WASM_DIR at a folder holding both.',
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, [join(pkg, 'scripts', 'build.mjs'), '--require-wasm'], { cwd: pkg, stdio: 'inherit' });
process.exit(r.status ?? 1);
