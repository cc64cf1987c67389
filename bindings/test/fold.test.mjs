// foldText (generated from Go's core.FoldRune by internal/genfold) folds
// every code point as the Go core does: the checksum over all of them is
// the one the generator computed in Go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { foldText } from '@parley-im/sdk';

// The checksum is internal: the ESM build bundles it away, the CommonJS
// build keeps one file per source file.
const { FOLD_CHECKSUM } = createRequire(import.meta.url)('../dist/cjs/fold.js');

test('foldText agrees with core.FoldRune at every code point', () => {
  let h = 2166136261;
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = foldText(String.fromCodePoint(cp));
    const f = s.codePointAt(0);
    assert.equal(s.length, cp > 0xffff ? 2 : 1, `U+${cp.toString(16)} changed length`);
    for (let i = 0; i < 4; i++) {
      h ^= (f >>> (8 * i)) & 0xff;
      h = Math.imul(h, 16777619) >>> 0;
    }
  }
  assert.equal(h, FOLD_CHECKSUM);
});

test('foldText on text', () => {
  for (const [text, want] of [
    ['Hello WORLD', 'hello world'],
    ['Kein ÄRGER über die Straße', 'kein ärger über die straße'],
    ['ΟΔΟΣ', 'οδοσ'],
    ['İstanbul', 'istanbul'],
    ['我们明天开会吧', '我们明天开会吧'],
    ['𐐀 x', '𐐨 x'],
    ['', ''],
  ]) {
    assert.equal(foldText(text), want, text);
  }
});
