// What people do to messages in the web chat demo (examples/web-chat), by
// clicks in headless Chromium against a real relay: reply, edit, recall,
// delete (for me, for everyone), react, mention, read receipts, images and
// files (progress, preview, download), an upload cut by a reload, and a
// device that was closed meanwhile catching up when it opens again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { eventually, openWebchat, shot, webchatSuite, withFailureReport } from './helpers.mjs';

const env = webchatSuite();
const skip = env.skip;
const T = 30000; // generous: the machine is shared and slow

/** crew: the people of one test (for the failure report) and open(ctx, user, opts) → their page. */
function crew() {
  const people = [];
  const open = async (ctx, user, opts) => {
    const x = await openWebchat(env.relay, ctx, user, opts);
    people.push(x);
    return x.p;
  };
  return { people, open };
}

async function openConv(p, title) {
  const item = p.getByTestId('conv-item').filter({ hasText: title });
  await item.waitFor({ timeout: T });
  await item.click();
}

async function newChat(p, user) {
  await p.getByTestId('new-chat').click();
  await p.getByTestId('new-chat-user').fill(user);
  await p.getByTestId('new-chat-submit').click();
}

async function say(p, text) {
  await p.getByTestId('composer').fill(text);
  await p.getByTestId('composer').press('Enter');
  await sent(p, text);
}

/** The message whose own text (not a quote of it) has text. */
const msg = (p, text) => p.getByTestId('message').filter({ has: p.locator('.bubble > .text', { hasText: text }) });

/** Waits until the own message with text is acknowledged by the relay. */
async function sent(p, text) {
  await p.waitForFunction((t) => [...document.querySelectorAll('[data-testid="message"]')].some((m) => m.querySelector('.bubble > .text')?.textContent.includes(t) && m.dataset.status === 'sent'), text, { timeout: T });
}

/** Opens the action menu of the message with text and clicks the action. */
async function act(p, text, testid, emoji) {
  const m = msg(p, text);
  await m.hover();
  await m.getByTestId('msg-actions').click();
  const menu = p.getByTestId('msg-menu');
  await menu.waitFor({ timeout: T });
  if (emoji) await menu.locator(`[data-testid="react-emoji"][data-emoji="${emoji}"]`).click();
  else await menu.getByTestId(testid).click();
}

