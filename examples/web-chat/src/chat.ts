// The signed-in app: conversation list on the left, the open conversation on
// the right. State lives here and is changed only by the SDK's events and by
// what the SDK's calls return; render functions turn it into DOM.
import { codeName, type ConnectionState, type Conversation, type Message, type ParleyClient } from '@parley-im/sdk';
import { Calls, callRecordText } from './calls';
import { h, icon } from './dom';
import { convActions, convBadges, draftSaver, pinnedFirst, unreadTotal } from './settings';

import { kickedNotice, openDevices } from './devices';
import { PresenceView } from './presence';
import { groupPane, membersButton, openJoinGroup, systemText } from './members';
import { avatarColor, clockTime, dayKey, dayLabel, initials, listTime, NAME_RE } from './format';
import {
  actionsButton,
  codeText,
  composeBar,
  excerpt,
  highlightMentions,
  MentionPicker,
  mentionsIn,
  reactionChips,
  replyQuote,
  type ComposeMode,
} from './message-actions';
import { attachButton, Attachments } from './attachments-ui';
import { p2pMark, Receipts } from './receipts';
import {
  convMembers,
  convTitle,
  messageKey,
  messageTime,
  newThread,
  oldestSeq,
  peerOf,
  previewText,
  sortedMessages,
  upsert,
  type Thread,
} from './model';

const PAGE = 50;
const GROUP_GAP_MS = 5 * 60 * 1000;

const STATE_LABEL: Record<string, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  connected: 'Online',
  reconnecting: 'Reconnecting…',
  disconnected: 'Offline',
  closed: 'Signed out',
};

export interface ChatOptions {
  client: ParleyClient;
  me: string;
  onSignOut(notice?: string): void;
}

/**
 * Words for a failed call. Every SDK failure is a ParleyError with a numeric
 * code; its message reads "parley: 4203 forbidden: not a member of …".
 */
function errorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 4901) return 'this needs a connection; you are offline';
  if (code === 4203) return 'you are not a member of this conversation';
  if (code === 4213) return 'the message is too long';
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^parley: \d+ /, '');
}

export class ChatApp {
  readonly root: HTMLElement;
  private readonly client: ParleyClient;
  private readonly me: string;
  private readonly onSignOut: ChatOptions['onSignOut'];

  private conn: ConnectionState = 'connecting';
  private connReason = '';
  private networkUp = navigator.onLine;
  private convs = new Map<string, Conversation>();
  /** Conversations opened locally before they have a message (new chat). */
  private drafts = new Map<string, { conv: Conversation; at: number }>();
  /** The newest own message not yet acknowledged, per conversation (list preview). */
  private pendingLast = new Map<string, Message>();
  private threads = new Map<string, Thread>();
  private selected: string | null = null;
  private composerDrafts = new Map<string, string>();
  /** Keeps the composer's text in the SDK's cache as the conversation's draft (settings.ts). */
  private saveDraft: ReturnType<typeof draftSaver>;
  private cleanups: (() => void)[] = [];
  /** The call buttons, the incoming-call dialog and the call view (calls.ts). */
  private calls!: Calls;
  private dirty = { list: false, pane: false, thread: false, conn: false };
  private flushTimer = 0;
  private forceBottom = false;
  private closed = false;
  private pushedEntry = false;

  // DOM parts kept across renders.
  private shell!: HTMLElement;
  private connEl!: HTMLElement;
  private listEl!: HTMLElement;
  private paneEl!: HTMLElement;
  private paneHead!: HTMLElement;
  private msgList!: HTMLElement;
  private msgInner!: HTMLElement;
  private loader!: HTMLElement;
  private composer!: HTMLTextAreaElement;
  /** "bob is typing…" under the thread. */
  private typingEl!: HTMLElement;
  /** Who types where: conversation → user → the timer that ends showing it. */
  private typers = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();
  private sendBtn!: HTMLButtonElement;
  private toastEl!: HTMLElement;
  private rowEls = new Map<string, { el: HTMLElement; sig: string }>();
  private renderedConv: string | null = null;
  /** Presence dots, nicknames and pictures (presence.ts). */
  private presence!: PresenceView;
  /** Replying to or editing a message (message-actions.ts); null: a new message. */
  private mode: ComposeMode = null;
  /** The composer's text before an edit took it over, given back after. */
  private draftBeforeEdit = '';
  /** Messages replied to that are not in the loaded thread (older), by id; null while asked for. */
  private originals = new Map<string, Message | null>();
  private composeBarEl!: HTMLElement;
  private mentionPicker!: MentionPicker;
  /** "read by N" of the open group (receipts.ts). */
  private receipts!: Receipts;
  /** Uploads, previews and file cards (attachments-ui.ts). */
  private attachments!: Attachments;

  constructor(opts: ChatOptions) {
    this.client = opts.client;
    this.saveDraft = draftSaver(this.client);
    this.me = opts.me;
    this.onSignOut = opts.onSignOut;
    this.root = this.build();
  }

  // ---------------------------------------------------------------- start-up

