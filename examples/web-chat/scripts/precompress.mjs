// Writes a brotli (.br) and a gzip (.gz) copy next to every compressible
// file of a build (wasm, JavaScript, CSS, HTML, SVG, JSON), so a server can
// answer with the precompressed bytes instead of compressing on each
// request: `parley-relay --static` does, and so can nginx (gzip_static,
// brotli_static) and Caddy (file_server precompressed). Usage:
// node scripts/precompress.mjs dist
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const COMPRESSIBLE = /\.(wasm|m?js|css|html|svg|json)$/;
const dir = process.argv[2] ?? 'dist';
let raw = 0;
let br = 0;
let gz = 0;
for (const file of walk(dir)) {
  if (!COMPRESSIBLE.test(file)) continue;
  const bytes = readFileSync(file);
  if (bytes.length < 1024) continue;
  const b = brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
  const g = gzipSync(bytes, { level: 9 });
  writeFileSync(`${file}.br`, b);
  writeFileSync(`${file}.gz`, g);
  raw += bytes.length;
  br += b.length;
  gz += g.length;
}
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`precompressed ${dir}: ${kib(raw)} → brotli ${kib(br)}, gzip ${kib(gz)}`);

function* walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (!p.endsWith('.br') && !p.endsWith('.gz')) yield p;
  }
}
