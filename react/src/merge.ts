// The pure part of the hooks: how a loaded window of messages and the
// conversation list take in pages, lists and events. No React here, so the
// rules are tested on their own in Node.
import type { Conversation, Message } from '@parley-im/sdk';

/**
 * MessageWindow is what {@link useMessages} shows of one conversation: the
 * sent messages from `floor` up to the newest, then the unsent ones (pending
 * or failed) in the order they were written. @internal
 */
export interface MessageWindow {
  /** Sent messages ascending by seq, then unsent ones by local time. */
  messages: Message[];
  /**
   * The lowest seq the window holds, 0 while it holds no sent message. Live
   * messages below it are left to the next older page: taking them would
   * open a hole the page cursor skips.
   */
  floor: number;
  /** The first page arrived. */
  started: boolean;
  /**
   * An older page said that nothing older is shown: the messages below the
   * floor, if any, are not this user's to see (deleted for me, or sent
   * before they joined the group).
   */
  start: boolean;
}

/** emptyWindow is a window before its first page. @internal */
export function emptyWindow(): MessageWindow {
  return { messages: [], floor: 0, started: false, start: false };
}

/**
 * sameSend reports whether a and b are the same send: one client id from one
 * sender. A message written before the client knew its user id has an empty
 * sender until the relay acknowledges it. @internal
 */
export function sameSend(a: Message, b: Message): boolean {
  return a.clientId !== '' && a.clientId === b.clientId && (a.sender === b.sender || a.sender === '' || b.sender === '');
}

/** compareMessages orders sent messages by seq, then unsent ones by the time they were written. @internal */
export function compareMessages(a: Message, b: Message): number {
  if (a.seq > 0 && b.seq > 0) return a.seq - b.seq;
  if (a.seq > 0) return -1;
  if (b.seq > 0) return 1;
  const ta = a.localTime || a.createdAt, tb = b.localTime || b.createdAt;
  if (ta !== tb) return ta - tb;
  return a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0;
}

/** insertAt is where m goes in the sorted list (after equals). */
function insertAt(list: readonly Message[], m: Message): number {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareMessages(list[mid]!, m) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * put merges one message into a sorted list and returns the new list, or the
 * same list when nothing changed. `replace` decides who wins when the message
 * is already there: an event is newer than what the list holds, a page may be
 * older than an event that arrived while it was in flight.
 */
function put(list: readonly Message[], m: Message, replace: boolean): readonly Message[] {
  // Unsent messages sort last: scan them from the end.
  let unsent = -1;
  for (let i = list.length - 1; i >= 0 && list[i]!.seq === 0; i--) {
    if (sameSend(list[i]!, m)) unsent = i;
  }
  if (m.seq > 0) {
    // The sent copy of a pending message takes the pending one's place.
    const base = unsent >= 0 ? list.filter((_, i) => i !== unsent) : list;
    const at = insertAt(base, m);
    const old = base[at - 1];
    if (old && old.seq === m.seq) {
      if (!replace || old === m) return base;
      const next = base.slice();
      next[at - 1] = m;
      return next;
    }
    const next = base.slice();
    next.splice(at, 0, m);
    return next;
  }
  // Unsent (pending or failed): a sent copy of the same send wins over it.
  if (list.some((x) => x.seq > 0 && sameSend(x, m))) return list;
  if (unsent >= 0 && !replace) return list;
  const next = unsent >= 0 ? list.filter((_, i) => i !== unsent) : list.slice();
  next.splice(insertAt(next, m), 0, m);
  return next;
}

/**
 * applyEvent takes one `message` or `messageUpdate` event into the window
 * of conversationId; a message deleted for this user (`hidden`) leaves it.
 * Events of other conversations, and sent messages below the floor, leave
 * it as it is (the same object). @internal
 */
export function applyEvent(w: MessageWindow, conversationId: string, m: Message): MessageWindow {
  if (m.conversationId !== conversationId) return w;
  if (m.hidden === true) {
    // Deleted for me: it leaves the list, as pages leave it out. The floor
    // stays: paging goes on below it.
    const messages = w.messages.filter((x) => !(m.seq > 0 ? x.seq === m.seq : sameSend(x, m)));
    return messages.length === w.messages.length ? w : { ...w, messages };
  }
  if (m.seq > 0 && w.started && m.seq < w.floor) return w;
  const messages = put(w.messages, m, true);
  if (messages === w.messages) return w;
  // A window whose first page held no sent message starts at the first live one.
  const floor = m.seq > 0 && w.started && w.floor === 0 ? m.seq : w.floor;
  return { ...w, messages: messages as Message[], floor };
}

/**
 * applyPage takes a page from `client.messages()` or `client.history()` into
 * the window. The first page sets the floor and drops what arrived below it
 * meanwhile; an older page lowers it. A page never overwrites a message the
 * window already holds: what an event delivered is at least as new. `last`
 * says the page was the oldest there is to show. @internal
 */
export function applyPage(w: MessageWindow, page: readonly Message[], last = false): MessageWindow {
  let messages: readonly Message[] = w.messages;
  let floor = w.floor;
  const low = lowestSeq(page);
  if (!w.started) {
    if (low > 0) {
      // Live messages taken before the first page arrived: keep those it reaches.
      messages = messages.filter((m) => m.seq === 0 || m.seq >= low);
      floor = low;
    } else {
      floor = lowestSeq(messages);
    }
  } else if (low > 0 && (floor === 0 || low < floor)) {
    floor = low;
  }
  for (const m of page) messages = put(messages, m, false);
  return { messages: messages as Message[], floor, started: true, start: w.start || last };
}

function lowestSeq(list: readonly Message[]): number {
  let low = 0;
  for (const m of list) if (m.seq > 0 && (low === 0 || m.seq < low)) low = m.seq;
  return low;
}

/**
 * hasOlder reports whether messages older than the window exist: sequence
 * numbers start at 1 and have no gaps, so anything above 1 has a
 * predecessor, unless an older page said none of them is shown. @internal
 */
export function hasOlder(w: MessageWindow): boolean {
  return w.floor > 1 && !w.start;
}

/** activity is what the conversation list sorts by: the newest message's time. */
function activity(c: Conversation): number {
  return c.lastMessage?.createdAt ?? 0;
}

/**
 * compareConversations orders the list as `client.conversations()` does:
 * pinned ones first, then most recent activity, then by id. @internal
 */
export function compareConversations(a: Conversation, b: Conversation): number {
  if (Boolean(a.pinned) !== Boolean(b.pinned)) return a.pinned ? -1 : 1;
  const d = activity(b) - activity(a);
  if (d !== 0) return d;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * upsertConversation puts one changed conversation in the sorted list; a
 * hidden one leaves it, as `client.conversations()` leaves it out. @internal
 */
export function upsertConversation(list: readonly Conversation[], c: Conversation): Conversation[] {
  const next = list.filter((x) => x.id !== c.id);
  if (!c.hidden) next.push(c);
  return next.sort(compareConversations);
}

/**
 * mergeConversations combines a list read with `client.conversations()`
 * and the conversations that events delivered while it was read: the events
 * are newer. @internal
 */
export function mergeConversations(fetched: readonly Conversation[], live: readonly Conversation[]): Conversation[] {
  const byId = new Map<string, Conversation>();
  for (const c of fetched) byId.set(c.id, c);
  for (const c of live) {
    if (c.hidden) byId.delete(c.id);
    else byId.set(c.id, c);
  }
  return [...byId.values()].sort(compareConversations);
}
