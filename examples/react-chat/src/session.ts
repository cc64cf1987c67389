// Who is signed in, and their client. The client's life (create, connect,
// close) is kept out of React's effects: StrictMode runs effects twice in
// development, and a second client for the same user in one tab would be a
// second device. Components read the session with useSession().
import { createClient, type ParleyClient } from '@parley-im/sdk';
import { useSyncExternalStore } from 'react';

export interface Session {
  user: string;
  client: ParleyClient;
}

/** Who is signed in (cleared by "sign out"), and who was last (pre-fills the form). */
const SESSION_KEY = 'parley.reactchat.user';
const LAST_KEY = 'parley.reactchat.lastUser';

let current: Session | null = null;
let notice = '';
const listeners = new Set<() => void>();

function set(next: Session | null, why = ''): void {
  current = next;
  notice = why;
  for (const l of listeners) l();
}

export function useSession(): { session: Session | null; notice: string } {
  const session = useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
  return { session, notice };
}

export function lastUser(): string {
  return localStorage.getItem(LAST_KEY) ?? '';
}

/** The relay's WebSocket on this page's origin (the relay serves this app). */
function relayUrl(): string {
  const u = new URL('/v1/ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

/**
 * Asks the relay's development endpoint for a token (POST /dev/token?user=,
 * served only with --dev-tokens). A real app gets tokens from its own server.
 */
export async function fetchDevToken(user: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`/dev/token?user=${encodeURIComponent(user)}`, { method: 'POST', cache: 'no-store' });
  } catch {
    throw new Error('Cannot reach the relay. Is it running?');
  }
  if (res.status === 404 || res.status === 405) {
    throw new Error('This relay does not offer development sign-in. Start it with --dev-tokens.');
  }
  if (!res.ok) throw new Error((await res.text().catch(() => '')).trim() || `Sign-in failed (HTTP ${res.status})`);
  return (await res.text()).trim();
}

/** Creates the client of user and connects it in the background. */
export async function signIn(user: string, firstToken?: string): Promise<void> {
  let prefetched = firstToken;
  const client = await createClient({
    url: relayUrl(),
    // Called before every dial, so an expired token is replaced.
    token: async () => {
      const t = prefetched;
      prefetched = undefined;
      return t ?? fetchDevToken(user);
    },
  });
  localStorage.setItem(SESSION_KEY, user);
  localStorage.setItem(LAST_KEY, user);
  const offKicked = client.on('kicked', (e) => {
    offKicked();
    void signOut(`You were signed out: ${e.reason || 'signed in elsewhere'} (${e.code}).`);
  });
  set({ user, client });
  // The conversation list shows from the cache meanwhile; the badge shows the state.
  client.connect().catch(() => {});
}

export async function signOut(why = ''): Promise<void> {
  const s = current;
  localStorage.removeItem(SESSION_KEY);
  history.replaceState(null, '', location.pathname + location.search);
  set(null, why);
  await s?.client.close().catch(() => {});
  // Leave nothing of this user in a shared browser: the SDK's default cache
  // is the IndexedDB database "parley".
  if (!why) indexedDB.deleteDatabase('parley');
}

/** Signs the remembered user back in at start: the list comes from the cache at once. */
export function resume(): void {
  const user = localStorage.getItem(SESSION_KEY);
  if (!user) return;
  signIn(user).catch((err: unknown) => {
    localStorage.removeItem(SESSION_KEY);
    set(null, err instanceof Error ? err.message : String(err));
  });
}
