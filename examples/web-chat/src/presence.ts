// Presence dots and profiles for the chat: who of the one-to-one peers is
// online (a dot on their avatar, with their status and when they were last
// seen), their nickname and avatar picture from their profile, and a button
// to edit this user's own nickname and status. chat.ts calls decorate after
// each render; everything here reads the SDK's presence and profile calls
// and events.
import type { ParleyClient, Presence, Profile } from '@parley-im/sdk';
import { h } from './dom';
import { svgIcon } from './icons';

/** peerOfId returns the other user of a one-to-one conversation id `p:<a>:<b>`, or null. */
function peerOfId(id: string, me: string): string | null {
  const m = /^p:([^:]+):([^:]+)$/.exec(id);
  if (!m) return null;
  return m[1] === me ? m[2] : m[1];
}

/** showPicture shows a profile picture on an avatar, or its initials when there is none. */
function showPicture(av: HTMLElement | null, url: string | undefined): void {
  if (!av) return;
  const ok = !!url && pictureUrl(url);
  av.style.backgroundImage = ok ? `url("${url!.replace(/["\\\n]/g, encodeURIComponent)}")` : '';
  av.classList.toggle('has-picture', ok);
  if (ok) av.dataset.picture = url;
  else delete av.dataset.picture;
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
    if (fresh.length === 0 && this.profiles.has(this.me)) return;
    this.asking = true;
    try {
      if (fresh.length) for (const p of await this.client.subscribePresence(fresh)) {
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
      me.appendChild(h('button', { class: 'icon-btn', type: 'button', 'data-testid': 'edit-profile', title: 'Your profile: nickname, picture, status', 'aria-label': 'Edit your profile', onclick: () => void this.edit() }, svgIcon('pencil')));
    }
    const mine = this.profiles.get(this.me);
    const meName = root.querySelector<HTMLElement>('.me-name');
    if (meName) meName.textContent = mine?.nickname ? `${mine.nickname} (${this.me})` : this.me;
    if (me) showPicture(me.querySelector<HTMLElement>('.avatar'), mine?.avatar);
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
    showPicture(av, prof.avatar);
  }

  /** The profile form: nickname, picture (a URL) and status, saved through the SDK. */
  private edit(): void {
    document.querySelector('[data-testid="profile-dialog"]')?.remove();
    const mine = this.profiles.get(this.me);
    const nickname = h('input', { type: 'text', maxlength: 64, value: mine?.nickname ?? '', 'data-testid': 'profile-nickname', placeholder: this.me });
    const avatar = h('input', { type: 'url', maxlength: 512, value: mine?.avatar ?? '', 'data-testid': 'profile-avatar', placeholder: 'https://…/me.png' });
    const status = h('input', { type: 'text', maxlength: 64, value: this.presence.get(this.me)?.status ?? '', 'data-testid': 'profile-status', placeholder: 'e.g. at lunch' });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const submit = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'profile-save' }, 'Save');
    const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Your profile', 'data-testid': 'profile-dialog' });
    dialog.append(
      h('form', {
        novalidate: true,
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const pic = avatar.value.trim();
          if (pic && !pictureUrl(pic)) {
            error.textContent = 'The picture is a link to an image (https://…).';
            error.hidden = false;
            return;
          }
          submit.disabled = true;
          error.hidden = true;
          try {
            await this.client.setProfile({ nickname: nickname.value.trim(), avatar: pic });
            await this.client.setStatus(status.value.trim() || undefined);
            const [p] = await this.client.profiles([this.me]);
            if (p) this.profiles.set(this.me, p);
            this.presence.set(this.me, { user: this.me, online: true, status: status.value.trim() || undefined });
            this.changed();
            dialog.close();
          } catch (err) {
            const code = (err as { code?: number } | null)?.code;
            error.textContent = `Could not save${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message.replace(/^parley: \d+ /, '') : String(err)}`;
            error.hidden = false;
          } finally {
            submit.disabled = false;
          }
        },
      },
      h('header', null, h('h2', null, 'Your profile')),
      h('label', null, 'Nickname', nickname, h('small', null, 'Shown to others instead of your user name.')),
      h('label', null, 'Picture', avatar, h('small', null, 'A link to an image.')),
      h('label', null, 'Status', status),
      error,
      h('footer', null, h('button', { class: 'btn', type: 'button', onclick: () => dialog.close() }, 'Cancel'), submit)),
    );
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    nickname.focus();
  }
}

/** pictureUrl: the avatar links shown as pictures (http(s), this origin's paths, inline images). */
function pictureUrl(s: string): boolean {
  return /^https?:\/\//.test(s) || /^data:image\/(png|jpeg|gif|webp|svg\+xml)[;,]/.test(s) || /^\/[^/]/.test(s);
}
