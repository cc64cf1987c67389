// Codes (generated from Go by internal/gencodes) against proto/codes.go and
// the wire vectors both test suites share, and ParleyError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Codes, ParleyError, codeName, retryable, terminal } from '@parley-im/sdk';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('Codes names every code in proto/codes.go with the same value', () => {
  const go = readFileSync(join(repo, 'proto/codes.go'), 'utf8');
  const declared = Object.fromEntries([...go.matchAll(/^\s*Code(\w+)\s+Code\s*=\s*(\d+)/gm)].map(([, n, v]) => [n, Number(v)]));
  assert.ok(Object.keys(declared).length > 20);
  assert.deepEqual({ ...Codes }, declared);
  assert.equal(Codes.Unauthorized, 4001);
});

test('codes in the shared wire vectors are known, with their ranges', () => {
  const dir = join(repo, 'proto/testdata/vectors');
  const frames = JSON.parse(readFileSync(join(dir, 'vectors.json'), 'utf8'));
  const invalid = JSON.parse(readFileSync(join(dir, 'invalid.json'), 'utf8'));
  const codes = [
    ...frames.map((v) => v.frame?.Body?.Code).filter((c) => typeof c === 'number'),
    ...invalid.map((v) => v.code),
  ];
  assert.ok(codes.length > 4);
  const known = new Set(Object.values(Codes));
  for (const c of codes) {
    assert.ok(known.has(c), `vector code ${c} is in Codes`);
    assert.notEqual(codeName(c), `code ${c}`);
  }
  const kicked = frames.find((v) => v.name === 'close/kicked').frame.Body.Code;
  assert.equal(kicked, Codes.Kicked);
  assert.ok(terminal(kicked));
  const shutdown = frames.find((v) => v.name === 'close/shutdown').frame.Body.Code;
  assert.ok(retryable(shutdown) && !terminal(shutdown));
});

test('terminal and retryable mirror proto.Code', () => {
  // The table in proto/codes.go: terminal 4000–4099; retryable everything but
  // 4000–4099, 4200–4299 and ≥ 4900.
  for (const [code, term, retry] of [
    [0, false, true], [1000, false, true], [3999, false, true],
    [4000, true, false], [4001, true, false], [4099, true, false],
    [4100, false, true], [4199, false, true],
    [4200, false, false], [4203, false, false], [4299, false, false],
    [4300, false, true], [4899, false, true],
    [4900, false, false], [4905, false, false], [4999, false, false], [65535, false, false],
    [4001.5, false, false], [NaN, false, false],
  ]) {
    assert.equal(terminal(code), term, `terminal(${code})`);
    assert.equal(retryable(code), retry, `retryable(${code})`);
  }
});

test('ParleyError carries the code, its name and whether to retry', () => {
  const e = new ParleyError(Codes.Forbidden, 'not a member of g:x');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'ParleyError');
  assert.equal(e.code, 4203);
  assert.equal(e.message, 'parley: 4203 forbidden: not a member of g:x');
  assert.equal(e.retryable, false);
  assert.equal(e.terminal, false);
  assert.equal(new ParleyError(4300).retryable, true);
  assert.equal(new ParleyError(4001).terminal, true);
  assert.equal(new ParleyError(4999).message, 'parley: 4999 code 4999');
  // A Go error string already carries the head; it is not repeated.
  assert.equal(new ParleyError(4203, 'parley: 4203 forbidden: x').message, 'parley: 4203 forbidden: x');
});
