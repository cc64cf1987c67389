// Images and files in the chat. The attach button picks files; each goes
// out with send({ type: 'image' | 'file', file }) and shows a progress bar
// while its bytes go up (the SDK keeps the file until the message is
// acknowledged, so a reload resumes the upload). Received images are
// fetched with download() once, kept as blob: URLs for the page's life and
// revoked when the chat closes; files show as a card with a download button.
import type { Message, ParleyClient } from '@parley-im/sdk';
import { h } from './dom';
import { formatBytes } from './format';
import { codeText } from './message-actions';

/** The largest image shown inline before it is asked for; bigger ones wait for a click. */
const AUTO_IMAGE_BYTES = 20 << 20;

/** What the thread needs to re-render when an upload moves or an image arrives. */
export interface AttachmentHost {
  client: ParleyClient;
  changed(): void;
  toast(text: string): void;
}

/** The attach button and its hidden file input; picked files go to `send`. */
export function attachButton(send: (files: File[]) => void): HTMLElement {
  const input = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'attach-input', tabindex: -1 });
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    if (files.length) send(files);
  });
  return h(
    'span',
    { class: 'attach' },
    input,
    h(
      'button',
      { class: 'attach-btn', type: 'button', title: 'Attach an image or a file', 'aria-label': 'Attach', 'data-testid': 'attach', onclick: () => input.click() },
      paperclip(),
    ),
  );
}

/** A paperclip icon (24×24, stroke currentColor, like dom.ts's icons). */
function paperclip(): SVGSVGElement {
  const t = document.createElement('template');
  t.innerHTML =
    '<svg class="icon" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" stroke-width="1.8" ' +
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.4 3.4 0 0 1 4.8 4.8l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8"/></svg>';
  return t.content.firstElementChild as SVGSVGElement;
}

export class Attachments {
  /** Upload progress by the message's clientId: [sent, total]. */
  private progress = new Map<string, [number, number]>();
  /** blob: URLs by message key (clientId of own pending files, id of uploaded ones). */
  private urls = new Map<string, string>();
  private loading = new Map<string, Promise<void>>();
  private errors = new Map<string, string>();
  private closed = false;

  constructor(private readonly host: AttachmentHost) {}

  /** Sends one file to conv: an image message (with its size in pixels) or a file message. */
  async send(conv: string, file: File): Promise<void> {
    const image = /^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(file.type);
    let width: number | undefined, height: number | undefined;
    if (image) {
      try {
        const bmp = await createImageBitmap(file);
        width = bmp.width;
        height = bmp.height;
        bmp.close();
      } catch {
        /* not decodable here: sent as an image without its size */
      }
    }
    const clientId = `att-${crypto.randomUUID()}`;
    // The own preview shows the local file at once, before the upload is done.
    if (image) this.urls.set(clientId, URL.createObjectURL(file));
    this.progress.set(clientId, [0, file.size]);
    let last = -1;
    try {
      await this.host.client.send(
        conv,
        { type: image ? 'image' : 'file', file, name: file.name, mime: file.type || undefined, width, height, clientId },
        {
          onProgress: (sent, total) => {
            this.progress.set(clientId, [sent, total]);
            const pct = total ? Math.floor((sent / total) * 100) : 0;
            if (pct !== last) {
              last = pct;
              this.host.changed();
            }
          },
        },
      );
    } catch (err) {
      // A refusal by the relay shows on the message (failed, with its
      // code); one before it was queued has no message, so a toast.
      const code = (err as { code?: number }).code ?? 0;
      if (!(code >= 4200 && code < 4900)) this.host.toast(`Could not send ${file.name}: ${codeText(err)}`);
    } finally {
      this.progress.delete(clientId);
      this.host.changed();
    }
  }

  /** A signature of what the attachment part of m shows, for the keyed render. */
  sig(m: Message): string {
    if (!m.attachment) return '';
    const p = this.progress.get(m.clientId);
    const key = this.key(m);
    return [m.attachment.id, p ? Math.floor((p[0] / (p[1] || 1)) * 100) : '', this.urls.has(key) || this.urls.has(m.clientId), this.errors.get(key) ?? ''].join(',');
  }

  private key(m: Message): string {
    return m.attachment?.id ? `id:${m.attachment.id}` : m.clientId;
  }

