// examples/rn-app type-checks against the real react-native and
// react-native-webview packages from the registry, with @parley-im/sdk and
// @parley-im/react-native installed from the packed tarballs, as an app
// developer installs them. (Nothing runs on a device here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const example = join(repo, 'examples', 'rn-app');

test('examples/rn-app type-checks against react-native and the packed packages', { timeout: 600000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-rn-example-'));
  cpSync(example, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const [name, spec] of Object.entries(pkg.dependencies)) {
    if (spec.startsWith('file:')) {
      const tgz = join(example, spec.slice(5));
      assert.ok(existsSync(tgz), `${tgz} is missing: run ./build.sh npm`);
      pkg.dependencies[name] = `file:${tgz}`;
    }
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--ignore-scripts'], { cwd: dir, stdio: 'inherit' });
  const rn = JSON.parse(readFileSync(join(dir, 'node_modules', 'react-native', 'package.json'), 'utf8'));
  assert.equal(rn.version, pkg.dependencies['react-native'], 'the real react-native package');
  try {
    execFileSync(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc:\n${e.stdout}${e.stderr}`);
  }
});
