// The signed-in app: conversation list on the left, the open conversation on
// the right. Every piece of Parley state comes from a hook of
// @parley-im/react; the calls that change something (send, markRead, p2p) go
// to the client from useClient().
import { useClient, useConnectionState, useConversations, useMessages, type ConversationsResult } from '@parley-im/react';
import type { Conversation, Message } from '@parley-im/sdk';
import { useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { signOut } from './session';

/** Messages per page: the first page and each "Load older". */
export const PAGE_SIZE = 20;

const STATE_LABEL: Record<string, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  connected: 'Online',
  reconnecting: 'Reconnecting…',
  disconnected: 'Offline',
  closed: 'Signed out',
};

/** The open conversation is in the URL (#p:alice:bob), so a reload reopens it. */
function useSelected(): [string, (id: string) => void] {
  const read = () => {
    try {
      return decodeURIComponent(location.hash.slice(1));
    } catch {
      return '';
    }
  };
  const [id, setId] = useState(read);
  useEffect(() => {
    const onHash = () => setId(read());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const open = (next: string) => {
    history.replaceState(null, '', `#${encodeURIComponent(next)}`);
    setId(next);
  };
  return [id, open];
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^parley: \d+ /, '');
}

export function Chat({ me }: { me: string }) {
  const [selected, select] = useSelected();
  const list = useConversations();
  return (
    <div className="shell">
      <aside className="sidebar">
        <header className="bar">
          <strong className="me">{me}</strong>
          <ConnectionBadge />
          <button className="link" data-testid="sign-out" onClick={() => void signOut()}>
            Sign out
          </button>
        </header>
        <NewChat onOpen={select} />
        <ConversationList list={list} me={me} selected={selected} onSelect={select} />
      </aside>
      <main className="pane">
        {selected ? (
          <MessageView key={selected} conversationId={selected} conv={list.conversations.find((c) => c.id === selected)} me={me} />
        ) : (
          <p className="empty">Pick a conversation or start one.</p>
        )}
      </main>
    </div>
  );
}

function ConnectionBadge() {
  const { state, code, reason } = useConnectionState();
  const title = code ? `${code}${reason ? ` ${reason}` : ''}` : undefined;
  return (
    <span className={`badge ${state}`} data-testid="conn-state" data-state={state} title={title}>
      {STATE_LABEL[state] ?? state}
    </span>
  );
}

function NewChat({ onOpen }: { onOpen(id: string): void }) {
  const client = useClient();
  const [peer, setPeer] = useState('');
  const [error, setError] = useState('');
  function submit(e: FormEvent) {
    e.preventDefault();
    const name = peer.trim();
    if (!name) return;
    try {
      // p2p() needs the user id, which the client knows after its first
      // connection (or from its cache).
      onOpen(client.p2p(name));
      setPeer('');
      setError('');
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <form className="new-chat" onSubmit={submit}>
      <input data-testid="new-chat-user" placeholder="Chat with… (user name)" value={peer} onChange={(e) => setPeer(e.target.value)} />
      <button type="submit" data-testid="new-chat-submit">
        Open
      </button>
      {error && <p className="error">{error}</p>}
    </form>
  );
}

function title(c: Pick<Conversation, 'id' | 'type' | 'name' | 'members'>, me: string): string {
  if (c.type === 'group') return c.name || c.id.replace(/^g:/, '');
  const members = c.members.length ? c.members : c.id.slice(2).split(':');
  return members.find((u) => u !== me) ?? c.id;
}

interface ListProps {
  list: ConversationsResult;
  me: string;
  selected: string;
  onSelect(id: string): void;
}

function ConversationList({ list: { conversations, loading, error }, me, selected, onSelect }: ListProps) {
  if (error) return <p className="error">Could not read the conversations: {errorText(error)}</p>;
  if (loading && conversations.length === 0) return <p className="muted">Loading…</p>;
  return (
    <ul className="conversations" data-testid="conv-list">
      {conversations.length === 0 && <li className="muted">No conversations yet.</li>}
      {conversations.map((c) => (
        <li key={c.id}>
          <button
            className={c.id === selected ? 'conv active' : 'conv'}
            data-testid="conv-item"
            data-conv-id={c.id}
            onClick={() => onSelect(c.id)}
          >
            <span className="conv-title">{title(c, me)}</span>
            <span className="conv-last">{c.lastMessage?.text ?? ''}</span>
            {c.unread > 0 && (
              <span className="unread" data-testid="unread">
                {c.unread}
              </span>
            )}
          </button>
        </li>
      ))}
    </ul>
  );
}

interface ViewProps {
  conversationId: string;
  /** Absent for a new chat until its first message. */
  conv: Conversation | undefined;
  me: string;
}

function MessageView({ conversationId, conv, me }: ViewProps) {
  const client = useClient();
  const { messages, loadOlder, hasMore, loading, error } = useMessages(conversationId, { pageSize: PAGE_SIZE });
  const list = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const prevHeight = useRef(0);

  // Read what is on screen: the open conversation's unread count goes to 0.
  const unread = conv?.unread ?? 0;
  useEffect(() => {
    if (unread > 0 && document.visibilityState === 'visible') client.markRead(conversationId).catch(() => {});
  }, [client, conversationId, unread]);

  // Stay at the bottom for new messages; keep the view still when older ones come in on top.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (pinned.current) el.scrollTop = el.scrollHeight;
    else el.scrollTop += el.scrollHeight - prevHeight.current;
    prevHeight.current = el.scrollHeight;
  }, [messages]);

  return (
    <section className="thread">
      <header className="bar">
        <strong>{conv ? title(conv, me) : title({ id: conversationId, type: conversationId.startsWith('g:') ? 'group' : 'p2p', members: [] }, me)}</strong>
      </header>
      <div
        className="messages"
        data-testid="message-list"
        ref={list}
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {hasMore && (
          <button
            className="load-older"
            data-testid="load-older"
            disabled={loading}
            onClick={() => {
              pinned.current = false;
              void loadOlder();
            }}
          >
            {loading ? 'Loading…' : 'Load older messages'}
          </button>
        )}
        {error != null && <p className="error">Could not load messages: {errorText(error)}</p>}
        {messages.map((m) => (
          <MessageRow key={m.clientId ? `${m.sender || me}/${m.clientId}` : m.id} m={m} own={(m.sender || me) === me} />
        ))}
        {!loading && messages.length === 0 && <p className="muted">No messages yet. Say hello.</p>}
      </div>
      <Composer conversationId={conversationId} onSend={() => (pinned.current = true)} />
    </section>
  );
}

