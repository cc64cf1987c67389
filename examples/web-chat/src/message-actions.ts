// What a user does to one message: reply to it, edit it, recall it, delete
// it (for themselves, or for everyone as the sender or a group's admin),
// react to it; and mentions ("@bob") in the composer and in the text. Every
// action goes through the SDK; the `messageUpdate` event brings the result
// back, on every device, and the thread re-renders from it.
import { codeName, type Conversation, type Message, type ParleyClient } from '@parley-im/sdk';
import { h } from './dom';

/** The relay's default recall window (its --recall-window); a later recall is refused with 4231, shown as such. */
export const RECALL_WINDOW_MS = 2 * 60 * 1000;

/** The emoji offered for a reaction. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🎉'];

/** Words for a refused action, with the SDK's code: "4231 recall window passed". */
export function codeText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  if (typeof code === 'number') return `${code} ${codeName(code)}${msg ? `: ${msg.replace(/^parley: \d+ /, '')}` : ''}`;
  return msg;
}

/** What the composer does with its text: a new message, a reply, or an edit. */
export type ComposeMode = { kind: 'reply' | 'edit'; message: Message } | null;

export interface ActionHost {
  client: ParleyClient;
  me: string;
  conv(): Conversation | undefined;
  setMode(mode: ComposeMode): void;
  toast(text: string): void;
}

/** Sent, so the relay knows it (an id `conv#seq`), and not recalled: actions apply. */
function actionable(m: Message): boolean {
  return m.status === 'sent' && m.seq > 0 && !m.recalled;
}

/** The sender may recall within the window; a group's owner and admins any message at any time. */
export function canDeleteForEveryone(m: Message, me: string, cv: Conversation | undefined, now = Date.now()): boolean {
  const admin = cv?.type === 'group' && (cv.role === 'owner' || cv.role === 'admin');
  return admin || (m.sender === me && now - (m.createdAt || 0) < RECALL_WINDOW_MS);
}

/**
 * The "⋯" button beside a message and the menu it opens: the quick
 * reactions on top, then Reply, Edit, Recall, Delete for me, Delete for
 * everyone, as they apply to this message and this user.
 */
export function actionsButton(host: ActionHost, m: Message): HTMLElement | null {
  if (!actionable(m)) return null;
  const btn = h(
    'button',
    { class: 'msg-more', type: 'button', title: 'More', 'aria-label': 'Message actions', 'aria-haspopup': 'menu', 'data-testid': 'msg-actions' },
    '⋯',
  );
  btn.addEventListener('click', (e) => {
    e.stopPropagation();
    openMenu(host, m, btn);
  });
  return btn;
}

let openMenuEl: HTMLElement | null = null;

function closeMenu(): void {
  openMenuEl?.remove();
  openMenuEl = null;
}

function openMenu(host: ActionHost, m: Message, anchor: HTMLElement): void {
  const wasOpen = openMenuEl?.dataset.for === m.id;
  closeMenu();
  if (wasOpen) return;
  const { client, me } = host;
  const cv = host.conv();
  const own = m.sender === me;
  const act = (what: string, f: () => Promise<unknown>) => () => {
    closeMenu();
    f().catch((err) => host.toast(`Could not ${what}: ${codeText(err)}`));
  };
  const item = (label: string, testid: string, onclick: () => void, danger = false) =>
    h('button', { class: `menu-item${danger ? ' danger' : ''}`, type: 'button', role: 'menuitem', 'data-testid': testid, onclick }, label);
  const mine = new Set(Object.entries(m.reactions ?? {}).filter(([, users]) => users.includes(me)).map(([e]) => e));
  const menu = h(
    'div',
    { class: 'msg-menu', role: 'menu', 'data-testid': 'msg-menu', 'data-for': m.id },
    h(
      'div',
      { class: 'menu-emoji' },
      QUICK_REACTIONS.map((emoji) =>
        h(
          'button',
          {
            class: `emoji-btn${mine.has(emoji) ? ' on' : ''}`,
            type: 'button',
            'data-testid': 'react-emoji',
            'data-emoji': emoji,
            'aria-label': `React with ${emoji}`,
            onclick: act('react', () => (mine.has(emoji) ? client.unreact(m.id, emoji) : client.react(m.id, emoji))),
          },
          emoji,
        ),
      ),
    ),
    item('Reply', 'action-reply', () => {
      closeMenu();
      host.setMode({ kind: 'reply', message: m });
    }),
    own && m.type === 'text' ? item('Edit', 'action-edit', () => {
      closeMenu();
      host.setMode({ kind: 'edit', message: m });
    }) : null,
    own && Date.now() - (m.createdAt || 0) < RECALL_WINDOW_MS ? item('Recall', 'action-recall', act('recall', () => client.recall(m.id))) : null,
    item('Delete for me', 'action-delete-me', act('delete', () => client.deleteMessage(m.id))),
    // Own messages within the window have Recall, which is the same.
    canDeleteForEveryone(m, me, cv) && !(own && Date.now() - (m.createdAt || 0) < RECALL_WINDOW_MS)
      ? item('Delete for everyone', 'action-delete-all', act('delete', () => client.deleteMessage(m.id, { forEveryone: true })), true)
      : null,
  );
  anchor.closest('.msg-col')?.append(menu);
  openMenuEl = menu;
  // Open upwards when there is no room below in the thread.
  const box = menu.closest('.message-list')?.getBoundingClientRect();
  if (box && menu.getBoundingClientRect().bottom > box.bottom) menu.classList.add('up');
  const away = (e: Event) => {
    if (menu.contains(e.target as Node)) return;
    closeMenu();
    document.removeEventListener('click', away, true);
    document.removeEventListener('keydown', esc, true);
  };
  const esc = (e: KeyboardEvent) => {
    if (e.key === 'Escape') away(e);
  };
  setTimeout(() => {
    document.addEventListener('click', away, true);
    document.addEventListener('keydown', esc, true);
  });
}

