// Calls where there is no WebRTC (Node, mini-programs): call() rejects with
// a clear code, the 'call' event exists, bad arguments are refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Codes, ParleyError } from '@parley-im/sdk';
import { clientFor, closeAll, startRelay } from './helpers.mjs';

let relay;
const open = [];

before(async () => {
  relay = await startRelay();
});

after(async () => {
  await closeAll(open);
  await relay?.stop();
});

test('call() rejects with CallUnsupported (4920) without WebRTC; arguments are checked first', async () => {
  assert.equal(typeof globalThis.RTCPeerConnection, 'undefined', 'this test runs where there is no WebRTC');
  const alice = await clientFor(relay, 'alice', {}, open);
  await alice.connect();
  const off = alice.on('call', () => {});
  off();
  await assert.rejects(alice.call('bob', { audio: true }), (e) => e instanceof ParleyError && e.code === Codes.CallUnsupported);
  await assert.rejects(alice.call(alice.p2p('bob'), { video: true }), (e) => e.code === Codes.CallUnsupported);
  await assert.rejects(alice.call(''), (e) => e.code === Codes.InvalidArgument);
  await assert.rejects(alice.call('bob', { audio: false, video: false }), (e) => e.code === Codes.InvalidArgument);
  await assert.rejects(alice.call('bob', { audio: 'yes' }), (e) => e.code === Codes.InvalidArgument);
});