/** A noisy RGB PNG of w×h (too random to compress to nothing). */
function png(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  const noise = randomBytes(raw.length);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    noise.copy(raw, y * (w * 3 + 1) + 1, y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1));
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('reply, edit, recall, delete for me, reactions, ✓✓, and a closed device catching up', { skip, timeout: 240000 }, async () => {
  const [ca, cb, cb2] = await Promise.all([env.browser.newContext(), env.browser.newContext(), env.browser.newContext()]);
  const { people, open } = crew();
  try {
    await withFailureReport('web-chat-messages', () => people, async () => {
      const alice = await open(ca, 'ml-alice');
      const bob = await open(cb, 'ml-bob');
      let bob2 = await open(cb2, 'ml-bob'); // bob's second device

      await newChat(alice, 'ml-bob');
      await say(alice, 'first: lunch at noon?');
      await say(alice, 'second: this one goes back');
      await say(alice, 'third: bob hides this one');
      // ✓ while bob has not read them.
      assert.equal(await msg(alice, 'first: lunch').getByTestId('read-mark').getAttribute('data-read'), '0');

      // bob's second device sees all three, then is closed.
      await openConv(bob2, 'ml-alice');
      await msg(bob2, 'third: bob hides').waitFor({ timeout: T });
      await bob2.close();

      // bob opens the conversation: alice's messages turn ✓✓.
      await openConv(bob, 'ml-alice');
      await msg(bob, 'third: bob hides').waitFor({ timeout: T });
      await alice.waitForFunction(() => {
        const marks = [...document.querySelectorAll('[data-testid="message"] [data-testid="read-mark"]')];
        return marks.length === 3 && marks.every((m) => m.dataset.read === '1');
      }, undefined, { timeout: T });
      await shot(alice, 'web-chat-read-p2p.png');

      // bob replies to the first message: the quote is above the composer, then in the message.
      await act(bob, 'first: lunch', 'action-reply');
      await bob.getByTestId('reply-bar').filter({ hasText: 'first: lunch at noon?' }).waitFor({ timeout: T });
      await say(bob, 'yes, noon works');
      assert.equal(await bob.getByTestId('reply-bar').count(), 0, 'the reply bar is gone after sending');
      const reply = msg(alice, 'yes, noon works');
      await reply.getByTestId('reply-quote').filter({ hasText: 'first: lunch at noon?' }).waitFor({ timeout: T });
      // Clicking the quote brings the original into view, flashing.
      await reply.getByTestId('reply-quote').click();
      await alice.waitForFunction(() => [...document.querySelectorAll('.msg.flash')].some((m) => m.textContent.includes('first: lunch')), undefined, { timeout: T });
      // Replies to the two that go next: their quotes follow the recall and the deletion.
      await act(bob, 'second: this one', 'action-reply');
      await say(bob, 'why the second?');
      await act(bob, 'third: bob hides', 'action-reply');
      await say(bob, 'why the third?');
      await msg(alice, 'why the third?').getByTestId('reply-quote').filter({ hasText: 'third: bob hides this one' }).waitFor({ timeout: T });

      // alice edits the first message: bob sees the new text, marked edited.
      // What she was writing waits while the composer holds the edit.
      await alice.getByTestId('composer').fill('half-written thought');
      await act(alice, 'first: lunch', 'action-edit');
      await alice.getByTestId('edit-bar').waitFor({ timeout: T });
      assert.equal(await alice.getByTestId('composer').inputValue(), 'first: lunch at noon?');
      await alice.getByTestId('composer').fill('first: lunch at one instead?');
      await alice.getByTestId('composer').press('Enter');
      assert.equal(await alice.getByTestId('composer').inputValue(), 'half-written thought');
      assert.equal(await alice.getByTestId('edit-bar').count(), 0);
      await alice.getByTestId('composer').fill('');
      const edited = msg(bob, 'first: lunch at one instead?');
      await edited.getByTestId('edited').waitFor({ timeout: T });
      assert.equal(await msg(bob, 'lunch at noon?').count(), 0, 'no message has the old text');
      // The reply's quote follows the edit.
      await msg(bob, 'yes, noon works').getByTestId('reply-quote').filter({ hasText: 'lunch at one instead?' }).waitFor({ timeout: T });

      // alice recalls the second: bob sees the notice, not the text.
      await act(alice, 'second: this one', 'action-recall');
      await bob.getByTestId('recalled').filter({ hasText: 'ml-alice recalled a message' }).waitFor({ timeout: T });
      assert.equal(await msg(bob, 'second: this one').count(), 0);
      await alice.getByTestId('recalled').filter({ hasText: 'You recalled a message' }).waitFor({ timeout: T });
      for (const p of [alice, bob]) {
        await msg(p, 'why the second?').getByTestId('reply-quote').filter({ hasText: 'Recalled message' }).waitFor({ timeout: T });
      }

      // Reactions: bob 👍, alice 👍 too (count 2), bob takes his back (count 1).
      await act(bob, 'first: lunch at one', null, '👍');
      const chipA = msg(alice, 'first: lunch at one').locator('[data-testid="reaction"][data-emoji="👍"]');
      await chipA.and(alice.locator('[data-count="1"]')).waitFor({ timeout: T });
      assert.equal(await chipA.getAttribute('title'), 'ml-bob');
      await chipA.click();
      const chipB = msg(bob, 'first: lunch at one').locator('[data-testid="reaction"][data-emoji="👍"]');
      await chipB.and(bob.locator('[data-count="2"]')).waitFor({ timeout: T });
      assert.equal(await chipB.getAttribute('title'), 'you, ml-alice');
      assert.equal(await chipB.getAttribute('aria-pressed'), 'true');
      await chipB.click();
      await chipA.and(alice.locator('[data-count="1"]')).waitFor({ timeout: T });
      assert.equal(await chipA.getAttribute('title'), 'you');
      await act(bob, 'first: lunch at one', null, '🎉');
      await msg(alice, 'first: lunch at one').locator('[data-testid="reaction"][data-emoji="🎉"]').waitFor({ timeout: T });
      await shot(bob, 'web-chat-reactions.png');

      // bob deletes the third for himself: gone on his side, still on alice's.
      await act(bob, 'third: bob hides', 'action-delete-me');
      await eventually(async () => (await msg(bob, 'third: bob hides').count()) === 0, T, 'the message gone for bob');
      await say(alice, 'fourth: after the deletion');
      await msg(bob, 'fourth: after the deletion').waitFor({ timeout: T });
      assert.equal(await msg(alice, 'third: bob hides').count(), 1, 'alice still has it');
      assert.equal(await msg(bob, 'third: bob hides').count(), 0);
      // bob's reply says its original was deleted (a click says so too, instead
      // of reading the whole history for it); alice's still quotes it.
      const hiddenQuote = msg(bob, 'why the third?').getByTestId('reply-quote');
      await hiddenQuote.filter({ hasText: 'Deleted message' }).waitFor({ timeout: T });
      await hiddenQuote.click();
      await bob.locator('.toast').filter({ hasText: 'You deleted the original message.' }).waitFor({ timeout: T });
      assert.equal(await msg(alice, 'why the third?').getByTestId('reply-quote').filter({ hasText: 'third: bob hides this one' }).count(), 1);

      // bob's second device opens again: it converges through the sync.
      bob2 = await open(cb2, 'ml-bob', { signIn: false });
      await openConv(bob2, 'ml-alice');
      await msg(bob2, 'fourth: after the deletion').waitFor({ timeout: T });
      await msg(bob2, 'first: lunch at one instead?').getByTestId('edited').waitFor({ timeout: T });
      await bob2.getByTestId('recalled').filter({ hasText: 'ml-alice recalled a message' }).waitFor({ timeout: T });
      await msg(bob2, 'first: lunch at one').locator('[data-testid="reaction"][data-emoji="🎉"][aria-pressed="true"]').waitFor({ timeout: T });
      const thumbs = msg(bob2, 'first: lunch at one').locator('[data-testid="reaction"][data-emoji="👍"]');
      await thumbs.and(bob2.locator('[data-count="1"][aria-pressed="false"]')).waitFor({ timeout: T });
      await eventually(async () => (await msg(bob2, 'third: bob hides').count()) === 0, T, 'the hidden message gone on the second device');
      assert.equal(await msg(bob2, 'second: this one').count(), 0, 'the recalled text is gone');
      await msg(bob2, 'why the second?').getByTestId('reply-quote').filter({ hasText: 'Recalled message' }).waitFor({ timeout: T });
      await msg(bob2, 'why the third?').getByTestId('reply-quote').filter({ hasText: 'Deleted message' }).waitFor({ timeout: T });
      await shot(bob2, 'web-chat-messages-converged.png');
    });
  } finally {
    await Promise.all([ca.close(), cb.close(), cb2.close()]);
  }
});

