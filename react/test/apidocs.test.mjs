// The API reference in docs/api is generated from the TypeScript
// declarations (./build.sh docs): it must be what they generate now, or the
// committed reference describes another API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tool = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'internal', 'apidocs');
const skip = existsSync(join(tool, 'node_modules', 'typedoc')) ? false : 'TypeDoc is not installed: run ./build.sh docs';

test('docs/api is what TypeDoc generates from the declarations of @parley-im/sdk and @parley-im/react', { skip, timeout: 300000 }, () => {
  const r = spawnSync(process.execPath, ['generate.mjs', '--check'], { cwd: tool, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