  /** Subscribes to events, shows the cached conversations, then connects. */
  async start(): Promise<void> {
    const c = this.client;
    this.calls = new Calls(c, this.root, (text) => this.toast(text));
    this.presence = new PresenceView(c, this.me, () => this.mark('list', 'pane'));
    this.receipts = new Receipts(c, () => this.ownGroupMessages(), () => this.mark('thread'));
    this.attachments = new Attachments({ client: c, changed: () => this.mark('thread'), toast: (t) => this.toast(t) });
    this.cleanups.push(
      () => this.receipts.stop(),
      () => this.attachments.close(),
      this.presence.start(),
      this.calls.start(),
      c.on('state', (e) => {
        this.conn = e.state;
        this.connReason = e.reason ?? '';
        this.mark('conn');
        if (e.state === 'connected') {
          for (const [id, m] of this.originals) if (m === null) this.originals.delete(id);
          this.markReadIfVisible();
          this.receipts.refresh();
        }
      }),
      c.on('message', (m) => {
        // Their message is what they were typing: stop showing it at once.
        if (m.sender && m.sender !== this.me) this.stopTyping(m.conversationId, m.sender);
        this.onMessage(m);
      }),
      c.on('messageUpdate', (m) => this.onMessage(m)),
      c.on('conversation', (cv) => this.onConversation(cv)),
      c.on('typing', (e) => this.onTyping(e.conversationId, e.user)),
      // The relay's store was reset (or another user signed in on this
      // browser): the SDK dropped its cache and rebuilds it through events.
      c.on('reset', () => {
        this.convs.clear();
        this.threads.clear();
        this.pendingLast.clear();
        this.originals.clear();
        this.attachments.clear();
        this.renderedConv = null;
        this.mark('list', 'pane', 'thread');
        if (this.selected) void this.loadOlder(this.selected);
      }),
      c.on('kicked', (e) => {
        this.onSignOut(kickedNotice(e)); // devices.ts
      }),
    );
    const onOnline = () => {
      this.networkUp = true;
      this.mark('conn');
      // Dial now instead of waiting for the backoff timer (the SDK does this
      // on 'online' by itself too; a second call is harmless).
      c.reconnect();
    };
    const onOffline = () => {
      this.networkUp = false;
      this.mark('conn');
    };
    const onVisible = () => this.markReadIfVisible();
    const onHash = () => this.route();
    window.addEventListener('hashchange', onHash);
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    this.cleanups.push(() => {
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
      window.removeEventListener('hashchange', onHash);
    });

    // The list comes from the local cache, before the connection is up. The
    // browser's cache is shared by whoever signs in on it: when it holds
    // another user's conversations, show nothing until the relay welcomed
    // this user (the SDK then resets the cache).
    try {
      if (!c.userId || c.userId === this.me) {
        for (const cv of await c.conversations()) this.convs.set(cv.id, cv);
      }
    } catch (err) {
      this.toast(`Could not read the local cache: ${errorText(err)}`);
    }
    this.mark('list');
    this.flush();
    this.route();

    c.connect().then(
      () => this.markReadIfVisible(),
      (err) => {
        if (this.closed) return;
        this.conn = 'disconnected';
        this.connReason = errorText(err);
        this.mark('conn');
        this.toast(`Cannot connect: ${errorText(err)}`);
      },
    );
  }

  /** Unsubscribes everything and closes the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.flushTimer);
    for (const f of this.cleanups.splice(0)) f();
    await this.client.close().catch(() => {});
  }

  // ---------------------------------------------------------------- events

  /** Shows a member typing for 5 s after their last typing event: nothing says they stopped. */
  private onTyping(convId: string, user: string): void {
    let users = this.typers.get(convId);
    if (!users) this.typers.set(convId, (users = new Map()));
    clearTimeout(users.get(user));
    users.set(user, setTimeout(() => {
      users.delete(user);
      if (convId === this.selected) this.renderTyping();
    }, 5000));
    if (convId === this.selected) this.renderTyping();
  }

  private stopTyping(convId: string, user: string): void {
    const users = this.typers.get(convId);
    if (!users?.has(user)) return;
    clearTimeout(users.get(user));
    users.delete(user);
    if (convId === this.selected) this.renderTyping();
  }

  private renderTyping(): void {
    const users = [...(this.selected ? this.typers.get(this.selected)?.keys() ?? [] : [])];
    this.typingEl.textContent =
      users.length === 0 ? '' : users.length === 1 ? `${users[0]} is typing…` : `${users.slice(0, -1).join(', ')} and ${users[users.length - 1]} are typing…`;
  }

  private onMessage(m: Message): void {
    const convId = m.conversationId;
    // A reply's quote follows its original. One deleted for me is gone from
    // the list and from every page the SDK returns, so this event is the
    // only word of it: kept, the quote says it was deleted.
    if (m.hidden || this.originals.get(m.id)) this.originals.set(m.id, m);
    const t = this.threads.get(convId);
    if (t) {
      // Deleted for me (on this or another of my devices): gone from the list.
      if (m.hidden) t.byKey.delete(messageKey(m, this.me));
      else upsert(t, m, this.me);
      if (convId === this.selected) {
        this.mark('thread');
        if (m.status === 'sent' && m.sender !== this.me) this.markReadIfVisible();
        if (m.status === 'sent') this.receipts.refresh();
        if (this.mode && this.mode.message.id === m.id) {
          // The message replied to or edited changed (recalled, deleted): follow it.
          if (m.hidden || m.recalled) this.setMode(null);
          else this.mode = { ...this.mode, message: m };
        }
      }
    }
    const own = (m.sender || this.me) === this.me;
    if (own && m.status !== 'sent') this.pendingLast.set(convId, m);
    else if (own && this.pendingLast.get(convId)?.clientId === m.clientId) this.pendingLast.delete(convId);
    this.mark('list');
  }

  private onConversation(cv: Conversation): void {
    this.convs.set(cv.id, cv);
    this.drafts.delete(cv.id);
    this.mark('list');
    if (cv.id === this.selected) {
      this.mark('pane', 'thread'); // the peer's read cursor moves the ✓✓
      if (cv.unread > 0) this.markReadIfVisible();
    }
  }

  /** markRead for the open conversation while the page is visible. */
  private markReadIfVisible(): void {
    const id = this.selected;
    if (!id || document.visibilityState !== 'visible') return;
    if (this.shell.classList.contains('show-list')) return; // phone layout, list on top
    const cv = this.convs.get(id);
    if (!cv || cv.unread <= 0) return;
    this.client.markRead(id).catch(() => {
      /* applies locally; the SDK sends it when connected */
    });
  }

  // ---------------------------------------------------------------- actions

