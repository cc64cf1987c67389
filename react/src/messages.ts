import { useCallback, useEffect, useRef, useState } from 'react';
import type { Message, ParleyClient } from '@parley-im/sdk';
import { useClient } from './context.js';
import { applyEvent, applyPage, emptyWindow, hasOlder, type MessageWindow } from './merge.js';

/** Options of {@link useMessages}. */
export interface UseMessagesOptions {
  /** Messages per page, the first one and each older one. Defaults to 50; the relay caps a page at 500. */
  pageSize?: number;
}

/** What {@link useMessages} returns. */
export interface MessagesResult {
  /**
   * The loaded messages: sent ones ascending by seq, then this device's
   * pending and failed ones in the order they were written.
   */
  messages: Message[];
  /**
   * Loads the page before the oldest loaded message. Resolves when it is in
   * (at once when there is nothing older); a call while a page is loading
   * returns that page's promise. Never rejects: a failure is in `error`.
   */
  loadOlder(): Promise<void>;
  /**
   * Older messages than the oldest loaded one may be shown: its seq is
   * above 1 and no older page came back saying none is left to show.
   */
  hasMore: boolean;
  /** A page is being read. */
  loading: boolean;
  /** Why the last page failed (a `ParleyError`), until a page succeeds. */
  error: unknown;
}

interface Held {
  client: ParleyClient;
  conversationId: string;
  window: MessageWindow;
  loading: boolean;
  error: unknown;
}

/** What a mounted effect owns; loadOlder reaches it through a ref. */
interface Session {
  client: ParleyClient;
  conversationId: string;
  active: boolean;
  /** Counts starts over (reset events): a page of an earlier one is dropped. */
  generation: number;
  /** The page in flight, if any. */
  inFlight: Promise<void> | null;
  page(beforeSeq: number): Promise<void>;
}

const NONE: Message[] = [];

/**
 * useMessages returns the messages of one conversation, newest page first,
 * with paging to older ones, and keeps them current: `message` and
 * `messageUpdate` events add new messages and turn this device's pending
 * ones into sent (or failed) ones in place, matched by client id, so a
 * message never shows twice when an event and a page both carry it.
 *
 * The first page comes from `client.messages(id, { limit })`, older ones
 * from `client.history(id, { beforeSeq, limit })`: the local cache first,
 * the relay for what the cache lacks (offline, the cache is all there is).
 * A conversation id of `null` or `''` shows nothing.
 *
 * ```tsx
 * const { messages, loadOlder, hasMore, loading } = useMessages(conversationId, { pageSize: 30 });
 * return (
 *   <>
 *     {hasMore && <button disabled={loading} onClick={() => void loadOlder()}>Load older</button>}
 *     {messages.map((m) => <p key={m.clientId || m.id}>{m.sender}: {m.text} ({m.status})</p>)}
 *   </>
 * );
 * ```
 */
export function useMessages(conversationId: string | null | undefined, options: UseMessagesOptions = {}): MessagesResult {
  const client = useClient();
  const id = conversationId ?? '';
  const pageSize = options.pageSize ?? 50;
  const fresh = (): Held => ({ client, conversationId: id, window: emptyWindow(), loading: id !== '', error: undefined });
  const [held, setHeld] = useState<Held>(fresh);
  const session = useRef<Session | null>(null);
  // The page size is read when a page starts; changing it needs no new subscription.
  const size = useRef(pageSize);
  size.current = pageSize;

  useEffect(() => {
    if (id === '') {
      setHeld((h) => (h.client === client && h.conversationId === id ? h : fresh()));
      return undefined;
    }
    const mine = (h: Held) => h.client === client && h.conversationId === id;
    const s: Session = {
      client,
      conversationId: id,
      active: true,
      generation: 0,
      inFlight: null,
      page(beforeSeq) {
        const gen = s.generation;
        const current = () => s.active && s.generation === gen;
        setHeld((h) => (mine(h) && !h.loading ? { ...h, loading: true } : h));
        // The first page is messages(): the newest, then this device's
        // unsent ones. Older pages are history(), which reads on past the
        // entries it does not show and says whether any older message is
        // left: a conversation whose oldest messages were deleted for this
        // user, or sent before they joined, has no message at seq 1 to
        // reach. Offline, hasMore stays true while the relay may hold older
        // messages the cache lacks, so a page that says none is left ends
        // the paging online or not.
        const read: Promise<{ page: Message[]; last: boolean }> =
          beforeSeq === 0
            ? client.messages(id, { limit: size.current }).then((page) => ({ page, last: false }))
            : client.history(id, { beforeSeq, limit: Math.min(Math.max(size.current, 1), 500) }).then((r) => ({
                page: r.messages,
                last: !r.hasMore,
              }));
        const p = read.then(
          ({ page, last }) => {
            if (!current()) return;
            setHeld((h) => (mine(h) ? { ...h, window: applyPage(h.window, page, last), loading: false, error: undefined } : h));
          },
          (error: unknown) => {
            if (!current()) return;
            setHeld((h) => (mine(h) ? { ...h, loading: false, error } : h));
          },
        );
        const done = p.finally(() => {
          if (s.inFlight === done) s.inFlight = null;
        });
        s.inFlight = done;
        return done;
      },
    };
    session.current = s;
    setHeld((h) => (mine(h) && !h.window.started && h.window.messages.length === 0 ? h : fresh()));
    const onMessage = (m: Message) => {
      if (!s.active || m.conversationId !== id) return;
      setHeld((h) => {
        if (!mine(h)) return h;
        const window = applyEvent(h.window, id, m);
        return window === h.window ? h : { ...h, window };
      });
    };
    const offs = [
      client.on('message', onMessage),
      client.on('messageUpdate', onMessage),
      // The relay's store was reset and the client dropped its cache: start over.
      client.on('reset', () => {
        if (!s.active) return;
        s.generation++;
        s.inFlight = null;
        setHeld(fresh());
        void s.page(0);
      }),
    ];
    void s.page(0);
    return () => {
      s.active = false;
      if (session.current === s) session.current = null;
      for (const off of offs) off();
    };
    // fresh() reads only client and id.
  }, [client, id]);

  const current = held.client === client && held.conversationId === id ? held : fresh();
  const floor = current.window.floor;
  const started = current.window.started;
  const more = hasOlder(current.window);

  const loadOlder = useCallback((): Promise<void> => {
    const s = session.current;
    if (!s || !s.active || s.client !== client || s.conversationId !== id) return Promise.resolve();
    if (s.inFlight) return s.inFlight;
    if (!started || !more) return Promise.resolve();
    return s.page(floor);
  }, [client, id, floor, started, more]);

  return {
    messages: current.window.messages.length > 0 ? current.window.messages : NONE,
    loadOlder,
    hasMore: more,
    loading: current.loading,
    error: current.error,
  };
}
