import { useCallback, useEffect, useRef, useState } from 'react';
import { useClient } from './context.js';

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
 * for {@link TYPING_SHOW_MS} after the last one from that user) and gives the
 * composer a callback that says this user types.
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
  const [typing, setTyping] = useState<string[]>([]);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  useEffect(() => {
    setTyping([]);
    const held = timers.current;
    if (!conversationId) return undefined;
    const off = client.on('typing', (e) => {
      if (e.conversationId !== conversationId) return;
      const old = held.get(e.user);
      if (old !== undefined) clearTimeout(old);
      held.set(
        e.user,
        setTimeout(() => {
          held.delete(e.user);
          setTyping((users) => users.filter((u) => u !== e.user));
        }, TYPING_SHOW_MS),
      );
      setTyping((users) => (users.includes(e.user) ? users : [...users, e.user]));
    });
    return () => {
      off();
      for (const t of held.values()) clearTimeout(t);
      held.clear();
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

  return { typing, notifyTyping };
}
