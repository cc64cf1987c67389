// The package as its exports map gives it: the same public API from ES
// modules and CommonJS, with nothing internal in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const PUBLIC = [
  'ParleyProvider', 'useClient', 'useConnectionState', 'useConversations', 'useMessages', 'useTyping',
  'usePresence', 'useProfiles', 'useProfile', 'useTotalUnread', 'useMembers',
];

test('ESM and CommonJS export the same functions and constant, and nothing internal', async () => {
  const esm = await import('@parley-im/react');
  const cjs = createRequire(import.meta.url)('@parley-im/react');
  for (const [name, mod] of [['esm', esm], ['cjs', cjs]]) {
    const keys = Object.keys(mod).filter((k) => k !== 'default' && k !== '__esModule').sort();
    assert.deepEqual(keys, [...PUBLIC, 'TYPING_SHOW_MS'].sort(), `${name} exports`);
    assert.equal(typeof mod.TYPING_SHOW_MS, 'number', `${name} TYPING_SHOW_MS`);
    for (const k of PUBLIC) assert.equal(typeof mod[k], 'function', `${name} ${k}`);
  }
});

test('the declarations carry the public types and strip the @internal merge rules', () => {
  for (const format of ['esm', 'cjs']) {
    const index = readFileSync(new URL(`../dist/${format}/index.d.ts`, import.meta.url), 'utf8');
    for (const t of ['ParleyProviderProps', 'ConnectionStatus', 'ConversationsResult', 'MessagesResult', 'UseMessagesOptions',
      'PresenceResult', 'ProfilesResult', 'MembersResult']) {
      assert.match(index, new RegExp(`\\b${t}\\b`), `${format} index.d.ts names ${t}`);
    }
    const merge = readFileSync(new URL(`../dist/${format}/merge.d.ts`, import.meta.url), 'utf8');
    assert.doesNotMatch(merge, /applyEvent|applyPage|MessageWindow/, `${format} merge.d.ts is internal`);
  }
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.license, 'Apache-2.0');
  assert.deepEqual(Object.keys(pkg.exports['.'].import), ['types', 'default'], 'types first');
  assert.deepEqual(Object.keys(pkg.peerDependencies).sort(), ['@parley-im/sdk', 'react']);
});