/** The line a message shows: its text, a group change in words, else its type. */
function messageText(m: Message): string {
  if (m.text !== undefined) return m.text;
  const b = (m.type === 'system' ? m.body : undefined) as { event?: string; by?: string; users?: string[] } | undefined;
  if (b?.event === 'created') return `${b.by} created the group`;
  if (b?.event) return `${b.by} · ${b.event} ${(b.users ?? []).join(', ')}`.trim();
  return `[${m.type} message]`;
}

function MessageRow({ m, own }: { m: Message; own: boolean }) {
  const client = useClient();
  const time = new Date(m.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return (
    <div className={own ? 'msg own' : 'msg'} data-testid="message" data-seq={m.seq} data-status={m.status} data-sender={m.sender}>
      {!own && <span className="sender">{m.sender}</span>}
      <span className="text">{messageText(m)}</span>
      <span className="meta">
        {time}
        {m.status === 'pending' && ' · sending'}
        {m.status === 'failed' && (
          <>
            {' · failed '}
            <button className="link" data-testid="retry" onClick={() => void client.resend(m.clientId).catch(() => {})}>
              retry
            </button>
          </>
        )}
      </span>
    </div>
  );
}

function Composer({ conversationId, onSend }: { conversationId: string; onSend(): void }) {
  const client = useClient();
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  function send() {
    const t = text.trim();
    if (!t) return;
    setText('');
    setError('');
    onSend();
    // The pending message shows at once through the `message` event; this
    // promise settles when the relay acknowledged it.
    client.sendText(conversationId, t).catch((err: unknown) => setError(errorText(err)));
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  }
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {error && <p className="error">{error}</p>}
      <textarea data-testid="composer" rows={2} placeholder="Write a message" value={text} onChange={(e) => setText(e.target.value)} onKeyDown={onKey} />
      <button className="primary" type="submit" data-testid="send" disabled={!text.trim()}>
        Send
      </button>
    </form>
  );
}
