// The members panel of a group: who is in it with their role, and the
// management actions this user's role allows (promote, mute, remove,
// transfer, add, edit the name and notice, answer join requests, leave,
// dismiss). Every action is one SDK call; the panel reloads from the relay
// after each one and whenever the group changes (a `conversation` event, a
// group change's system message, a join request), so what another admin
// did shows too. Also here: the pane's notice banner and composer note
// (groupPane), the "Join group" dialog, and the words of system messages.
import { codeName, type Conversation, type GroupNotice, type JoinPolicy, type Member, type ParleyClient } from '@parley-im/sdk';
import { h, icon } from './dom';

const RANK: Record<string, number> = { owner: 3, admin: 2, member: 1 };
const HOUR = 3_600_000;
const POLICIES: Record<JoinPolicy, string> = {
  invite: 'Admins add people',
  approval: 'People ask, admins approve',
  open: 'Anyone may join',
};

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

/** Words for a refused call: "4220 forbidden". */
function refusal(e: unknown): string {
  const code = (e as { code?: number } | null)?.code;
  if (code) return `${code} ${codeName(code)}`;
  return e instanceof Error ? e.message : String(e);
}

/** Pending join requests per group, as far as this page knows (the Members button's count). */
const requests = new Map<string, number>();
const listening = new WeakSet<ParleyClient>();

/** The open panel, so that one replaces another and a switch of conversation closes it. */
let panel: { id: string; close(): void } | null = null;

/**
 * membersButton returns the header button that opens the panel of group cv;
 * it says how many join requests wait, for admins.
 */
export function membersButton(client: ParleyClient, cv: Conversation): HTMLElement {
  watchRequests(client);
  const waiting = (RANK[cv.role ?? ''] ?? 0) >= RANK.admin ? requests.get(cv.id) ?? 0 : 0;
  return h(
    'button',
    { class: 'btn soft', type: 'button', 'data-testid': 'members-open', onclick: () => void openMembers(client, cv.id) },
    icon('group'),
    'Members',
    waiting ? h('span', { class: 'members-requests', 'data-testid': 'members-requests' }, String(waiting)) : null,
  );
}

/** Counts join requests as they come, once per client. */
function watchRequests(client: ParleyClient): void {
  if (listening.has(client)) return;
  listening.add(client);
  client.on('joinRequest', (n) => {
    requests.set(n.conversationId, (requests.get(n.conversationId) ?? 0) + 1);
    // The pane head re-renders on the conversation's next change; nudge it
    // with the count now when the button is on screen.
    const btn = document.querySelector<HTMLElement>('[data-testid="members-open"]');
    if (btn && location.hash === `#${n.conversationId}` && !btn.querySelector('.members-requests')) {
      btn.append(h('span', { class: 'members-requests', 'data-testid': 'members-requests' }, String(requests.get(n.conversationId))));
    }
  });
}