/** The reaction chips under a message: emoji and count, mine highlighted; a click toggles mine, the tooltip names who. */
export function reactionChips(client: ParleyClient, me: string, m: Message, toast: (t: string) => void): HTMLElement | null {
  const entries = Object.entries(m.reactions ?? {}).filter(([, users]) => users.length > 0);
  if (entries.length === 0 || m.recalled) return null;
  return h(
    'div',
    { class: 'reactions', 'data-testid': 'reactions' },
    entries.map(([emoji, users]) => {
      const mine = users.includes(me);
      return h(
        'button',
        {
          class: `reaction${mine ? ' mine' : ''}`,
          type: 'button',
          'data-testid': 'reaction',
          'data-emoji': emoji,
          'data-count': users.length,
          'aria-pressed': mine ? 'true' : 'false',
          title: users.map((u) => (u === me ? 'you' : u)).join(', '),
          onclick: () =>
            (mine ? client.unreact(m.id, emoji) : client.react(m.id, emoji)).catch((err) => toast(`Could not react: ${codeText(err)}`)),
        },
        emoji,
        h('span', { class: 'count' }, String(users.length)),
      );
    }),
  );
}

/** A one-line excerpt of a message, for quotes and the compose bar. */
export function excerpt(m: Message | undefined): string {
  if (!m) return 'Original message not loaded';
  if (m.hidden) return 'Deleted message';
  if (m.recalled) return 'Recalled message';
  const t = (m.text ?? '').replace(/\s+/g, ' ').trim();
  if (m.attachment) return `${m.type === 'image' ? '🖼 ' : '📎 '}${m.attachment.name}${t ? ` · ${t}` : ''}`;
  if (t) return t.length > 90 ? `${t.slice(0, 90)}…` : t;
  return `[${m.type} message]`;
}

/** The quoted original above a reply's text; a click scrolls to it. */
export function replyQuote(original: Message | undefined, onJump: () => void): HTMLElement {
  return h(
    'button',
    { class: 'quote', type: 'button', 'data-testid': 'reply-quote', title: 'Show the original message', onclick: onJump },
    h('span', { class: 'quote-sender' }, original?.sender ?? ''),
    h('span', { class: 'quote-text' }, excerpt(original)),
  );
}

/** The bar above the composer while replying or editing; × cancels. */
export function composeBar(mode: ComposeMode, me: string, cancel: () => void): HTMLElement | null {
  if (!mode) return null;
  const m = mode.message;
  const label = mode.kind === 'edit' ? 'Editing' : `Replying to ${m.sender === me ? 'yourself' : m.sender}`;
  return h(
    'div',
    { class: `compose-bar ${mode.kind}`, 'data-testid': mode.kind === 'edit' ? 'edit-bar' : 'reply-bar' },
    h('div', { class: 'compose-bar-body' }, h('strong', null, label), h('span', null, excerpt(m))),
    h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Cancel', 'data-testid': 'compose-cancel', onclick: cancel }, '×'),
  );
}