test('mentions with [@me], "read by 2" and an admin deleting for everyone in a group', { skip, timeout: 240000 }, async () => {
  const [ca, cb, cc] = await Promise.all([env.browser.newContext(), env.browser.newContext(), env.browser.newContext()]);
  const { people, open } = crew();
  try {
    await withFailureReport('web-chat-messages', () => people, async () => {
      const alice = await open(ca, 'mg-alice');
      const bob = await open(cb, 'mg-bob');
      const carol = await open(cc, 'mg-carol');

      await alice.getByTestId('new-group').click();
      await alice.getByTestId('new-group-name').fill('Trip');
      await alice.getByTestId('new-group-members').fill('mg-bob, mg-carol');
      await alice.getByTestId('new-group-submit').click();
      await say(alice, 'who is coming on Saturday?');

      // bob opens the group and mentions carol through the picker.
      await openConv(bob, 'Trip');
      await msg(bob, 'who is coming').waitFor({ timeout: T });
      await bob.getByTestId('composer').pressSequentially('me! and @mg-c', { delay: 10 });
      const option = bob.locator('[data-testid="mention-option"][data-user="mg-carol"]');
      await option.waitFor({ timeout: T });
      await option.click();
      assert.equal(await bob.getByTestId('composer').inputValue(), 'me! and @mg-carol ');
      await bob.getByTestId('composer').pressSequentially('too?', { delay: 10 });
      await bob.getByTestId('composer').press('Enter');
      await sent(bob, 'me! and @mg-carol too?');
      await msg(bob, 'me! and').getByTestId('mention').filter({ hasText: '@mg-carol' }).waitFor({ timeout: T });

      // carol's list says [@me]; alice's does not.
      const carolItem = carol.getByTestId('conv-item').filter({ hasText: 'Trip' });
      await carolItem.getByTestId('mention-badge').filter({ hasText: '[@me]' }).waitFor({ timeout: T });
      await shot(carol, 'web-chat-mention-badge.png');
      await alice.getByTestId('conv-item').filter({ hasText: 'me! and' }).waitFor({ timeout: T });
      assert.equal(await alice.getByTestId('mention-badge').count(), 0);
      // carol opens it: her name is highlighted, the badge goes.
      await carolItem.click();
      await msg(carol, 'me! and').locator('.mention.me').filter({ hasText: '@mg-carol' }).waitFor({ timeout: T });
      await eventually(async () => (await carol.getByTestId('mention-badge').count()) === 0, T, 'the [@me] badge gone once read');

      // Both read alice's question: "read by 2", and the click lists them.
      const readBy = msg(alice, 'who is coming').getByTestId('read-by');
      await readBy.filter({ hasText: 'read by 2' }).waitFor({ timeout: T });
      await readBy.click();
      const dialog = alice.getByTestId('receipts-dialog');
      await dialog.waitFor({ timeout: T });
      const readers = (await dialog.getByTestId('receipts-read').innerText()).split('\n').sort();
      assert.deepEqual(readers, ['mg-bob', 'mg-carol']);
      await shot(alice, 'web-chat-read-by.png');
      await dialog.getByTestId('receipts-close').click();

      // carol writes something; alice, the owner, deletes it for everyone.
      await say(carol, 'oops, wrong group');
      await msg(alice, 'oops, wrong group').waitFor({ timeout: T });
      await act(alice, 'oops, wrong group', 'action-delete-all');
      await bob.getByTestId('recalled').filter({ hasText: 'mg-carol recalled a message' }).waitFor({ timeout: T });
      await eventually(async () => (await msg(carol, 'oops, wrong group').count()) === 0, T, 'gone for carol too');
      // bob, a plain member, may not delete alice's message for everyone.
      await msg(bob, 'who is coming').hover();
      await msg(bob, 'who is coming').getByTestId('msg-actions').click();
      await bob.getByTestId('msg-menu').waitFor({ timeout: T });
      assert.equal(await bob.getByTestId('action-delete-all').count(), 0);
      assert.equal(await bob.getByTestId('action-recall').count(), 0);
      assert.equal(await bob.getByTestId('action-edit').count(), 0);
    });
  } finally {
    await Promise.all([ca.close(), cb.close(), cc.close()]);
  }
});