async function openMembers(client: ParleyClient, id: string): Promise<void> {
  panel?.close();
  const me = client.userId;
  const title = h('h2', null, 'Members');
  const groupId = h('code', { class: 'members-id', 'data-testid': 'members-group-id', title: 'Others join with this id' }, id);
  const notice = h('p', { class: 'members-notice', 'data-testid': 'members-notice', hidden: true });
  const info = h('div', { class: 'members-info' });
  const list = h('ul', { class: 'members-list', 'data-testid': 'members-list' });
  const reqBox = h('section', { class: 'members-requests-box', 'data-testid': 'join-requests', hidden: true });
  const addBox = h('div');
  const footer = h('div', { class: 'members-footer' });
  const status = h('p', { class: 'members-status', 'data-testid': 'members-status', role: 'status' });
  const el = h(
    'aside',
    { class: 'members-panel', 'data-testid': 'members-panel', 'data-conv-id': id, 'aria-label': 'Group members' },
    h('header', null, h('div', { class: 'members-title' }, title, groupId),
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', 'data-testid': 'members-close', onclick: () => close() }, icon('close'))),
    notice,
    info,
    reqBox,
    list,
    addBox,
    footer,
    status,
  );
  document.body.append(el);

  // Reload when the group changes; several events in a row make one reload.
  let timer = 0;
  const soon = () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 50);
  };
  const offs = [
    client.on('conversation', (c) => c.id === id && soon()),
    client.on('message', (m) => m.conversationId === id && m.type === 'system' && soon()),
    client.on('joinRequest', (n) => n.conversationId === id && soon()),
    client.on('state', (e) => e.state === 'connected' && soon()),
  ];
  function close(): void {
    clearTimeout(timer);
    offs.forEach((off) => off());
    el.remove();
    if (panel?.close === close) panel = null;
  }
  panel = { id, close };

  async function act(f: () => Promise<unknown>, done: string): Promise<void> {
    status.textContent = '…';
    status.classList.remove('error');
    try {
      await f();
      status.textContent = done;
    } catch (e) {
      status.textContent = `Refused: ${refusal(e)}`;
      status.classList.add('error');
    }
    await load();
  }

  // Only the newest load renders: an older one finishing late would show stale roles.
  let seq = 0;
  async function load(): Promise<void> {
    const mine = ++seq;
    const cv = await client.conversation(id).catch(() => undefined);
    const role = cv?.role;
    const rank = RANK[role ?? ''] ?? 0;
    let members: Member[] = [];
    let pending: GroupNotice[] = [];
    let err = '';
    if (role) {
      try {
        members = await client.members(id);
        if (rank >= RANK.admin && cv?.joinPolicy === 'approval') pending = await client.joinRequests(id);
      } catch (e) {
        err = refusal(e);
      }
    }
    if (mine !== seq || !el.isConnected) return;
    if (rank >= RANK.admin) requests.set(id, pending.length);

    title.textContent = cv?.name || 'Members';
    notice.textContent = cv?.notice ?? '';
    notice.hidden = !cv?.notice;
    // A form the admin is editing stays as it is: a change arriving from
    // the relay meanwhile must not throw away what they typed or picked.
    const editing = info.querySelector<HTMLFormElement>('form.members-edit')?.dataset.dirty === 'true';
    if (!(editing && rank >= RANK.admin)) {
      info.replaceChildren(...(cv && rank >= RANK.admin ? [infoForm(cv)] : cv?.joinPolicy ? [h('p', { class: 'members-policy' }, POLICIES[cv.joinPolicy])] : []));
    }
    if (!role) {
      list.replaceChildren(h('li', { class: 'members-gone', 'data-testid': 'members-gone' }, 'You are not a member of this group any more.'));
      reqBox.hidden = true;
      addBox.replaceChildren();
      footer.replaceChildren();
      return;
    }
    if (err) {
      list.replaceChildren(h('li', { class: 'form-error' }, `Could not load the members: ${err}`));
      return;
    }

    list.replaceChildren(...members.map((m) => memberRow(m, role)));
    reqBox.hidden = pending.length === 0;
    reqBox.replaceChildren(
      h('h3', null, `Join requests (${pending.length})`),
      ...pending.map((n) =>
        h('div', { class: 'join-request', 'data-testid': `join-request-${n.user}` },
          h('span', { class: 'member-name' }, n.user), n.note ? h('small', null, ` “${n.note}”`) : null,
          h('span', { class: 'member-actions' },
            h('button', { class: 'btn primary', type: 'button', 'data-testid': `join-accept-${n.user}`,
              onclick: () => void act(() => client.answerJoin(id, n.user, true), `${n.user} joined`) }, 'Accept'),
            h('button', { class: 'btn soft', type: 'button', 'data-testid': `join-decline-${n.user}`,
              onclick: () => void act(() => client.answerJoin(id, n.user, false), `${n.user}'s request declined`) }, 'Decline'))),
      ),
    );

    if (rank >= RANK.admin || cv?.joinPolicy === 'open') {
      const input = h('input', { type: 'text', placeholder: 'user name', 'data-testid': 'members-add-input', autocapitalize: 'off', spellcheck: 'false' });
      addBox.replaceChildren(
        h('form', { class: 'members-add', onsubmit: (e: Event) => {
          e.preventDefault();
          const users = input.value.split(/[,\s]+/).filter(Boolean);
          if (users.length) void act(() => client.addMembers(id, users), `${users.join(', ')} added`);
        } }, input, h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'members-add' }, 'Add')),
      );
    } else {
      addBox.replaceChildren();
    }

    const owner = role === 'owner';
    footer.replaceChildren(...[
      rank >= RANK.admin
        ? h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-mute-all',
            onclick: () => void act(() => client.muteAll(id, !cv?.muteAll), cv?.muteAll ? 'everyone may speak' : 'only admins may speak') },
            cv?.muteAll ? 'Let everyone speak' : 'Mute everyone')
        : null,
      !owner || members.length <= 1
        ? h('button', { class: 'btn soft', type: 'button', 'data-testid': 'members-leave',
            onclick: () => confirm('Leave this group?') && void act(() => client.leaveGroup(id), 'you left') }, 'Leave group')
        : null,
      owner
        ? h('button', { class: 'btn danger', type: 'button', 'data-testid': 'members-dismiss',
            onclick: () => confirm('Dismiss this group for everyone?') && void act(() => client.dismissGroup(id), 'the group is dismissed') }, 'Dismiss group')
        : null,
    ].filter((b): b is HTMLButtonElement => b !== null));
  }

  function memberRow(m: Member, mine: string): HTMLElement {
    const myRank = RANK[mine] ?? 0;
    const lower = myRank > (RANK[m.role] ?? 0);
    const muted = (m.mutedUntil ?? 0) > Date.now();
    const actions: HTMLElement[] = [];
    const btn = (what: string, label: string, f: () => Promise<unknown>, done: string, ask?: string) =>
      actions.push(h('button', { class: 'btn soft', type: 'button', 'data-testid': `member-${what}-${m.user}`,
        onclick: () => (!ask || confirm(ask)) && void act(f, done) }, label));
    if (mine === 'owner' && m.role !== 'owner') {
      if (m.role === 'member') btn('promote', 'Make admin', () => client.setRole(id, m.user, 'admin'), `${m.user} is an admin`);
      else btn('demote', 'Make member', () => client.setRole(id, m.user, 'member'), `${m.user} is a member`);
      btn('transfer', 'Make owner', () => client.transferGroup(id, m.user), `${m.user} owns the group`,
        `Make ${m.user} the owner? You become a member.`);
    }
    if (lower && myRank >= RANK.admin) {
      btn('mute', muted ? 'Unmute' : 'Mute 1 h', () => client.muteMember(id, m.user, muted ? 0 : Date.now() + HOUR), muted ? `${m.user} may speak` : `${m.user} is muted for an hour`);
      btn('remove', 'Remove', () => client.removeMembers(id, [m.user]), `${m.user} removed`, `Remove ${m.user} from the group?`);
    }
    return h(
      'li',
      { class: 'member', 'data-testid': `member-${m.user}`, 'data-role': m.role, 'data-muted': muted ? 'true' : undefined },
      h('span', { class: 'member-name' }, m.user, m.user === me ? h('small', null, ' (you)') : null),
      h('span', { class: `member-role role-${m.role}`, 'data-testid': `member-role-${m.user}` }, m.role),
      muted ? h('span', { class: 'member-muted', 'data-testid': `member-muted-${m.user}` }, `muted until ${timeFmt.format(m.mutedUntil!)}`) : null,
      h('span', { class: 'member-actions' }, ...actions),
    );
  }

  /** The name, notice and join policy, editable by admins. */
  function infoForm(cv: Conversation): HTMLElement {
    const name = h('input', { type: 'text', value: cv.name ?? '', maxlength: 100, 'data-testid': 'group-name-input' });
    const text = h('textarea', { rows: 2, maxlength: 4096, 'data-testid': 'group-notice-input', placeholder: 'A notice every member sees' });
    text.value = cv.notice ?? '';
    const policy = h('select', { 'data-testid': 'group-policy' },
      ...(Object.keys(POLICIES) as JoinPolicy[]).map((p) => h('option', { value: p }, POLICIES[p])));
    policy.value = cv.joinPolicy ?? 'invite';
    const dirty = (e: Event) => ((e.currentTarget as HTMLFormElement).dataset.dirty = 'true');
    return h('form', {
      class: 'members-edit',
      oninput: dirty,
      onchange: dirty,
      onsubmit: (e: Event) => {
        e.preventDefault();
        delete (e.currentTarget as HTMLFormElement).dataset.dirty; // saved: the next load shows the group as it is
        const update: { name?: string; notice?: string; joinPolicy?: JoinPolicy } = {};
        if (name.value.trim() && name.value.trim() !== (cv.name ?? '')) update.name = name.value.trim();
        if (text.value !== (cv.notice ?? '')) update.notice = text.value;
        if (policy.value !== (cv.joinPolicy ?? 'invite')) update.joinPolicy = policy.value as JoinPolicy;
        if (Object.keys(update).length === 0) return;
        void act(() => client.updateGroup(id, update), 'saved');
      },
    },
    h('label', null, 'Name', name),
    h('label', null, 'Notice', text),
    h('label', null, 'Joining', policy),
    h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'group-save' }, 'Save'));
  }

  await load();
}

