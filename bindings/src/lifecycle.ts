// The message lifecycle on the TypeScript side: a send's reply and
// mentions, the lifecycle fields of a message, and which stored messages an
// application sees. Recall, edit, delete and reactions are events in the
// conversation's log (messages whose type is the operation); the client
// applies them to their targets and never shows them as messages.
import type { StoredMessage } from './bridge.gen.js';
import { invalid } from './errors.js';
import type { Message, OutgoingMessage } from './types.js';

/** The message types of lifecycle events. @internal */
export const LIFECYCLE_TYPES: ReadonlySet<string> = new Set(['recall', 'delete', 'edit', 'react', 'unreact', 'hide']);

/** The wire's mention of every member. @internal */
const MENTION_ALL = '*';

/** shown reports whether a stored message is one the application lists: not a lifecycle event, not deleted for me. @internal */
export function shown(m: StoredMessage): boolean {
  return !LIFECYCLE_TYPES.has(m.type) && m.hidden !== true;
}

/** sendExtras checks and converts a send's replyTo and mentions for the bridge. @internal */
export function sendExtras(message: OutgoingMessage): { replyTo?: string; mentions?: string[] } {
  const out: { replyTo?: string; mentions?: string[] } = {};
  const { replyTo, mentions } = message;
  if (replyTo !== undefined) {
    if (typeof replyTo !== 'string' || !/#[1-9][0-9]*$/.test(replyTo)) throw invalid('replyTo must be the id of a sent message (conversationId#seq)');
    out.replyTo = replyTo;
  }
  if (mentions !== undefined) {
    if (mentions === 'all') out.mentions = [MENTION_ALL];
    else if (Array.isArray(mentions) && mentions.every((u) => typeof u === 'string' && u !== MENTION_ALL)) out.mentions = [...mentions];
    else throw invalid("mentions must be an array of user ids or 'all'");
  }
  return out;
}

/** lifecycleFields copies a stored message's lifecycle fields to the public one. @internal */
export function lifecycleFields(m: Message, b: StoredMessage): void {
  if (b.replyTo) m.replyTo = b.replyTo;
  if (b.mentions && b.mentions.length > 0) m.mentions = b.mentions.includes(MENTION_ALL) ? 'all' : [...b.mentions];
  if (b.recalled) m.recalled = true;
  if (b.editedAt) m.editedAt = b.editedAt;
  if (b.reactions && b.reactions.length > 0) {
    const r: Record<string, string[]> = {};
    for (const { emoji, users } of b.reactions) r[emoji] = [...(users ?? [])];
    m.reactions = r;
  }
  if (b.hidden) m.hidden = true;
}