test('an image and a file: progress, preview, download; an upload cut by a reload is delivered once', { skip, timeout: 300000 }, async () => {
  const [ca, cb] = await Promise.all([env.browser.newContext(), env.browser.newContext({ acceptDownloads: true })]);
  const { people, open } = crew();
  try {
    await withFailureReport('web-chat-messages', () => people, async () => {
      let alice = await open(ca, 'mf-alice');
      const bob = await open(cb, 'mf-bob');
      await newChat(alice, 'mf-bob');
      await say(alice, 'photos coming');
      await openConv(bob, 'mf-alice');

      // A slow uplink (Chromium's network emulation), so the progress shows.
      const cdp = await ca.newCDPSession(alice);
      const slow = (bytesPerSecond) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
      await cdp.send('Network.enable');
      await slow(256 * 1024);

      const image = png(640, 400);
      await alice.getByTestId('attach-input').setInputFiles({ name: 'beach.png', mimeType: 'image/png', buffer: image });
      // The bar moves: part of the bytes are up, not all.
      await alice.waitForFunction(() => {
        const p = document.querySelector('[data-testid="upload-progress"]');
        return p && p.value > 0 && p.value < p.max;
      }, undefined, { timeout: T, polling: 20 });
      await shot(alice, 'web-chat-upload-progress.png');
      await alice.getByTestId('upload-progress').waitFor({ state: 'detached', timeout: 60000 });
      // bob's preview is the picture, decoded.
      const w = await bob.waitForFunction(() => {
        const img = document.querySelector('[data-testid="image-preview"]');
        return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight];
      }, undefined, { timeout: 60000 });
      assert.deepEqual(await w.jsonValue(), [640, 400]);
      await shot(bob, 'web-chat-image.png');

      // A file: bob downloads it and gets the same bytes.
      await slow(-1);
      const bytes = randomBytes(300 * 1024);
      await alice.getByTestId('attach-input').setInputFiles({ name: 'notes.bin', mimeType: 'application/octet-stream', buffer: bytes });
      const card = bob.getByTestId('file-card').filter({ hasText: 'notes.bin' });
      await card.getByTestId('file-download').waitFor({ timeout: 60000 });
      assert.match(await card.innerText(), /300 KB/);
      const [download] = await Promise.all([bob.waitForEvent('download', { timeout: T }), card.getByTestId('file-download').click()]);
      assert.equal(download.suggestedFilename(), 'notes.bin');
      assert.ok(readFileSync(await download.path()).equals(bytes), 'the downloaded bytes are the file');

      // A type the relay does not take: the message fails with the relay's code.
      await alice.getByTestId('attach-input').setInputFiles({ name: 'tool.exe', mimeType: 'application/x-msdownload', buffer: randomBytes(2048) });
      const refused = alice.getByTestId('message').filter({ has: alice.getByTestId('file-card').filter({ hasText: 'tool.exe' }) });
      await refused.and(alice.locator('[data-status="failed"]')).waitFor({ timeout: T });
      assert.match(await refused.locator('.failed-row').innerText(), /4241/);

      // An upload cut by a reload: it starts over after the reload, and bob gets the file once.
      await slow(96 * 1024);
      const big = randomBytes(1200 * 1024);
      await alice.getByTestId('attach-input').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: big });
      await alice.waitForFunction(() => {
        const p = document.querySelector('[data-testid="upload-progress"]');
        return p && p.value > 0 && p.value < p.max;
      }, undefined, { timeout: T, polling: 20 });
      await alice.reload();
      // After the reload the message is still waiting for its file, the upload going again.
      await alice.getByTestId('file-card').filter({ hasText: 'big.bin' }).getByTestId('upload-progress-row').waitFor({ timeout: T });
      assert.equal(await bob.getByTestId('file-card').filter({ hasText: 'big.bin' }).count(), 0, 'not delivered before the upload is done');
      await slow(-1);
      await alice.getByTestId('conn-state').filter({ hasText: /connected|online/i }).waitFor({ timeout: T });
      const bigCard = bob.getByTestId('file-card').filter({ hasText: 'big.bin' });
      await bigCard.getByTestId('file-download').waitFor({ timeout: 90000 });
      await alice.getByTestId('file-card').filter({ hasText: 'big.bin' }).getByTestId('file-download').waitFor({ timeout: T });
      await say(alice, 'that was all');
      await msg(bob, 'that was all').waitFor({ timeout: T });
      assert.equal(await bigCard.count(), 1, 'delivered once');
      // Seqs are contiguous: a second copy of the file under another client id would push this one to 6.
      assert.equal(await msg(bob, 'that was all').getAttribute('data-seq'), '5');
      // A fresh look at bob's history from the relay: once there too.
      await bob.reload();
      await msg(bob, 'that was all').waitFor({ timeout: T });
      assert.equal(await bob.getByTestId('file-card').filter({ hasText: 'big.bin' }).count(), 1, 'stored once');
      const [dl2] = await Promise.all([bob.waitForEvent('download', { timeout: T }), bob.getByTestId('file-card').filter({ hasText: 'big.bin' }).getByTestId('file-download').click()]);
      assert.ok(readFileSync(await dl2.path()).equals(big), 'the resumed upload has the whole file');
      await shot(bob, 'web-chat-files.png');
    });
  } finally {
    await Promise.all([ca.close(), cb.close()]);
  }
});
