// Conversation settings in the web chat: pin and mute (synced to the user's
// other devices by the SDK), block for one-to-one chats, and the composer's
// draft kept in the SDK's local cache, so it survives a reload.
import type { Conversation, ParleyClient } from '@parley-im/sdk';
import { h } from './dom';
import { svgIcon } from './icons';

/**
 * pinnedFirst moves the pinned conversations to the top, keeping the order
 * otherwise, and leaves out the hidden ones (a newer message shows them again).
 */
export function pinnedFirst<T extends { conv: Conversation }>(rows: T[]): T[] {
  const shown = rows.filter((r) => !r.conv.hidden);
  return [...shown.filter((r) => r.conv.pinned), ...shown.filter((r) => !r.conv.pinned)];
}

/** unreadTotal is the count for the page title: muted conversations do not add to it (as ParleyClient.totalUnread). */
export function unreadTotal(rows: { conv: Conversation }[]): number {
  return rows.reduce((n, r) => n + (r.conv.muted ? 0 : r.conv.unread || 0), 0);
}

/** convBadges are the small marks of a list row: pinned, muted, a draft waits. */
export function convBadges(cv: Conversation): HTMLElement | null {
  if (!cv.pinned && !cv.muted && !cv.draft) return null;
  return h(
    'span',
    { class: 'conv-badges', 'data-testid': 'conv-badges' },
    cv.pinned ? h('span', { class: 'badge', title: 'Pinned', 'data-testid': 'pinned-badge' }, svgIcon('pin', 'icon tiny')) : null,
    cv.muted ? h('span', { class: 'badge', title: 'Muted', 'data-testid': 'muted-badge' }, svgIcon('bellOff', 'icon tiny')) : null,
    cv.draft ? h('span', { class: 'badge draft', title: `Draft: ${cv.draft}`, 'data-testid': 'draft-badge' }, 'Draft') : null,
  );
}

/** The peer of a one-to-one conversation. */
function peer(cv: Conversation, me: string): string | null {
  if (cv.type !== 'p2p') return null;
  return cv.members.find((m) => m !== me) ?? null;
}

/**
 * convActions are the pane header's buttons: pin, mute and, in a
 * one-to-one chat, block. They act through the SDK; the `conversation` and
 * `contact` events bring the new state back, on every device.
 */
export function convActions(client: ParleyClient, cv: Conversation, me: string, toast: (text: string) => void): HTMLElement {
  const fail = (what: string) => (err: unknown) => toast(`Could not ${what}: ${err instanceof Error ? err.message : String(err)}`);
  const toggle = (label: string, on: boolean | undefined, testid: string, act: () => Promise<void>, what: string) =>
    h(
      'button',
      { class: `chip${on ? ' on' : ''}`, type: 'button', 'aria-pressed': on ? 'true' : 'false', 'data-testid': testid, onclick: () => act().catch(fail(what)) },
      label,
    );
  const box = h(
    'div',
    { class: 'conv-actions' },
    toggle(cv.pinned ? 'Unpin' : 'Pin', cv.pinned, 'pin', () => client.setConversation(cv.id, { pinned: !cv.pinned }), 'pin'),
    toggle(cv.muted ? 'Unmute' : 'Mute', cv.muted, 'mute', () => client.setConversation(cv.id, { muted: !cv.muted }), 'mute'),
    toggle('Hide', false, 'hide', () => client.setConversation(cv.id, { hidden: true }).then(() => {
      toast('Hidden from the list until a new message arrives.');
      // Close it: the app follows the URL's fragment (chat.ts route()).
      if (decodeURIComponent(location.hash.slice(1)) === cv.id) {
        history.replaceState(null, '', location.pathname + location.search);
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      }
    }), 'hide'),
  );
  const other = peer(cv, me);
  if (other) {
    const btn = h('button', { class: 'chip', type: 'button', 'data-testid': 'block' }, 'Block');
    let blocked = false;
    const show = () => {
      btn.textContent = blocked ? 'Unblock' : 'Block';
      btn.classList.toggle('on', blocked);
      btn.setAttribute('aria-pressed', blocked ? 'true' : 'false');
    };
    client.blocked().then((list) => {
      blocked = list.includes(other);
      show();
    }, () => {});
    btn.onclick = () => {
      const act = blocked ? client.unblock(other) : client.block(other);
      act.then(() => {
        blocked = !blocked;
        show();
        toast(blocked ? `${other} is blocked: their messages are refused.` : `${other} is unblocked.`);
      }, fail(blocked ? 'unblock' : 'block'));
    };
    box.append(btn);
  }
  return box;
}

/** draftSaver keeps composer drafts in the SDK's cache, writing at most every 400 ms per conversation. */
export function draftSaver(client: ParleyClient): (conversationId: string, text: string, now?: boolean) => void {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  return (id, text, now = false) => {
    clearTimeout(timers.get(id));
    const write = () => {
      timers.delete(id);
      client.setDraft(id, text).catch(() => {});
    };
    if (now) write();
    else timers.set(id, setTimeout(write, 400));
  };
}