  /** The attachment part of a message bubble: preview, card, progress. */
  render(m: Message): HTMLElement | null {
    const a = m.attachment;
    if (!a) return null;
    const uploading = !a.id && m.status !== 'failed';
    const p = this.progress.get(m.clientId);
    const bar = uploading
      ? h(
          'div',
          { class: 'upload', 'data-testid': 'upload-progress-row' },
          p
            ? h('progress', { 'data-testid': 'upload-progress', max: p[1] || 1, value: p[0] })
            : h('progress', { 'data-testid': 'upload-progress' }), // resumed after a reload: no byte count
          h('span', { class: 'upload-text' }, p ? `${formatBytes(p[0])} of ${formatBytes(p[1])}` : 'Uploading…'),
        )
      : null;
    const key = this.key(m);
    const err = this.errors.get(key);
    if (m.type === 'image') {
      const url = this.urls.get(key) ?? this.urls.get(m.clientId);
      if (!url && a.id && !err && a.size <= AUTO_IMAGE_BYTES) void this.fetch(m);
      const ratio = a.width && a.height ? `aspect-ratio:${a.width}/${a.height};` : '';
      const w = a.width ? `width:min(${a.width}px, 100%);` : '';
      return h(
        'div',
        { class: 'media' },
        url
          ? h('img', { class: 'image-preview', 'data-testid': 'image-preview', src: url, alt: a.name, style: `${ratio}${w}` })
          : h(
              'div',
              { class: 'image-placeholder', style: `${ratio}${w}` },
              err
                ? h('span', { class: 'attachment-error', 'data-testid': 'attachment-error' }, `Could not load the image: ${err} `,
                    h('button', { class: 'link', type: 'button', onclick: () => { this.errors.delete(key); void this.fetch(m); } }, 'Retry'))
                : a.id && a.size > AUTO_IMAGE_BYTES
                  ? h('button', { class: 'link', type: 'button', onclick: () => void this.fetch(m) }, `Load image (${formatBytes(a.size)})`)
                  : h('span', { class: 'spinner', 'aria-label': 'Loading' }),
            ),
        bar,
      );
    }
    return h(
      'div',
      { class: 'file-card', 'data-testid': 'file-card' },
      h('span', { class: 'file-icon', 'aria-hidden': 'true' }, (a.name.split('.').pop() ?? '').slice(0, 4).toUpperCase() || 'FILE'),
      h(
        'div',
        { class: 'file-info' },
        h('span', { class: 'file-name', 'data-testid': 'file-name', title: a.name }, a.name),
        h('span', { class: 'file-size' }, formatBytes(a.size)),
        bar,
        err ? h('span', { class: 'attachment-error', 'data-testid': 'attachment-error' }, err) : null,
      ),
      a.id
        ? h('button', { class: 'icon-btn file-download', type: 'button', title: 'Download', 'aria-label': `Download ${a.name}`, 'data-testid': 'file-download', onclick: () => void this.save(m) }, '⬇')
        : null,
    );
  }

  /** Fetches an image once and keeps its blob: URL. */
  private fetch(m: Message): Promise<void> {
    const key = this.key(m);
    let p = this.loading.get(key);
    if (p) return p;
    p = this.host.client
      .download(m)
      .then((bytes) => {
        if (this.closed) return;
        this.urls.set(key, URL.createObjectURL(new Blob([bytes as BlobPart], { type: m.attachment?.mime || 'application/octet-stream' })));
      })
      .catch((err) => {
        if (!this.closed) this.errors.set(key, codeText(err));
      })
      .finally(() => {
        this.loading.delete(key);
        this.host.changed();
      });
    this.loading.set(key, p);
    return p;
  }

  /** Downloads a file and hands it to the browser as a download with its name. */
  private async save(m: Message): Promise<void> {
    const key = this.key(m);
    try {
      const bytes = await this.host.client.download(m);
      const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: m.attachment?.mime || 'application/octet-stream' }));
      const a = h('a', { href: url, download: m.attachment?.name || 'file', hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      if (this.errors.delete(key)) this.host.changed();
    } catch (err) {
      this.errors.set(key, `Could not download: ${codeText(err)}`);
      this.host.changed();
    }
  }

  /** Forgets every URL (the cache was reset, or the chat closes). */
  clear(): void {
    for (const u of this.urls.values()) URL.revokeObjectURL(u);
    this.urls.clear();
    this.errors.clear();
  }

  close(): void {
    this.closed = true;
    this.clear();
  }
}
