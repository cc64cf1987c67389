// Read receipts on own messages. One-to-one: ✓ once the relay has the
// message, ✓✓ once the peer's read cursor (Conversation.peerReadSeq, pushed
// by the relay) reaches it. Groups: "read by N" under the newest own
// messages, asked with readReceipts() — receipts in groups are asked for,
// not pushed — when the group opens, when something happens in it, and
// every few seconds while it is open; a click lists who read it and who not.
import type { Conversation, Message, ParleyClient, ReadReceipts } from '@parley-im/sdk';
import { h } from './dom';
import { codeText } from './message-actions';

/** How many of the newest own messages of an open group show "read by N". */
const TRACKED = 10;
/** How often the open group's receipts are asked again while the page is visible. */
const REFRESH_MS = 4000;

const SVG = 'http://www.w3.org/2000/svg';

/** ✓ or ✓✓ as an inline icon (the double check of read messages). */
export function checks(read: boolean): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'icon tiny');
  svg.setAttribute('viewBox', read ? '0 0 28 24' : '0 0 24 24');
  svg.setAttribute('width', read ? '17' : '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  const paths = read ? ['M3 12.5l4.5 4.5L17 7.5', 'M11.5 16l1 1L22 7.5'] : ['M5 12.5l4.5 4.5L19 7.5'];
  for (const d of paths) {
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

/** The status mark of an own sent message in a one-to-one conversation. */
export function p2pMark(m: Message, cv: Conversation | undefined): HTMLElement {
  const read = !!cv && cv.type === 'p2p' && m.seq > 0 && m.seq <= (cv.peerReadSeq || 0);
  return h(
    'span',
    { class: `st ${read ? 'st-read' : 'st-sent'}`, title: read ? 'Read' : 'Sent', 'aria-label': read ? 'Read' : 'Sent', 'data-testid': 'read-mark', 'data-read': read ? '1' : '0' },
    checks(read),
  );
}

/** Receipts keeps the "read by" answers of the open group. */
export class Receipts {
  private byId = new Map<string, ReadReceipts>();
  private timer = 0;
  private inflight = false;

  constructor(
    private readonly client: ParleyClient,
    /** The newest own sent messages of the open conversation, when it is a group. */
    private readonly tracked: () => { conv: string; messages: Message[] } | null,
    private readonly changed: () => void,
  ) {}

  /** The answer for a message, when one came. */
  get(m: Message): ReadReceipts | undefined {
    return this.byId.get(m.id);
  }

  /** A signature of a message's receipt, for the thread's keyed render. */
  sig(m: Message): string {
    const r = this.byId.get(m.id);
    return r ? `${r.read.length}/${r.unread.length}` : '';
  }

  /** Asks again soon (the group opened, a message arrived, the connection came back) and keeps asking while the group is open. */
  refresh(): void {
    const t = this.tracked();
    clearTimeout(this.timer);
    if (!t) return;
    this.timer = window.setTimeout(() => void this.ask(), 50);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async ask(): Promise<void> {
    const t = this.tracked();
    if (!t) return;
    if (this.inflight) {
      this.timer = window.setTimeout(() => void this.ask(), 200);
      return;
    }
    if (document.visibilityState === 'visible' && this.client.state === 'connected') {
      this.inflight = true;
      let dirty = false;
      try {
        // A message everyone has read stays so: it is not asked again.
        const newest = t.messages
          .filter((m) => m.seq > 0)
          .slice(-TRACKED)
          .filter((m) => (this.byId.get(m.id)?.unread.length ?? 1) > 0);
        const answers = await Promise.all(newest.map((m) => this.client.readReceipts(t.conv, m.seq).then((r) => [m.id, r] as const, () => null)));
        for (const a of answers) {
          if (!a) continue;
          const old = this.byId.get(a[0]);
          if (!old || old.read.length !== a[1].read.length || old.unread.length !== a[1].unread.length) dirty = true;
          this.byId.set(a[0], a[1]);
        }
      } finally {
        this.inflight = false;
      }
      if (dirty) this.changed();
    }
    if (this.tracked()?.conv === t.conv) this.timer = window.setTimeout(() => void this.ask(), REFRESH_MS);
  }

  /** "read by N" under an own group message; a click lists the readers. */
  label(m: Message, convId: string): HTMLElement | null {
    const r = this.byId.get(m.id);
    if (!r) return null;
    return h(
      'button',
      {
        class: 'read-by link',
        type: 'button',
        'data-testid': 'read-by',
        'data-read': r.read.length,
        title: 'Who read it',
        onclick: () => void this.show(m, convId),
      },
      r.read.length === 0 ? 'unread' : `read by ${r.read.length}${r.unread.length === 0 ? ' (all)' : ''}`,
    );
  }

  /** A dialog: who read the message, who not yet (asked again, fresh). */
  private async show(m: Message, convId: string): Promise<void> {
    let r = this.byId.get(m.id);
    let error = '';
    try {
      r = await this.client.readReceipts(convId, m.seq);
      this.byId.set(m.id, r);
    } catch (err) {
      error = codeText(err);
    }
    const list = (title: string, users: string[], testid: string) =>
      h('section', null, h('h3', null, `${title} · ${users.length}`), h('ul', { class: 'user-list', 'data-testid': testid }, users.length ? users.map((u) => h('li', null, u)) : h('li', { class: 'muted' }, 'nobody')));
    const dialog = h('dialog', { class: 'dialog receipts-dialog', 'aria-label': 'Read by', 'data-testid': 'receipts-dialog' });
    dialog.append(
      h(
        'form',
        { method: 'dialog' },
        h('header', null, h('h2', null, 'Message read by')),
        error ? h('p', { class: 'form-error', role: 'alert' }, `Could not ask the relay: ${error}`) : null,
        r ? list('Read', r.read, 'receipts-read') : null,
        r ? list('Not yet', r.unread, 'receipts-unread') : null,
        h('footer', null, h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'receipts-close' }, 'Close')),
      ),
    );
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    this.changed();
  }
}