  /**
   * Opens a conversation (null: back to the list). The open conversation is
   * in the URL (#p:alice:bob), so a reload or a link opens it again and the
   * browser's Back button returns to the list on a phone.
   */
  private select(id: string | null, updateUrl = true): void {
    if (id !== this.selected) this.setMode(null); // an edit in progress gives the draft back first
    if (this.selected && this.composer) this.composerDrafts.set(this.selected, this.composer.value);
    if (this.selected && this.composer) this.saveDraft(this.selected, this.composer.value, true);
    const from = this.selected;
    this.selected = id;
    if (updateUrl && id !== from) {
      const url = id ? `#${id}` : location.pathname + location.search;
      if (id && !from) {
        history.pushState(null, '', url);
        this.pushedEntry = true;
      } else {
        history.replaceState(null, '', url);
        if (!id) this.pushedEntry = false;
      }
    }
    this.shell.classList.toggle('show-list', id === null);
    this.forceBottom = true;
    this.mark('list', 'pane', 'thread');
    this.flush();
    if (!id) return;
    this.composer.value = this.composerDrafts.get(id) ?? this.convs.get(id)?.draft ?? '';
    this.autoGrow();
    this.renderTyping();
    if (matchMedia('(pointer: fine)').matches) this.composer.focus();
    const t = this.thread(id);
    if (!t.started) void this.loadOlder(id);
    this.markReadIfVisible();
    this.receipts.refresh();
  }

  /** The newest own sent messages of the open conversation when it is a group: those that show "read by N". */
  private ownGroupMessages(): { conv: string; messages: Message[] } | null {
    const cv = this.selectedConv();
    if (!cv || cv.type === 'p2p' || this.closed) return null;
    const t = this.threads.get(cv.id);
    if (!t) return { conv: cv.id, messages: [] };
    const own = sortedMessages(t).filter((m) => m.sender === this.me && m.status === 'sent' && !m.recalled);
    return { conv: cv.id, messages: own };
  }

  /** Starts or ends replying to / editing a message: the bar above the composer. */
  private setMode(mode: ComposeMode): void {
    const was = this.mode;
    this.mode = mode;
    if (!this.composeBarEl) return;
    this.composeBarEl.replaceChildren(...[composeBar(mode, this.me, () => this.setMode(null))].filter((x): x is HTMLElement => !!x));
    if (mode?.kind === 'edit') {
      if (was?.kind !== 'edit') this.draftBeforeEdit = this.composer.value;
      this.composer.value = mode.message.text ?? '';
      this.autoGrow();
    } else if (was?.kind === 'edit') {
      this.composer.value = this.draftBeforeEdit;
      this.draftBeforeEdit = '';
      this.autoGrow();
    }
    if (mode) this.composer.focus();
  }