/**
 * groupPane adds to the open conversation what its group state means: the
 * group's notice above the thread, and above the composer why a send will
 * be refused (muted, everyone muted, no longer a member). It also closes a
 * members panel of another conversation. chat.ts calls it on each render of
 * the pane.
 */
export function groupPane(root: HTMLElement, cv: Conversation | undefined): void {
  if (panel && panel.id !== cv?.id) panel.close();
  const section = root.querySelector<HTMLElement>('.conversation');
  const list = section?.querySelector<HTMLElement>('.message-list');
  const composer = section?.querySelector<HTMLElement>('.composer');
  if (!section || !list || !composer) return;
  let banner = section.querySelector<HTMLElement>('.group-notice');
  if (!banner) {
    banner = h('div', { class: 'group-notice', 'data-testid': 'group-notice', hidden: true });
    section.insertBefore(banner, list);
  }
  let note = section.querySelector<HTMLElement>('.composer-note');
  if (!note) {
    note = h('div', { class: 'composer-note', 'data-testid': 'composer-note', role: 'status', hidden: true });
    section.insertBefore(note, composer);
  }
  const group = cv?.type === 'group';
  banner.hidden = !group || !cv?.notice;
  banner.textContent = group && cv?.notice ? cv.notice : '';

  let text = '';
  let why = '';
  if (group && cv) {
    const until = cv.mutedUntil ?? 0;
    if (!cv.role && cv.lastSeq > 0) {
      text = 'You are not a member of this group any more.';
      why = 'gone';
    } else if (until > Date.now() || cv.mutedInGroup) {
      text = until ? `You are muted in this group until ${timeFmt.format(until)}.` : 'You are muted in this group.';
      why = 'muted';
    } else if (cv.muteAll && cv.role === 'member') {
      text = 'Only admins may send messages in this group now.';
      why = 'muteAll';
    }
  }
  note.textContent = text;
  note.hidden = !text;
  note.dataset.why = why;
}

