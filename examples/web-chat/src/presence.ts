// Presence dots and profiles for the chat: who of the one-to-one peers is
// online (a dot on their avatar, with their status and when they were last
// seen), their nickname and avatar picture from their profile, and a button
// to edit this user's own nickname and status. chat.ts calls decorate after
// each render; everything here reads the SDK's presence and profile calls
// and events.
import type { ParleyClient, Presence, Profile } from '@parley-im/sdk';
import { h } from './dom';

/** peerOfId returns the other user of a one-to-one conversation id `p:<a>:<b>`, or null. */
function peerOfId(id: string, me: string): string | null {
  const m = /^p:([^:]+):([^:]+)$/.exec(id);
  if (!m) return null;
  return m[1] === me ? m[2] : m[1];
}

function seenText(p: Presence | undefined): string {
  if (!p) return '';
  if (p.online) return p.status ? `Online · ${p.status}` : 'Online';
  const seen = p.lastSeen ? `last seen ${new Date(p.lastSeen).toLocaleString()}` : 'offline';
  return p.status ? `${seen} · ${p.status}` : seen;
}

export class PresenceView {
  private presence = new Map<string, Presence>();
  private profiles = new Map<string, Profile>();
  private subscribed = new Set<string>();
  private asking = false;

  constructor(
    private readonly client: ParleyClient,
    private readonly me: string,
    private readonly changed: () => void,
  ) {}

  /** Listens to presence and profile events; returns the cleanup. */
  start(): () => void {
    const offs = [
      this.client.on('presence', (p) => {
        this.presence.set(p.user, p);
        this.changed();
      }),
      this.client.on('profile', (p) => {
        this.profiles.set(p.user, p);
        this.changed();
      }),
      this.client.on('state', (e) => {
        if (e.state === 'connected') void this.catchUp();
      }),
    ];
    return () => offs.forEach((off) => off());
  }

  /** Subscribes to the peers not subscribed to yet and reads their profiles. */
  private async catchUp(): Promise<void> {
    if (this.asking || this.client.state !== 'connected') return;
    const fresh = [...this.wanted].filter((u) => !this.subscribed.has(u));
    if (fresh.length === 0) return;
    this.asking = true;
    try {
      for (const p of await this.client.subscribePresence(fresh)) {
        this.subscribed.add(p.user);
        this.presence.set(p.user, p);
      }
      for (const p of await this.client.profiles([...fresh, this.me])) this.profiles.set(p.user, p);
      this.changed();
    } catch {
      // Offline or refused: tried again on the next connect or render.
    } finally {
      this.asking = false;
    }
  }

  private wanted = new Set<string>();

  /** Adds dots, nicknames and pictures to the rendered list and pane head. */
  decorate(root: HTMLElement, selected: string | null): void {
    let missing = false;
    for (const row of root.querySelectorAll<HTMLElement>('[data-conv-id]')) {
      const peer = peerOfId(row.dataset.convId ?? '', this.me);
      if (!peer) continue;
      if (!this.subscribed.has(peer)) {
        this.wanted.add(peer);
        missing = true;
      }
      this.mark(row, peer);
    }
    const head = root.querySelector<HTMLElement>('.pane-head');
    const peer = selected ? peerOfId(selected, this.me) : null;
    if (head && peer) this.mark(head, peer);
    const me = root.querySelector<HTMLElement>('.sidebar-head');
    if (me && !me.querySelector('[data-testid="edit-profile"]')) {
      me.appendChild(h('button', { class: 'icon-btn', type: 'button', 'data-testid': 'edit-profile', title: 'Edit nickname and status', onclick: () => void this.edit() }, '✎'));
    }
    const mine = this.profiles.get(this.me);
    const meName = root.querySelector<HTMLElement>('.me-name');
    if (meName && mine?.nickname) meName.textContent = `${mine.nickname} (${this.me})`;
    if (missing) void this.catchUp();
  }

  private mark(el: HTMLElement, user: string): void {
    const av = el.querySelector<HTMLElement>('.avatar');
    const p = this.presence.get(user);
    if (av && p) {
      let dot = av.querySelector<HTMLElement>('.presence-dot');
      if (!dot) {
        dot = h('span', { class: 'presence-dot', 'data-testid': 'presence-dot' });
        av.appendChild(dot);
      }
      dot.dataset.user = user;
      dot.classList.toggle('online', p.online);
      dot.title = seenText(p);
    }
    const prof = this.profiles.get(user);
    if (!prof) return;
    const name = el.querySelector<HTMLElement>('.conv-name, h2');
    if (name && prof.nickname) {
      name.textContent = prof.nickname;
      name.title = user;
      name.dataset.nickname = prof.nickname;
    }
    if (av && prof.avatar && /^https?:\/\//.test(prof.avatar)) {
      av.style.backgroundImage = `url("${prof.avatar.replace(/"/g, '%22')}")`;
      av.classList.add('has-picture');
    }
  }

  /** Asks for a nickname and a status and saves them. */
  private async edit(): Promise<void> {
    const mine = this.profiles.get(this.me);
    const nickname = window.prompt('Nickname', mine?.nickname ?? '');
    if (nickname === null) return;
    const status = window.prompt('Status (empty to clear)', '');
    try {
      await this.client.setProfile({ nickname });
      if (status !== null) await this.client.setStatus(status === '' ? undefined : status);
      const [p] = await this.client.profiles([this.me]);
      if (p) this.profiles.set(this.me, { ...p, nickname });
      this.changed();
    } catch (e) {
      window.alert(`Could not save: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
