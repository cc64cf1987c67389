// The members panel of a group: who is in it with their role, and the
// management actions this user's role allows (promote, mute, remove,
// transfer, add, leave, dismiss). Every action is one SDK call; the panel
// reloads the member list from the relay after each one.
import { codeName, type Conversation, type Member, type ParleyClient } from '@parley-im/sdk';
import { h } from './dom';

const RANK: Record<string, number> = { owner: 3, admin: 2, member: 1 };
const HOUR = 3_600_000;

/** membersButton returns the header button that opens the panel of group cv. */
export function membersButton(client: ParleyClient, cv: Conversation): HTMLElement {
  return h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-open', onclick: () => void openMembers(client, cv) }, 'Members');
}

async function openMembers(client: ParleyClient, cv: Conversation): Promise<void> {
  document.querySelector('.members-panel')?.remove();
  const list = h('ul', { class: 'members-list', 'data-testid': 'members-list' });
  const status = h('p', { class: 'members-status', 'data-testid': 'members-status', role: 'status' });
  const addInput = h('input', { type: 'text', placeholder: 'user id', 'data-testid': 'members-add-input' }) as HTMLInputElement;
  const panel = h(
    'aside',
    { class: 'members-panel', 'data-testid': 'members-panel', 'aria-label': 'Group members' },
    h('header', null, h('h2', null, 'Members'), h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-close', onclick: () => panel.remove() }, 'Close')),
    list,
    h('form', { class: 'members-add', onsubmit: (e: Event) => { e.preventDefault(); void act(() => client.addMembers(cv.id, [addInput.value.trim()]), 'added'); } },
      addInput, h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'members-add' }, 'Add')),
    h('div', { class: 'members-footer' },
      h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-leave', onclick: () => void act(() => client.leaveGroup(cv.id), 'left') }, 'Leave group'),
      h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-dismiss', onclick: () => void act(() => client.dismissGroup(cv.id), 'dismissed') }, 'Dismiss group')),
    status,
  );
  document.body.append(panel);

  async function act(f: () => Promise<unknown>, done: string): Promise<void> {
    try {
      await f();
      status.textContent = done;
    } catch (e) {
      const code = (e as { code?: number }).code;
      status.textContent = code ? `refused: ${code} ${codeName(code)}` : String(e);
    }
    await load();
  }

  async function load(): Promise<void> {
    let members: Member[];
    let mine: string | undefined;
    try {
      [members, mine] = await Promise.all([client.members(cv.id), client.conversation(cv.id).then((c) => c?.role)]);
    } catch (e) {
      list.replaceChildren(h('li', null, 'Not a member of this group any more.'));
      return;
    }
    const myRank = RANK[mine ?? ''] ?? 0;
    list.replaceChildren(
      ...members.map((m) => {
        const lower = myRank > (RANK[m.role] ?? 0);
        const muted = (m.mutedUntil ?? 0) > Date.now();
        const actions: HTMLElement[] = [];
        const btn = (id: string, label: string, f: () => Promise<unknown>, done: string) =>
          actions.push(h('button', { class: 'btn soft', type: 'button', 'data-testid': `member-${id}-${m.user}`, onclick: () => void act(f, done) }, label));
        if (mine === 'owner' && m.role !== 'owner') {
          if (m.role === 'member') btn('promote', 'Make admin', () => client.setRole(cv.id, m.user, 'admin'), `${m.user} is an admin`);
          else btn('demote', 'Make member', () => client.setRole(cv.id, m.user, 'member'), `${m.user} is a member`);
          btn('transfer', 'Make owner', () => client.transferGroup(cv.id, m.user), `${m.user} owns the group`);
        }
        if (lower && myRank >= RANK.admin) {
          btn('mute', muted ? 'Unmute' : 'Mute 1 h', () => client.muteMember(cv.id, m.user, muted ? 0 : Date.now() + HOUR), muted ? `${m.user} unmuted` : `${m.user} muted`);
          btn('remove', 'Remove', () => client.removeMembers(cv.id, [m.user]), `${m.user} removed`);
        }
        return h(
          'li',
          { class: 'member', 'data-testid': `member-${m.user}`, 'data-role': m.role },
          h('span', { class: 'member-name' }, m.user),
          h('span', { class: `member-role role-${m.role}`, 'data-testid': `member-role-${m.user}` }, m.role + (muted ? ' · muted' : '')),
          h('span', { class: 'member-actions' }, ...actions),
        );
      }),
    );
  }
  await load();
}

/** systemText describes a group change (a `system` message) in one line. */
export function systemText(body: unknown): string {
  const b = (body ?? {}) as { event?: string; by?: string; users?: string[]; role?: string; until?: number; on?: boolean };
  const who = (b.users ?? []).join(', ');
  switch (b.event) {
    case 'created': return who ? `${b.by} created the group with ${who}` : `${b.by} created the group`;
    case 'added': return `${b.by} added ${who}`;
    case 'invited': return `${b.by} invited ${who}`;
    case 'joined': return `${who} joined`;
    case 'removed': return `${b.by} removed ${who}`;
    case 'left': return `${who} left`;
    case 'role': return `${b.by} made ${who} ${b.role === 'admin' ? 'an admin' : 'a member'}`;
    case 'muted': return b.until ? `${b.by} muted ${who}` : `${b.by} unmuted ${who}`;
    case 'muteAll': return b.on ? `${b.by} muted everyone` : `${b.by} unmuted everyone`;
    case 'transferred': return `${b.by} made ${who} the owner`;
    case 'updated': return `${b.by} updated the group`;
    case 'dismissed': return `${b.by} dismissed the group`;
    case 'joinDeclined': return `${b.by} declined ${who}'s request`;
    case 'inviteDeclined': return `${who} declined the invitation`;
  }
  return `[group change]`;
}