/**
 * openJoinGroup asks for a group id and sends a join request (or joins at
 * once an open group); the group opens when this user is in it.
 */
export function openJoinGroup(client: ParleyClient): void {
  const input = h('input', { type: 'text', placeholder: 'g:alice.trip', 'data-testid': 'join-group-id', autocapitalize: 'off', spellcheck: 'false' });
  const note = h('input', { type: 'text', placeholder: 'Hi, it is me', 'data-testid': 'join-group-note', maxlength: 200 });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const result = h('p', { class: 'notice', 'data-testid': 'join-group-result', hidden: true });
  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'join-group-submit' }, 'Ask to join');
  const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Join a group', 'data-testid': 'join-group-dialog' });
  dialog.append(
    h('form', {
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const id = input.value.trim();
        error.hidden = true;
        if (!/^g:[A-Za-z0-9_.@-]{1,64}$/.test(id)) {
          error.textContent = 'A group id looks like g:alice.trip (the group’s members panel shows it).';
          error.hidden = false;
          return;
        }
        submit.disabled = true;
        try {
          await client.requestJoin(id, note.value.trim() || undefined);
          const cv = await client.conversation(id);
          if (cv?.role) {
            dialog.close();
            location.hash = `#${id}`;
            return;
          }
          result.textContent = 'Request sent. The group opens here once an admin accepts it.';
          result.hidden = false;
        } catch (err) {
          error.textContent = `Could not ask to join: ${refusal(err)}`;
          error.hidden = false;
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('header', null, h('h2', null, 'Join a group'),
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => dialog.close() }, icon('close'))),
    h('label', null, 'Group id', input),
    h('label', null, 'A note for the admins', note),
    error,
    result,
    h('footer', null, h('button', { class: 'btn', type: 'button', onclick: () => dialog.close() }, 'Close'), submit)),
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}

/** systemText describes a group change (a `system` message) in one line. */
export function systemText(body: unknown): string {
  const b = (body ?? {}) as {
    event?: string; by?: string; users?: string[]; role?: string; until?: number; on?: boolean;
    name?: string; notice?: string; avatar?: string; joinPolicy?: JoinPolicy;
  };
  const who = (b.users ?? []).join(', ');
  switch (b.event) {
    case 'created': return b.name ? `${b.by} created the group “${b.name}”` : `${b.by} created the group`;
    case 'added': return `${b.by} added ${who}`;
    case 'invited': return `${b.by} invited ${who}`;
    case 'joined': return `${who} joined`;
    case 'removed': return `${b.by} removed ${who}`;
    case 'left': return `${who} left`;
    case 'role': return `${b.by} made ${who} ${b.role === 'admin' ? 'an admin' : 'a member'}`;
    case 'muted': return b.until ? `${b.by} muted ${who} until ${timeFmt.format(b.until)}` : `${b.by} unmuted ${who}`;
    case 'muteAll': return b.on ? `${b.by} muted everyone` : `${b.by} unmuted everyone`;
    case 'transferred': return `${b.by} made ${who} the owner`;
    case 'updated': {
      const parts: string[] = [];
      if (b.name !== undefined) parts.push(`renamed the group to “${b.name}”`);
      if (b.notice !== undefined) parts.push(b.notice ? `set the notice to “${b.notice}”` : 'cleared the notice');
      if (b.avatar !== undefined) parts.push('changed the picture');
      if (b.joinPolicy) parts.push(`set joining to “${POLICIES[b.joinPolicy] ?? b.joinPolicy}”`);
      return `${b.by} ${parts.length ? parts.join(' and ') : 'updated the group'}`;
    }
    case 'dismissed': return `${b.by} dismissed the group`;
    case 'joinDeclined': return `${b.by} declined ${who}'s request`;
    case 'inviteDeclined': return `${who} declined the invitation`;
  }
  return `[group change]`;
}
