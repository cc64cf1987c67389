// Calls in the web chat demo (examples/web-chat), by clicks in headless
// Chromium with a fake camera and microphone, against a real relay: alice
// places a video call, bob answers in the incoming-call dialog, both call
// views play the other's video, alice hangs up, and the call's record line
// shows in both conversations; a declined call leaves its record too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webchatSuite, openWebchat, shot, withFailureReport } from './helpers.mjs';

const env = webchatSuite({ args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] });
const skip = env.skip;
const T = 30000;

/** remoteVideoPlays waits until a remote <video> of the call view of x shows frames. */
function remoteVideoPlays(x) {
  return x.p.waitForFunction(() => [...document.querySelectorAll('[data-testid="call-remote"]')].some(
    (v) => v.videoWidth > 0 && v.readyState >= 2 && !v.paused), undefined, { timeout: T, polling: 100 });
}

/** record waits for the call record line matching re in the open conversation of x. */
function record(x, re) {
  return x.p.getByTestId('call-record').filter({ hasText: re }).first().waitFor({ timeout: T });
}

test('a video call answered, hung up and recorded; a declined call recorded', { skip, timeout: 300000 }, async () => {
  const [ca, cb] = await Promise.all([env.browser.newContext(), env.browser.newContext()]);
  const people = [];
  try {
    await withFailureReport('web-chat-call', () => people, async () => {
      const alice = await openWebchat(env.relay, ca, 'c-alice');
      const bob = await openWebchat(env.relay, cb, 'c-bob');
      people.push(alice, bob);

      // Both have their conversation open.
      await alice.p.getByTestId('new-chat').click();
      await alice.p.getByTestId('new-chat-user').fill('c-bob');
      await alice.p.getByTestId('new-chat-submit').click();
      await alice.p.getByTestId('composer').fill('video?');
      await alice.p.getByTestId('composer').press('Enter');
      const item = bob.p.getByTestId('conv-item').filter({ hasText: 'c-alice' });
      await item.waitFor({ timeout: T });
      await item.click();
      await bob.p.getByTestId('message').filter({ hasText: 'video?' }).waitFor({ timeout: T });

      // alice calls with video; bob's dialog rings; he answers.
      await alice.p.getByTestId('call-video').click();
      await alice.p.getByTestId('call-view').waitFor({ timeout: T });
      const ring = bob.p.getByTestId('call-incoming');
      await ring.filter({ hasText: 'c-alice — incoming video call' }).waitFor({ timeout: T });
      await shot(bob.p, 'web-chat-call-incoming.png');
      await bob.p.getByTestId('call-accept').click();
      await bob.p.getByTestId('call-view').waitFor({ timeout: T });

      // Both views play the other's camera.
      await Promise.all([remoteVideoPlays(alice), remoteVideoPlays(bob)]);
      for (const x of [alice, bob]) {
        await x.p.getByTestId('call-status').filter({ hasText: 'connected' }).waitFor({ timeout: T });
      }
      const size = await bob.p.$eval('[data-testid="call-remote"]', (v) => [v.videoWidth, v.videoHeight]);
      assert.ok(size[0] > 0 && size[1] > 0, `bob's remote video is ${size}`);
      await shot(alice.p, 'web-chat-call-alice.png');
      await shot(bob.p, 'web-chat-call-bob.png');

      // alice hangs up: both views close, both conversations get the record.
      await alice.p.getByTestId('call-hangup').click();
      for (const x of [alice, bob]) {
        await x.p.getByTestId('call-view').waitFor({ state: 'detached', timeout: T });
        await record(x, /^Video call · \d+:\d\d$/);
      }
      await shot(bob.p, 'web-chat-call-record.png');

      // A voice call bob declines: alice's view closes, both get the record.
      await alice.p.getByTestId('call-audio').click();
      await bob.p.getByTestId('call-incoming').filter({ hasText: 'incoming voice call' }).waitFor({ timeout: T });
      await bob.p.getByTestId('call-reject').click();
      await bob.p.getByTestId('call-incoming').waitFor({ state: 'detached', timeout: T });
      await alice.p.getByTestId('call-view').waitFor({ state: 'detached', timeout: T });
      for (const x of [alice, bob]) await record(x, 'Voice call · Call declined');
      await shot(alice.p, 'web-chat-call-declined.png');
    });
  } finally {
    await Promise.all([ca.close().catch(() => {}), cb.close().catch(() => {})]);
  }
});
