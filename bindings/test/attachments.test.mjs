// Attachments end to end: the npm package in Node, a real relay process,
// uploads over HTTP through a TCP proxy the test can cut.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Codes, ParleyError } from '@parley-im/sdk';
import { clientFor, closeAll, eventually, startRelay } from './helpers.mjs';

/**
 * cuttingProxy forwards TCP to port; the first connection that carries more
 * than cutAfter bytes towards the relay is destroyed mid-stream.
 */
async function cuttingProxy(port, cutAfter) {
  const stats = { conns: 0, cuts: 0 };
  let armed = true;
  const sockets = new Set();
  const srv = net.createServer((client) => {
    stats.conns++;
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let up = 0;
    client.on('data', (d) => {
      up += d.length;
      if (armed && up > cutAfter) {
        armed = false;
        stats.cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      a.on('end', () => b.end());
      a.on('error', () => b.destroy());
      a.on('close', () => sockets.delete(a));
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}/v1/uploads`,
    stats,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

describe('attachments', () => {
  let relay;
  const open = [];
  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    await closeAll(open);
    await relay?.stop();
  });

  test('a 5 MiB file: progress, a cut mid-upload, delivered once, the peer downloads the same bytes, a stranger is refused', async () => {
    const proxy = await cuttingProxy(relay.port, 2 << 20);
    try {
      const alice = await clientFor(relay, 'alice', { uploadUrl: proxy.url }, open);
      const bob = await clientFor(relay, 'bob', {}, open);
      const carol = await clientFor(relay, 'carol', {}, open);
      await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
      const conv = alice.p2p('bob');
      const received = [];
      bob.on('message', (m) => received.push(m));
      const pending = [];
      alice.on('message', (m) => pending.push(m));

      const data = new Uint8Array(5 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 12)) & 0xff;
      const progress = [];
      const sent = await alice.send(conv, { type: 'file', file: data, name: 'report.pdf', mime: 'application/pdf', text: 'the report' }, {
        onProgress: (s, total) => progress.push([s, total]),
      });

      assert.equal(sent.status, 'sent');
      assert.equal(sent.type, 'file');
      assert.equal(sent.text, 'the report');
      assert.match(sent.attachment.id, /^[0-9a-f]{32}$/);
      assert.deepEqual({ ...sent.attachment, id: '' }, { id: '', name: 'report.pdf', size: data.length, mime: 'application/pdf' });
      // The message was announced pending, without an upload id, at once.
      assert.equal(pending[0].status, 'pending');
      assert.equal(pending[0].attachment.id, '');
      // The upload was cut once and started over.
      assert.equal(proxy.stats.cuts, 1, 'the proxy cut an upload');
      assert.ok(proxy.stats.conns >= 2, `upload connections: ${proxy.stats.conns}`);
      assert.ok(progress.length >= 10, `progress events: ${progress.length}`);
      assert.ok(progress.every(([, t]) => t === data.length), 'total is the file size');
      assert.deepEqual(progress.at(-1), [data.length, data.length], 'progress ends at the whole file');
      assert.ok(progress.some(([s], i) => i > 0 && s < progress[i - 1][0]), 'progress went back to the start after the cut');

      // Delivered exactly once, with the attachment.
      await eventually(() => received.some((m) => m.clientId === sent.clientId), 10000, 'bob receives the file');
      await new Promise((r) => setTimeout(r, 300));
      const copies = received.filter((m) => m.clientId === sent.clientId);
      assert.equal(copies.length, 1, 'delivered once');
      assert.deepEqual(copies[0].attachment, sent.attachment);
      const page = await bob.history(conv);
      assert.equal(page.messages.filter((m) => m.type === 'file').length, 1, 'one file message in history');

      const bytes = await bob.download(copies[0]);
      assert.equal(bytes.length, data.length);
      assert.ok(Buffer.from(bytes).equals(Buffer.from(data)), 'the peer downloads the same bytes');
      const own = await alice.download(sent);
      assert.equal(own.length, data.length, 'the uploader downloads it too');

      await assert.rejects(carol.download(copies[0]), (e) => e instanceof ParleyError && e.code === Codes.Forbidden, 'a non-member is refused');
      await assert.rejects(carol.download({ ...copies[0], conversationId: carol.p2p('alice') }), (e) => e.code === Codes.Forbidden, 'naming another conversation does not help');
    } finally {
      await proxy.close();
    }
  });

  test('a group attachment follows history visibility: a removed member keeps it, a member added later is refused', async () => {
    const [alice, bob, carol] = await Promise.all(['av-alice', 'av-bob', 'av-carol'].map((u) => clientFor(relay, u, {}, open)));
    await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
    const g = await alice.createGroup('Photos', ['av-bob']);
    const data = new Uint8Array(4096).map((_, i) => i & 0xff);
    const sent = await alice.send(g.id, { type: 'image', file: data, name: 'p.png', mime: 'image/png' });
    const seen = await eventually(async () => (await bob.messages(g.id)).find((m) => m.clientId === sent.clientId), 10000, 'bob has the image');
    await alice.removeMembers(g.id, ['av-bob']);
    await alice.addMembers(g.id, ['av-carol']);
    await eventually(async () => (await carol.conversation(g.id))?.role === 'member', 10000, 'carol joined');
    const removed = await bob.download(seen);
    assert.ok(Buffer.from(removed).equals(Buffer.from(data)), 'bob, removed, still downloads what he could read');
    await assert.rejects(carol.download({ ...sent }), (e) => e instanceof ParleyError && e.code === Codes.Forbidden, 'carol joined after it was sent');
    assert.deepEqual(await carol.messages(g.id).then((ms) => ms.filter((m) => m.type === 'image')), [], 'nor does she see the message');
  });

  test('a recalled attachment is deleted: downloading it afterwards answers AttachmentGone; one still carried by another message stays', async () => {
    const [alice, bob] = await Promise.all(['rc-alice', 'rc-bob'].map((u) => clientFor(relay, u, {}, open)));
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = alice.p2p('rc-bob');
    const data = new Uint8Array(2048).map((_, i) => (i * 3) & 0xff);
    const sent = await alice.send(conv, { type: 'file', file: data, name: 'notes.pdf', mime: 'application/pdf' });
    const seen = await eventually(async () => (await bob.messages(conv)).find((m) => m.clientId === sent.clientId), 10000, 'bob has the file');
    assert.ok(Buffer.from(await bob.download(seen)).equals(Buffer.from(data)), 'downloaded before the recall');
    await alice.recall(sent.id);
    await eventually(async () => (await bob.messages(conv)).find((m) => m.id === sent.id)?.recalled, 10000, 'bob sees the recall');
    await eventually(
      () => bob.download(seen).then(() => false, (e) => e instanceof ParleyError && e.code === Codes.AttachmentGone),
      10000,
      'bob is told the attachment is gone',
    );
    await assert.rejects(alice.download(sent), (e) => e instanceof ParleyError && e.code === Codes.AttachmentGone, 'the uploader too');
  });

  test('a disallowed type fails the message with the relay\'s code; a location is checked and delivered', async () => {
    const alice = await clientFor(relay, 'alice2', {}, open);
    const bob = await clientFor(relay, 'bob2', {}, open);
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = alice.p2p('bob2');
    await assert.rejects(
      alice.send(conv, { type: 'file', file: new Uint8Array([60, 104, 116, 109, 108, 62]), name: 'x.html', mime: 'text/html' }),
      (e) => e instanceof ParleyError && e.code === Codes.UploadType,
    );
    const failed = (await alice.messages(conv)).filter((m) => m.type === 'file');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].status, 'failed');
    assert.equal(failed[0].errorCode, Codes.UploadType);

    const got = new Promise((resolve) => bob.on('message', (m) => m.type === 'location' && resolve(m)));
    await alice.send(conv, { type: 'location', body: { lat: 52.52, lng: 13.405, title: 'Alexanderplatz' } });
    assert.deepEqual((await got).body, { lat: 52.52, lng: 13.405, title: 'Alexanderplatz' });
    await assert.rejects(alice.send(conv, { type: 'location', body: { lat: 91, lng: 0 } }), (e) => e.code === Codes.InvalidArgument || e.code === Codes.BadRequest);
  });
});
