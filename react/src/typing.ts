import { useCallback, useEffect, useRef, useState } from 'react';
import type { ParleyClient } from '@parley-im/sdk';
import { useClient } from './context.js';

const NONE: string[] = [];

/** How long a user shows as typing after their last `typing` event, in ms. */
export const TYPING_SHOW_MS = 5000;

/** What {@link useTyping} returns. */
export interface TypingResult {
  /** The other users typing in the conversation now, in the order they started. */
  typing: string[];
  /** Call on every key press in the composer: the client throttles what it sends. */
  notifyTyping: () => void;
}

/**
 * useTyping follows who types in a conversation (`typing` events, each shown
 * for {@link TYPING_SHOW_MS} after the last one from that user, or until a
 * message from that user arrives in the conversation) and gives the composer
 * a callback that says this user types.
 *
 * ```tsx
 * const { typing, notifyTyping } = useTyping(conversationId);
 * return <>
 *   {typing.length > 0 && <p>{typing.join(', ')} typing…</p>}
 *   <input onInput={notifyTyping} />
 * </>;
 * ```
 */
export function useTyping(conversationId: string | null | undefined): TypingResult {
  const client = useClient();
  const [held, setHeld] = useState<{ client: ParleyClient; conversationId: string | null | undefined; typing: string[] }>(() => ({
    client,
    conversationId,
    typing: NONE,
  }));
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  useEffect(() => {
    const mine = (h: typeof held) => h.client === client && h.conversationId === conversationId;
    const setTyping = (f: (users: string[]) => string[]) =>
      setHeld((h) => {
        const before = mine(h) ? h.typing : NONE;
        const typing = f(before);
        return mine(h) && typing === before ? h : { client, conversationId, typing };
      });
    setTyping(() => NONE);
    const running = timers.current;
    if (!conversationId) return undefined;
    const stop = (user: string) => {
      const t = running.get(user);
      if (t === undefined) return;
      clearTimeout(t);
      running.delete(user);
      setTyping((users) => users.filter((u) => u !== user));
    };
    const off = client.on('typing', (e) => {
      if (e.conversationId !== conversationId) return;
      const old = running.get(e.user);
      if (old !== undefined) clearTimeout(old);
      running.set(e.user, setTimeout(() => stop(e.user), TYPING_SHOW_MS));
      setTyping((users) => (users.includes(e.user) ? users : [...users, e.user]));
    });
    // The message is what its sender was typing: they stop showing at once.
    const offMessage = client.on('message', (m) => {
      if (m.conversationId === conversationId && m.sender) stop(m.sender);
    });
    return () => {
      off();
      offMessage();
      for (const t of running.values()) clearTimeout(t);
      running.clear();
    };
  }, [client, conversationId]);

  const notifyTyping = useCallback(() => {
    if (!conversationId) return;
    try {
      client.typing(conversationId);
    } catch {
      // An invalid id: nothing to tell anyone.
    }
  }, [client, conversationId]);

  // Another client or conversation: nobody of the old one's, from this render on.
  const typing = held.client === client && held.conversationId === conversationId ? held.typing : NONE;
  return { typing, notifyTyping };
}