// ------------------------------------------------------------------ mentions

const MENTION_RE = /(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.@-]{1,64})/g;

/**
 * The users a text mentions, among the group's members: `'all'` for
 * "@all", else the members named with "@name" (the sender excluded).
 */
export function mentionsIn(text: string, members: string[], me: string): string[] | 'all' | undefined {
  const found = new Set<string>();
  for (const m of text.matchAll(MENTION_RE)) {
    const name = m[2].replace(/[.@-]+$/, '');
    if (name === 'all') return 'all';
    if (name !== me && members.includes(name)) found.add(name);
  }
  return found.size ? [...found] : undefined;
}

/**
 * Text nodes with the message's mentions highlighted: "@bob" when bob is
 * in m.mentions, "@all" when it mentions everyone; the reader's own name
 * stands out more. Other nodes (links) come from `rest`.
 */
export function highlightMentions(text: string, m: Message, me: string, rest: (s: string) => (Node | string)[]): (Node | string)[] {
  const ms = m.mentions;
  if (!ms || (Array.isArray(ms) && ms.length === 0)) return rest(text);
  const out: (Node | string)[] = [];
  let last = 0;
  for (const x of text.matchAll(MENTION_RE)) {
    const name = x[2].replace(/[.@-]+$/, '');
    const hit = name === 'all' ? ms === 'all' : Array.isArray(ms) && ms.includes(name);
    if (!hit) continue;
    const at = x.index! + x[1].length;
    if (at > last) out.push(...rest(text.slice(last, at)));
    const me_ = name === me || name === 'all';
    out.push(h('span', { class: `mention${me_ ? ' me' : ''}`, 'data-testid': 'mention' }, `@${name}`));
    last = at + 1 + name.length;
  }
  if (last < text.length) out.push(...rest(text.slice(last)));
  return out;
}

/**
 * MentionPicker offers a group's members while the word at the composer's
 * cursor starts with "@"; Enter/Tab or a click inserts "@name ".
 */
export class MentionPicker {
  readonly el: HTMLElement;
  private items: string[] = [];
  private active = 0;
  private start = -1;

  constructor(
    private readonly input: HTMLTextAreaElement,
    private readonly members: () => string[],
    private readonly changed: () => void,
  ) {
    this.el = h('ul', { class: 'mention-picker', 'data-testid': 'mention-picker', role: 'listbox', hidden: true });
    input.addEventListener('input', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => this.hide(), 150));
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  /** Handles the picker's keys before the composer's; true when it used the key. */
  key(e: KeyboardEvent): boolean {
    if (!this.open) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : this.items.length - 1)) % this.items.length;
      this.render();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      this.pick(this.items[this.active]);
    } else if (e.key === 'Escape') {
      this.hide();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  hide(): void {
    this.el.hidden = true;
    this.start = -1;
  }

  private update(): void {
    const v = this.input.value;
    const pos = this.input.selectionStart ?? v.length;
    const m = /(^|[\s(])@([A-Za-z0-9_.@-]{0,64})$/.exec(v.slice(0, pos));
    const all = this.members();
    if (!m || all.length === 0) return this.hide();
    const q = m[2].toLowerCase();
    this.start = pos - m[2].length - 1;
    this.items = ['all', ...all].filter((u) => u.toLowerCase().startsWith(q)).slice(0, 8);
    if (this.items.length === 0) return this.hide();
    this.active = Math.min(this.active, this.items.length - 1);
    this.el.hidden = false;
    this.render();
  }

  private render(): void {
    this.el.replaceChildren(
      ...this.items.map((u, i) =>
        h(
          'li',
          {
            class: `mention-option${i === this.active ? ' active' : ''}`,
            role: 'option',
            'data-testid': 'mention-option',
            'data-user': u,
            'aria-selected': i === this.active ? 'true' : 'false',
            onmousedown: (e: Event) => {
              e.preventDefault(); // keep the composer's focus
              this.pick(u);
            },
          },
          u === 'all' ? '@all (everyone)' : `@${u}`,
        ),
      ),
    );
  }

  private pick(user: string | undefined): void {
    if (!user || this.start < 0) return;
    const v = this.input.value;
    const pos = this.input.selectionStart ?? v.length;
    const ins = `@${user} `;
    this.input.value = v.slice(0, this.start) + ins + v.slice(pos);
    const at = this.start + ins.length;
    this.input.setSelectionRange(at, at);
    this.hide();
    this.changed();
  }
}
