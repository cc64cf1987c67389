// What the app keeps in memory about conversations and messages, fed by the
// SDK's events. Pure data and helpers; no DOM here.
import type { Conversation, Message } from '@parley-im/sdk';
import { callRecordText } from './calls';
import { systemText } from './members';

/** The messages of one conversation that the app has loaded. */
export interface Thread {
  byKey: Map<string, Message>;
  /** The first page was asked for. */
  started: boolean;
  /** A page request is in flight. */
  loading: boolean;
  /** Older messages may exist before the oldest loaded one. */
  hasMore: boolean;
  error?: string;
}

export function newThread(): Thread {
  return { byKey: new Map(), started: false, loading: false, hasMore: true };
}

/**
 * A stable key for a message across its life: a pending message (no id or
 * seq yet) and its acknowledged version share sender and clientId.
 */
export function messageKey(m: Message, me: string): string {
  if (m.clientId) return `${m.sender || me}/${m.clientId}`;
  return `id/${m.id}`;
}

/** Inserts or replaces m; a stale pending copy never overwrites a sent one. */
export function upsert(t: Thread, m: Message, me: string): void {
  const key = messageKey(m, me);
  const old = t.byKey.get(key);
  if (old && old.status === 'sent' && m.status !== 'sent' && (m.seq ?? 0) === 0) return;
  t.byKey.set(key, m);
}

/** Time to show for a message: the server's time once sent, the local one before. */
export function messageTime(m: Message): number {
  return m.createdAt || m.localTime || 0;
}

/** Sent messages by seq, then pending/failed ones in the order they were written. */
export function sortedMessages(t: Thread): Message[] {
  return [...t.byKey.values()].sort((a, b) => {
    const as = a.seq || 0, bs = b.seq || 0;
    if (as && bs) return as - bs;
    if (as) return -1;
    if (bs) return 1;
    return messageTime(a) - messageTime(b);
  });
}

export function oldestSeq(t: Thread): number {
  let min = 0;
  for (const m of t.byKey.values()) if (m.seq && (min === 0 || m.seq < min)) min = m.seq;
  return min;
}

/** The other user of a p2p conversation id "p:alice:bob". */
export function peerOf(c: Pick<Conversation, 'id' | 'members'>, me: string): string {
  const members = c.members?.length ? c.members : c.id.startsWith('p:') ? c.id.slice(2).split(':') : [];
  return members.find((u) => u !== me) ?? members[0] ?? c.id;
}

export function convTitle(c: Conversation, me: string): string {
  if (c.type === 'p2p') return peerOf(c, me);
  return c.name || c.id.replace(/^g:/, 'Group ');
}

export function convMembers(c: Conversation): string[] {
  return c.members ?? [];
}

/** One line of text standing for a message (list previews, notifications). */
export function previewText(m: Message | undefined): string {
  if (!m) return '';
  if (m.type === 'system') return systemText(m.body);
  if (m.type === 'call') return callRecordText(m.body);
  if (m.type === 'text' || m.text) return (m.text ?? '').replace(/\s+/g, ' ').trim();
  return `[${m.type} message]`;
}
