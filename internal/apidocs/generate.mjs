// Generates the API reference in docs/api from the TypeScript declarations
// of @parley-im/sdk (bindings/src) and @parley-im/react (react/src) with
// TypeDoc and typedoc-plugin-markdown, one folder per package. Everything
// marked @internal is left out, as the packages' .d.ts files leave it out.
//
//   node generate.mjs           write docs/api/sdk and docs/api/react
//   node generate.mjs --check   generate into a temporary folder and report
//                               the files that differ from docs/api (exit 1)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const docs = join(here, '..', '..', 'docs', 'api');
const typedoc = join(dirname(createRequire(import.meta.url).resolve('typedoc/package.json')), 'bin', 'typedoc');
const packages = ['sdk', 'react'];
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'parley-apidocs-')) : docs;

for (const name of packages) {
  execFileSync(process.execPath, [typedoc, '--options', `typedoc.${name}.json`, '--out', join(out, name), '--logLevel', 'Warn'], {
    cwd: here,
    stdio: 'inherit',
  });
}

if (check) {
  const files = (root) => {
    const list = [];
    const walk = (d) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else list.push(relative(root, p));
      }
    };
    if (existsSync(root)) walk(root);
    return list.sort();
  };
  const differ = [];
  for (const name of packages) {
    const want = files(join(out, name)), have = files(join(docs, name));
    for (const f of new Set([...want, ...have])) {
      const a = join(out, name, f), b = join(docs, name, f);
      if (!existsSync(a) || !existsSync(b) || !readFileSync(a).equals(readFileSync(b))) differ.push(`docs/api/${name}/${f}`);
    }
  }
  rmSync(out, { recursive: true, force: true });
  if (differ.length > 0) {
    console.error(`docs/api is not what the declarations generate (run ./build.sh docs):\n  ${differ.join('\n  ')}`);
    process.exit(1);
  }
  console.log('docs/api matches the declarations');
}
