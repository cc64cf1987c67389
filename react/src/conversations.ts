import { useEffect, useState } from 'react';
import type { Conversation, ParleyClient } from '@parley-im/sdk';
import { useClient } from './context.js';
import { mergeConversations, upsertConversation } from './merge.js';

/** What {@link useConversations} returns. */
export interface ConversationsResult {
  /**
   * Pinned ones first, then most recent activity, then by id: the order of
   * `client.conversations()`, which leaves hidden ones out.
   */
  conversations: Conversation[];
  /** The list is being read from the local cache (at first, and after a `reset`). */
  loading: boolean;
  /** Why reading the list failed (a `ParleyError`), until it is read again. */
  error: unknown;
}

interface Held {
  client: ParleyClient;
  result: ConversationsResult;
}

const LOADING: ConversationsResult = Object.freeze({ conversations: [], loading: true, error: undefined }) as ConversationsResult;

/**
 * useConversations returns the conversation list: `client.conversations()`
 * from the local cache (so it shows before the connection is up, and
 * offline), then kept current by `conversation` events, in the client's
 * order (pinned first, then most recent activity); a conversation hidden
 * with `setConversation` leaves the list until a newer message shows it
 * again. After a `reset` event (the relay's store was reset and the client
 * dropped its cache) it reads the list again.
 *
 * ```tsx
 * const { conversations, loading } = useConversations();
 * if (loading && conversations.length === 0) return <Spinner />;
 * return <ul>{conversations.map((c) => <li key={c.id}>{c.name ?? c.id} {c.unread || ''}</li>)}</ul>;
 * ```
 */
export function useConversations(): ConversationsResult {
  const client = useClient();
  const [held, setHeld] = useState<Held>(() => ({ client, result: LOADING }));

  useEffect(() => {
    let active = true;
    // While a read is in flight, the conversations events deliver are newer
    // than what it will return: kept here and laid over its result.
    let live: Conversation[] | null = null;
    let reads = 0;
    const read = () => {
      const n = ++reads;
      live = [];
      setHeld((h) => (h.client === client && h.result === LOADING ? h : { client, result: LOADING }));
      client.conversations().then(
        (list) => {
          if (!active || n !== reads) return;
          const conversations = mergeConversations(list, live ?? []);
          live = null;
          setHeld({ client, result: { conversations, loading: false, error: undefined } });
        },
        (error: unknown) => {
          if (!active || n !== reads) return;
          live = null;
          setHeld((h) => ({ client, result: { ...h.result, loading: false, error } }));
        },
      );
    };
    const offConversation = client.on('conversation', (c) => {
      if (!active) return;
      live?.push(c);
      setHeld((h) =>
        h.client === client ? { client, result: { ...h.result, conversations: upsertConversation(h.result.conversations, c) } } : h,
      );
    });
    const offReset = client.on('reset', () => {
      if (active) read();
    });
    read();
    return () => {
      active = false;
      offConversation();
      offReset();
    };
  }, [client]);

  // Another client: nothing of the old one's list, from this render on.
  return held.client === client ? held.result : LOADING;
}