  /** Scrolls to a message of the open conversation by seq (loading older pages until it is there) and flashes it. */
  private async jumpTo(seq: number): Promise<void> {
    const id = this.selected;
    if (!id || !seq) return;
    for (let i = 0; i < 40; i++) {
      const el = this.msgInner.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`);
      if (el) {
        el.scrollIntoView({ block: 'center' });
        el.classList.remove('flash');
        void el.offsetWidth; // restart the animation
        el.classList.add('flash');
        return;
      }
      const t = this.thread(id);
      if (this.selected !== id || (!t.hasMore && !t.loading)) break;
      if (!t.loading) await this.loadOlder(id);
      else await new Promise((r) => setTimeout(r, 100));
      this.flush();
    }
    this.toast('The original message is no longer available.');
  }

  /** Sends the picked files one after another. */
  private sendFiles(files: File[]): void {
    const id = this.selected;
    if (!id) return;
    this.forceBottom = true;
    void (async () => {
      for (const f of files) await this.attachments.send(id, f);
    })();
  }

  /** The header's back arrow: pops the entry select() pushed, if there is one. */
  private back(): void {
    if (this.pushedEntry) {
      this.pushedEntry = false;
      history.back(); // hashchange → route()
    } else {
      this.select(null);
    }
  }

  /** Opens what the URL's fragment names, if it is a conversation this user can be in. */
  private route(): void {
    let id = '';
    try {
      id = decodeURIComponent(location.hash.slice(1));
    } catch {
      /* a malformed fragment is no conversation */
    }
    if (id === (this.selected ?? '')) return;
    if (id && !this.convs.has(id) && !this.drafts.has(id)) {
      const conv = this.draftFor(id);
      if (conv) this.drafts.set(id, { conv, at: Date.now() });
      else id = '';
    }
    if (!id) {
      this.pushedEntry = false;
      if (location.hash) history.replaceState(null, '', location.pathname + location.search);
    }
    this.select(id || null, false);
  }

  /** A local stand-in for a conversation with no messages yet (new chat, link). */
  private draftFor(id: string): Conversation | null {
    const base = { id, lastSeq: 0, readSeq: 0, unread: 0, mentioned: false, peerReadSeq: 0 };
    if (/^g:[A-Za-z0-9_.@-]{1,64}$/.test(id)) return { ...base, type: 'group', members: [] };
    const m = /^p:([A-Za-z0-9_.@-]{1,64}):([A-Za-z0-9_.@-]{1,64})$/.exec(id);
    if (m && m[1] < m[2] && (m[1] === this.me || m[2] === this.me)) return { ...base, type: 'p2p', members: [m[1], m[2]] };
    return null;
  }

  private thread(id: string): Thread {
    let t = this.threads.get(id);
    if (!t) {
      t = newThread();
      this.threads.set(id, t);
    }
    return t;
  }

  /** Loads the page before the oldest loaded message (the newest page first). */
  private async loadOlder(id: string): Promise<void> {
    const t = this.thread(id);
    if (t.loading || (t.started && !t.hasMore)) return;
    const before = oldestSeq(t);
    if (t.started && before <= 1) {
      t.hasMore = false;
      this.mark('thread');
      return;
    }
    t.started = true;
    t.loading = true;
    t.error = undefined;
    this.mark('thread');
    let got = 0;
    try {
      if (!before) {
        // The newest page comes with this device's pending and failed
        // messages, which only messages() lists.
        const page = await this.client.messages(id, { limit: PAGE });
        for (const m of page) upsert(t, m, this.me);
        t.hasMore = page.length > 0 && oldestSeq(t) > 1;
        got = page.length;
      } else {
        // Offline, history() keeps hasMore while the relay may hold older
        // messages the cache lacks: an empty page then waits for the next
        // scroll (or the connection) instead of asking again at once.
        const page = await this.client.history(id, { beforeSeq: before, limit: PAGE });
        for (const m of page.messages) upsert(t, m, this.me);
        t.hasMore = page.hasMore;
        got = page.messages.length;
      }
    } catch (err) {
      t.error = errorText(err);
    } finally {
      t.loading = false;
      this.mark('thread');
      this.flush();
    }
    // Keep going while the top is still in sight (a short page, a tall window).
    if (id === this.selected && t.hasMore && got > 0 && !t.error && this.msgList.scrollTop < 300) {
      void this.loadOlder(id);
    }
  }

  private sendComposer(): void {
    const id = this.selected;
    const text = this.composer.value.replace(/\s+$/, '');
    if (!id || !text.trim()) return;
    const mode = this.mode;
    if (mode?.kind === 'edit') {
      const m = mode.message;
      this.setMode(null);
      if (text !== m.text) {
        this.client.edit(m.id, text).catch((err) => {
          this.toast(`Could not edit: ${codeText(err)}`);
          // Give the edit back, unless the user already moved on.
          if (this.selected === id && !this.mode && !this.composer.value.trim()) {
            this.setMode({ kind: 'edit', message: m });
            this.composer.value = text;
            this.autoGrow();
          }
        });
      }
      return;
    }
    const cv = this.selectedConv();
    const mentions = cv && cv.type !== 'p2p' ? mentionsIn(text, convMembers(cv), this.me) : undefined;
    const replyTo = mode?.kind === 'reply' ? mode.message.id : undefined;
    if (mode) this.setMode(null);
    this.composer.value = '';
    this.composerDrafts.delete(id);
    this.saveDraft(id, '', true);
    this.autoGrow();
    this.forceBottom = true;
    // The pending message arrives through the 'message' event at once; the
    // promise settles when the relay acknowledged it (or refused it).
    const sent = replyTo || mentions ? this.client.send(id, { type: 'text', text, replyTo, mentions }) : this.client.sendText(id, text);
    sent.catch((err) => {
      // Refused before it was queued: give the text back to edit.
      if (this.sendFailed(err) && this.selected === id && !this.composer.value) {
        this.composer.value = text;
        this.autoGrow();
      }
    });
    this.mark('thread', 'list');
  }

  private retry(m: Message): void {
    this.client.resend(m.clientId).catch((err) => this.sendFailed(err));
  }

  /**
   * A message the relay refused (42xx) shows as failed, with Retry, through
   * messageUpdate; what the SDK refused before queueing it (49xx: too long,
   * closed…) has no message to show, so it gets a toast.
   */
  private sendFailed(err: unknown): boolean {
    const code = (err as { code?: number } | null)?.code ?? 0;
    if (this.closed || (code >= 4200 && code < 4900)) return false;
    this.toast(`Not sent: ${errorText(err)}`);
    return true;
  }

  private async startChat(user: string): Promise<string | null> {
    if (!NAME_RE.test(user)) return 'Use 1–64 letters, digits or . _ @ - (no spaces).';
    if (user === this.me) return 'That is you. Pick someone else.';
    // p2p() needs the user id, known once the relay welcomed this device.
    if (!(await this.userKnown())) return 'Still connecting to the relay. Try again in a moment.';
    const id = this.client.p2p(user);
    const draft = this.draftFor(id);
    if (!this.convs.has(id) && !this.drafts.has(id) && draft) this.drafts.set(id, { conv: draft, at: Date.now() });
    this.select(id);
    return null;
  }

  /** Resolves true once the client knows its user id (from the cache or the first welcome). */
  private userKnown(timeoutMs = 8000): Promise<boolean> {
    if (this.client.userId) return Promise.resolve(true);
    return new Promise((resolve) => {
      const off = this.client.on('state', () => {
        if (!this.client.userId) return;
        clearTimeout(timer);
        off();
        resolve(true);
      });
      const timer = setTimeout(() => {
        off();
        resolve(!!this.client.userId);
      }, timeoutMs);
    });
  }

  private async startGroup(name: string, membersText: string): Promise<string | null> {
    const members = [...new Set(membersText.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean))].filter((u) => u !== this.me);
    const bad = members.find((u) => !NAME_RE.test(u));
    if (!name.trim()) return 'Give the group a name.';
    if (bad) return `“${bad}” is not a valid user name.`;
    if (members.length === 0) return 'Add at least one member.';
    try {
      const cv = await this.client.createGroup(name.trim(), members);
      this.convs.set(cv.id, cv);
      this.select(cv.id);
      return null;
    } catch (err) {
      return `Could not create the group: ${errorText(err)}`;
    }
  }

  // ---------------------------------------------------------------- rendering

  private mark(...parts: (keyof ChatApp['dirty'])[]): void {
    for (const p of parts) this.dirty[p] = true;
    if (!this.flushTimer && !this.closed) this.flushTimer = window.setTimeout(() => this.flush(), 16);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = 0;
    if (this.closed) return;
    const d = this.dirty;
    if (d.conn) this.renderConn();
    if (d.list) this.renderList();
    if (d.pane) this.renderPane();
    if (d.thread) this.renderThread();
    if (d.list || d.pane) this.presence?.decorate(this.root, this.selected);
    this.dirty = { list: false, pane: false, thread: false, conn: false };
  }

  private build(): HTMLElement {
    this.connEl = h('span', { class: 'conn', 'data-testid': 'conn-state', role: 'status', 'aria-live': 'polite' });
    this.listEl = h('ul', { class: 'conv-list', 'data-testid': 'conv-list', role: 'list' });

    const meAvatar = avatar(this.me, 'sm');
    const sidebar = h(
      'aside',
      { class: 'sidebar' },
      h(
        'header',
        { class: 'sidebar-head' },
        meAvatar,
        h('div', { class: 'me' }, h('div', { class: 'me-name', title: this.me }, this.me), this.connEl),
        h(
          'button',
          { class: 'icon-btn', type: 'button', title: 'Sign out', 'aria-label': 'Sign out', 'data-testid': 'sign-out', onclick: () => this.onSignOut() },
          icon('logout'),
        ),
      ),
      h(
        'div',
        { class: 'sidebar-actions' },
        h('button', { class: 'btn soft', type: 'button', 'data-testid': 'new-chat', onclick: () => this.openNewChat() }, icon('chat'), 'New chat'),
        h('button', { class: 'btn soft', type: 'button', 'data-testid': 'new-group', onclick: () => this.openNewGroup() }, icon('group'), 'New group'),
        h('button', { class: 'btn soft', type: 'button', 'data-testid': 'join-group', onclick: () => openJoinGroup(this.client) }, 'Join group'),
        h('button', { class: 'btn soft', type: 'button', 'data-testid': 'devices', onclick: () => openDevices(this.client) }, 'Devices'),
      ),
      this.listEl,
    );

    this.paneHead = h('header', { class: 'pane-head' });
    this.loader = h('div', { class: 'loader' });
    this.msgInner = h('div', { class: 'msg-inner' });
    this.msgList = h('div', { class: 'message-list', 'data-testid': 'message-list', role: 'log', 'aria-live': 'polite' }, this.loader, this.msgInner);
    this.msgList.addEventListener('scroll', () => {
      if (this.selected && this.msgList.scrollTop < 300) void this.loadOlder(this.selected);
    }, { passive: true });

    this.composer = h('textarea', {
      class: 'composer-input',
      'data-testid': 'composer',
      rows: 1,
      placeholder: 'Write a message…',
      'aria-label': 'Message',
    });
    this.mentionPicker = new MentionPicker(
      this.composer,
      () => {
        const cv = this.selectedConv();
        return cv && cv.type !== 'p2p' ? convMembers(cv).filter((u) => u !== this.me) : [];
      },
      () => this.autoGrow(),
    );
    this.composer.addEventListener('keydown', (e) => {
      if (this.mentionPicker.key(e)) return;
      if (e.key === 'Escape' && this.mode) {
        e.preventDefault();
        this.setMode(null);
        return;
      }
      // Enter sends; Shift+Enter is a new line; never while an IME is composing.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.sendComposer();
      }
    });
    this.composer.addEventListener('input', () => {
      this.autoGrow();
      if (this.selected && this.mode?.kind !== 'edit') this.saveDraft(this.selected, this.composer.value);
      // Every key press: the SDK sends at most one typing notice per 3 s.
      if (this.selected && this.composer.value) {
        try {
          this.client.typing(this.selected);
        } catch {
          // best-effort
        }
      }
    });
    this.typingEl = h('div', { class: 'typing', 'data-testid': 'typing', 'aria-live': 'polite' });
    this.sendBtn = h('button', { class: 'send-btn', type: 'submit', 'data-testid': 'send', title: 'Send (Enter)', 'aria-label': 'Send' }, icon('send'));
    const composerForm = h(
      'form',
      { class: 'composer', onsubmit: (e: Event) => { e.preventDefault(); this.sendComposer(); this.composer.focus(); } },
      attachButton((files) => this.sendFiles(files)),
      h('div', { class: 'composer-field' }, this.mentionPicker.el, this.composer),
      this.sendBtn,
    );
    this.composeBarEl = h('div', { class: 'compose-bar-slot' });

    const empty = h(
      'div',
      { class: 'pane-empty' },
      h('div', { class: 'empty-art' }, icon('chat')),
      h('h2', null, 'Your messages'),
      h('p', null, 'Pick a conversation on the left, or start a new one.'),
      h('div', { class: 'empty-actions' },
        h('button', { class: 'btn primary', type: 'button', onclick: () => this.openNewChat() }, 'New chat'),
        h('button', { class: 'btn', type: 'button', onclick: () => this.openNewGroup() }, 'New group'),
      ),
    );
    this.paneEl = h('main', { class: 'pane' }, empty, h('section', { class: 'conversation' }, this.paneHead, this.msgList, this.typingEl, this.composeBarEl, composerForm));

    this.toastEl = h('div', { class: 'toast', role: 'alert', hidden: true });
    this.shell = h('div', { class: 'shell show-list' }, sidebar, this.paneEl, this.toastEl);
    this.renderConn();
    this.renderPane();
    return this.shell;
  }

  private renderConn(): void {
    const offline = !this.networkUp;
    // data-state is the SDK's state; the look also reflects the browser's
    // network, which goes down before a silent socket is noticed.
    const state = offline ? 'disconnected' : this.conn;
    this.connEl.dataset.state = this.conn;
    this.connEl.dataset.network = offline ? 'offline' : 'online';
    this.connEl.className = `conn conn-${state}`;
    this.connEl.replaceChildren(h('i', { class: 'dot' }), offline ? 'Offline · no network' : STATE_LABEL[this.conn] ?? this.conn);
    this.connEl.title = this.connReason;
  }

  /** Conversations, most recent first (drafts of new chats on top until their first message). */
  private sortedConvs(): { conv: Conversation; at: number; last?: Message }[] {
    const rows: { conv: Conversation; at: number; last?: Message }[] = [];
    for (const cv of this.convs.values()) {
      let last = cv.lastMessage ?? undefined;
      const p = this.pendingLast.get(cv.id);
      if (p && (!last || messageTime(p) >= messageTime(last))) last = p;
      rows.push({ conv: cv, at: last ? messageTime(last) : 0, last });
    }
    for (const [id, d] of this.drafts) {
      if (this.convs.has(id)) continue;
      const p = this.pendingLast.get(id);
      rows.push({ conv: d.conv, at: p ? messageTime(p) : d.at, last: p });
    }
    return pinnedFirst(rows.sort((a, b) => b.at - a.at || a.conv.id.localeCompare(b.conv.id)));
  }

  private renderList(): void {
    const rows = this.sortedConvs();
    const unread = unreadTotal(rows); // settings.ts: muted conversations do not count
    document.title = `${unread ? `(${unread > 99 ? '99+' : unread}) ` : ''}${this.me} · Parley`;
    if (rows.length === 0) {
      this.listEl.replaceChildren(
        h('li', { class: 'list-empty' }, 'No conversations yet.', h('br'), 'Start one with “New chat”.'),
      );
      return;
    }
    const items = rows.map(({ conv, at, last }) => {
      const title = convTitle(conv, this.me);
      const group = conv.type !== 'p2p';
      const own = last && (last.sender || this.me) === this.me;
      const unread = conv.unread || 0;
      const status = own && last ? last.status : '';
      return h(
        'li',
        {
          class: `conv-item${conv.id === this.selected ? ' selected' : ''}${unread ? ' has-unread' : ''}`,
          'data-testid': 'conv-item',
          'data-conv-id': conv.id,
          role: 'button',
          tabindex: 0,
          'aria-current': conv.id === this.selected ? 'true' : undefined,
          onclick: () => this.select(conv.id),
          onkeydown: (e: KeyboardEvent) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              this.select(conv.id);
            }
          },
        },
        avatar(title, '', group),
        h(
          'div',
          { class: 'conv-body' },
          h('div', { class: 'conv-top' }, h('span', { class: 'conv-name' }, title), convBadges(conv), h('time', { class: 'conv-time' }, listTime(at))),
          h(
            'div',
            { class: 'conv-bottom' },
            h(
              'span',
              { class: 'conv-preview' },
              status === 'failed' ? h('span', { class: 'preview-failed' }, icon('alert', 'icon tiny'), 'Not sent · ') : null,
              status === 'pending' ? icon('clock', 'icon tiny muted') : null,
              conv.mentioned && unread ? h('span', { class: 'mention-badge', 'data-testid': 'mention-badge' }, '[@me] ') : null,
              last?.type === 'system' ? '' : // members.ts: a group change names its actor
              last && group && !own && !last.recalled ? `${last.sender}: ` : own && last && !last.recalled ? 'You: ' : '',
              last?.recalled
                ? h('em', null, `${own ? 'You' : last.sender} recalled a message`)
                : last?.attachment ? excerpt(last) : last ? previewText(last) : h('em', null, group ? 'Group created' : 'No messages yet'),
            ),
            h('span', { class: 'unread', 'data-testid': 'unread', hidden: unread === 0, 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : String(unread)),
          ),
        ),
      );
    });
    this.listEl.replaceChildren(...items);
  }

  private selectedConv(): Conversation | undefined {
    if (!this.selected) return undefined;
    return this.convs.get(this.selected) ?? this.drafts.get(this.selected)?.conv;
  }

  private renderPane(): void {
    const cv = this.selectedConv();
    this.paneEl.classList.toggle('has-conv', !!cv);
    groupPane(this.shell, cv); // members.ts: notice banner, why a send is refused
    if (!cv) return;
    const title = convTitle(cv, this.me);
    const group = cv.type !== 'p2p';
    const members = convMembers(cv);
    const sub = group
      ? `${members.length} member${members.length === 1 ? '' : 's'}${members.length ? ' · ' + members.join(', ') : ''}`
      : `Direct message with ${peerOf(cv, this.me)}`;
    this.paneHead.replaceChildren(
      h('button', { class: 'icon-btn back', type: 'button', 'aria-label': 'Back to conversations', onclick: () => this.back() }, icon('back')),
      avatar(title, 'sm', group),
      h('div', { class: 'pane-title' }, h('h2', null, title), h('p', { title: sub }, sub)),
      this.calls.buttons(cv.id),
      convActions(this.client, cv, this.me, (text) => this.toast(text)),
    );
    if (group) this.paneHead.append(membersButton(this.client, cv)); // members.ts
    this.composer.placeholder = `Message ${group ? title : peerOf(cv, this.me)}`;
  }

  private renderThread(): void {
    const id = this.selected;
    const list = this.msgList;
    if (id !== this.renderedConv) {
      this.msgInner.replaceChildren();
      this.rowEls.clear();
      this.renderedConv = id;
    }
    if (!id) return;
    const t = this.thread(id);
    const cv = this.selectedConv();
    const group = !!cv && cv.type !== 'p2p';

    // Where to keep the view: at the bottom if it was there (or we just sent /
    // opened), else on the first visible row (older pages load above it).
    // Day headings are sticky, so only messages serve as anchors.
    const atBottom = this.forceBottom || list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    let anchor: { key: string; top: number } | null = null;
    if (!atBottom) {
      const viewTop = list.getBoundingClientRect().top;
      for (const el of this.msgInner.querySelectorAll<HTMLElement>('.msg')) {
        const r = el.getBoundingClientRect();
        if (r.bottom > viewTop) {
          anchor = { key: el.dataset.key!, top: r.top - viewTop };
          break;
        }
      }
    }

    const msgs = sortedMessages(t);
    const rows: { key: string; sig: string; make: () => HTMLElement }[] = [];
    let prevDay = '';
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i];
      const at = messageTime(m);
      const day = dayKey(at || Date.now());
      if (day !== prevDay) {
        const label = dayLabel(at || Date.now());
        rows.push({ key: `day:${day}`, sig: label, make: () => h('div', { class: 'day' }, h('span', null, label)) });
        prevDay = day;
      }
      const prev = msgs[i - 1];
      const next = msgs[i + 1];
      const sender = m.sender || this.me;
      const joins = (a: Message | undefined, b: Message) =>
        !!a && (a.sender || this.me) === (b.sender || this.me) && Math.abs(messageTime(b) - messageTime(a)) < GROUP_GAP_MS &&
        dayKey(messageTime(a) || Date.now()) === dayKey(messageTime(b) || Date.now());
      const first = !joins(prev, m);
      const last = !next || !joins(m, next);
      const key = messageKey(m, this.me);
      const sig = [
        m.status, m.seq, m.text, m.type, first, last, group, at, m.recalled, m.editedAt, JSON.stringify(m.reactions ?? null),
        m.replyTo ? this.replySig(t, m.replyTo) : '', this.attachments.sig(m), this.readSig(m, cv),
      ].join('|');
      rows.push({ key, sig, make: () => this.messageEl(m, sender === this.me, first, last, group) });
    }

    // Keyed update: reuse elements whose signature did not change, keep order.
    const seen = new Set<string>();
    let cursor: ChildNode | null = this.msgInner.firstChild;
    for (const r of rows) {
      seen.add(r.key);
      let entry = this.rowEls.get(r.key);
      if (!entry || entry.sig !== r.sig) {
        const el = r.make();
        el.dataset.key = r.key;
        if (entry) {
          if (entry.el === cursor) cursor = el;
          entry.el.replaceWith(el);
        }
        entry = { el, sig: r.sig };
        this.rowEls.set(r.key, entry);
      }
      if (entry.el !== cursor) this.msgInner.insertBefore(entry.el, cursor);
      else cursor = cursor.nextSibling;
    }
    for (const [key, entry] of this.rowEls) {
      if (!seen.has(key)) {
        entry.el.remove();
        this.rowEls.delete(key);
      }
    }

    this.loader.replaceChildren(
      t.error
        ? h('span', { class: 'load-error' }, `Could not load messages: ${t.error} `, h('button', { class: 'link', type: 'button', onclick: () => void this.loadOlder(id) }, 'Try again'))
        : t.loading
          ? h('span', { class: 'spinner', 'aria-label': 'Loading' })
          : !t.hasMore && msgs.length > 0
            ? h('span', { class: 'start' }, group ? 'This is the beginning of the group.' : 'This is the beginning of your conversation.')
            : msgs.length === 0 && t.started
              ? h('span', { class: 'start' }, 'No messages yet. Say hello!')
              : '',
    );

    if (atBottom) {
      list.scrollTop = list.scrollHeight;
      this.forceBottom = false;
    } else if (anchor) {
      // The anchor's element may have been replaced (its grouping changed).
      const el = this.rowEls.get(anchor.key)?.el;
      if (el) list.scrollTop += el.getBoundingClientRect().top - list.getBoundingClientRect().top - anchor.top;
    }
  }

  /** What a reply shows of its original, for the keyed render. */
  private replySig(t: Thread, replyTo: string): string {
    const o = this.original(t, replyTo);
    return o ? `${o.seq}:${o.hidden ? 'h' : o.recalled ? 'r' : ''}${o.text ?? ''}` : '?';
  }

  /**
   * The message a reply answers: from the loaded thread, else asked once
   * from the SDK (its cache, or the relay) and kept; undefined until then.
   */
  private original(t: Thread, replyTo: string): Message | undefined {
    const seq = Number(replyTo.slice(replyTo.lastIndexOf('#') + 1));
    for (const m of t.byKey.values()) if (m.seq === seq && m.id === replyTo) return m;
    const known = this.originals.get(replyTo);
    if (known !== undefined) return known ?? undefined;
    this.originals.set(replyTo, null);
    const conv = replyTo.slice(0, replyTo.lastIndexOf('#'));
    this.client.messages(conv, { beforeSeq: seq + 1, limit: 1 }).then(
      (page) => {
        const m = page.find((x) => x.id === replyTo);
        if (m && !m.hidden) {
          this.originals.set(replyTo, m);
          this.mark('thread');
        }
      },
      () => {
        /* stays unknown until the next connect clears the failed ones */
      },
    );
    return undefined;
  }

  /** The read state an own message shows: ✓ or ✓✓ in p2p, "read by N" in groups. */
  private readSig(m: Message, cv: Conversation | undefined): string {
    if (m.sender !== this.me || m.status !== 'sent' || !cv) return '';
    if (cv.type === 'p2p') return m.seq <= (cv.peerReadSeq || 0) ? 'read' : 'sent';
    return this.receipts.sig(m);
  }

  private messageEl(m: Message, own: boolean, first: boolean, last: boolean, group: boolean): HTMLElement {
    const status = m.status ?? 'sent';
    const cv = this.selectedConv();
    if (m.recalled) {
      return h(
        'div',
        { class: 'msg recalled-row', 'data-testid': 'message', 'data-status': status, 'data-seq': m.seq || 0, 'data-sender': m.sender || this.me, 'data-recalled': '1' },
        h('em', { class: 'recalled', 'data-testid': 'recalled' }, `${own ? 'You' : m.sender} recalled a message`),
      );
    }
    const t = this.threads.get(m.conversationId);
    const original = m.replyTo && t ? this.original(t, m.replyTo) : undefined;
    // One deleted for me is in no page: looking for it would read the whole history.
    const jump = () => (original?.hidden ? this.toast('You deleted the original message.') : void this.jumpTo(Number(m.replyTo!.split('#').pop())));
    const quote = m.replyTo && t ? replyQuote(original, jump) : null;
    const text =
      m.attachment
        ? m.text ? highlightMentions(m.text, m, this.me, linkify) : []
        : m.type === 'call'
        ? [h('em', { class: 'call-record', 'data-testid': 'call-record' }, callRecordText(m.body))]
        : m.type === 'system'
          ? [h('em', { class: 'custom system', 'data-testid': 'system-message' }, systemText(m.body))] // members.ts
          : m.type === 'text' || m.text !== undefined ? highlightMentions(m.text ?? '', m, this.me, linkify) : [h('em', { class: 'custom' }, `[${m.type} message]`)];
    const meta = h(
      'span',
      { class: 'meta' },
      m.editedAt ? h('span', { class: 'edited', 'data-testid': 'edited', title: `Edited ${new Date(m.editedAt).toLocaleString()}` }, 'edited') : null,
      h('time', { datetime: new Date(messageTime(m) || Date.now()).toISOString() }, clockTime(messageTime(m))),
      own
        ? status === 'pending'
          ? h('span', { class: 'st st-pending', title: 'Sending…', 'aria-label': 'Sending' }, icon('clock', 'icon tiny'))
          : status === 'failed'
            ? h('span', { class: 'st st-failed', title: 'Not sent', 'aria-label': 'Not sent' }, icon('alert', 'icon tiny'))
            : cv?.type === 'p2p'
              ? p2pMark(m, cv)
              : h('span', { class: 'st st-sent', title: 'Sent', 'aria-label': 'Sent' }, icon('check', 'icon tiny'))
        : null,
    );
    const showSender = group && !own && first;
    const showAvatar = group && !own;
    return h(
      'div',
      {
        class: `msg ${own ? 'own' : 'other'}${first ? ' first' : ''}${last ? ' last' : ''} status-${status}`,
        'data-testid': 'message',
        'data-status': status,
        'data-seq': m.seq || 0,
        'data-sender': m.sender || this.me,
        'data-id': m.id,
        'data-client-id': m.clientId,
        'data-mentions-me': mentionsMe(m, this.me) ? '1' : undefined,
      },
      showAvatar ? (last ? avatar(m.sender, 'xs') : h('span', { class: 'avatar-gap' })) : null,
      h(
        'div',
        { class: 'msg-col' },
        showSender ? h('div', { class: 'sender', style: `color:${avatarColor(m.sender)}` }, m.sender) : null,
        h(
          'div',
          { class: 'bubble-row' },
          h('div', { class: `bubble${m.attachment ? ' has-media' : ''}` }, quote, this.attachments.render(m), h('span', { class: 'text' }, text), meta),
          actionsButton(
            { client: this.client, me: this.me, conv: () => this.selectedConv(), setMode: (x) => this.setMode(x), toast: (x) => this.toast(x) },
            m,
          ),
        ),
        reactionChips(this.client, this.me, m, (x) => this.toast(x)),
        own && group && status === 'sent' && cv ? this.receipts.label(m, cv.id) : null,
        status === 'failed' && own
          ? h(
              'div',
              { class: 'failed-row' },
              'Not sent',
              m.errorCode ? `: ${m.errorCode} ${codeName(m.errorCode)}` : '',
              ' · ',
              h('button', { class: 'link danger', type: 'button', 'data-testid': 'retry', onclick: () => this.retry(m) }, 'Retry'),
            )
          : null,
      ),
    );
  }

  private autoGrow(): void {
    const c = this.composer;
    c.style.height = 'auto';
    c.style.height = `${Math.min(c.scrollHeight, 160)}px`;
    this.sendBtn.disabled = !c.value.trim();
  }

  // ---------------------------------------------------------------- dialogs

  private openNewChat(): void {
    const input = h('input', {
      'data-testid': 'new-chat-user',
      type: 'text',
      placeholder: 'User name, e.g. bob',
      autocapitalize: 'off',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 64,
    });
    openDialog({
      title: 'New chat',
      body: [h('label', null, 'Who do you want to talk to?', input)],
      submitLabel: 'Start chat',
      submitTestId: 'new-chat-submit',
      focus: input,
      onSubmit: () => this.startChat(input.value.trim()),
    });
  }

  private openNewGroup(): void {
    const name = h('input', { 'data-testid': 'new-group-name', type: 'text', placeholder: 'e.g. Weekend trip', maxlength: 100 });
    const members = h('input', {
      'data-testid': 'new-group-members',
      type: 'text',
      placeholder: 'bob, carol, dave',
      autocapitalize: 'off',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    openDialog({
      title: 'New group',
      body: [
        h('label', null, 'Group name', name),
        h('label', null, 'Members', members, h('small', null, 'User names, separated by commas. You are added automatically.')),
      ],
      submitLabel: 'Create group',
      submitTestId: 'new-group-submit',
      focus: name,
      onSubmit: () => this.startGroup(name.value, members.value),
    });
  }

  private toastTimer = 0;
  private toast(text: string): void {
    this.toastEl.textContent = text;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => (this.toastEl.hidden = true), 5000);
  }
}

// ------------------------------------------------------------------ helpers

function avatar(name: string, size = '', group = false): HTMLElement {
  return h(
    'span',
    { class: `avatar ${size}${group ? ' group' : ''}`, style: `--av:${avatarColor(name)}`, 'aria-hidden': 'true' },
    initials(name),
  );
}

/** The message mentions this user, by name or as everyone. */
function mentionsMe(m: Message, me: string): boolean {
  return m.sender !== me && (m.mentions === 'all' || (Array.isArray(m.mentions) && m.mentions.includes(me)));
}

/** Text with http(s) links made clickable, as DOM nodes (never innerHTML). */
function linkify(text: string): (Node | string)[] {
  const out: (Node | string)[] = [];
  const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

interface DialogOptions {
  title: string;
  body: HTMLElement[];
  submitLabel: string;
  submitTestId: string;
  focus: HTMLElement;
  /** Resolves with an error to show, or null to close. */
  onSubmit(): Promise<string | null> | string | null;
}

function openDialog(o: DialogOptions): void {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-testid': o.submitTestId }, o.submitLabel);
  const dialog = h('dialog', { class: 'dialog', 'aria-label': o.title });
  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        submit.disabled = true;
        const err = await o.onSubmit();
        submit.disabled = false;
        if (err) {
          error.textContent = err;
          error.hidden = false;
          return;
        }
        dialog.close();
      },
    },
    h('header', null, h('h2', null, o.title),
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => dialog.close() }, icon('close'))),
    ...o.body,
    error,
    h('footer', null, h('button', { class: 'btn', type: 'button', onclick: () => dialog.close() }, 'Cancel'), submit),
  );
  dialog.append(form);
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close(); // click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  o.focus.focus();
}
