import { createClient } from '@parley-im/sdk';
import { ChatApp } from './chat';
import { fetchDevToken, renderSignin } from './signin';
import './style.css';

const app = document.getElementById('app')!;

/** Who is signed in (cleared by "sign out") and who was last (pre-fills the form). */
const SESSION_KEY = 'parley.webchat.user';
const LAST_KEY = 'parley.webchat.lastUser';

/** The relay's WebSocket on this page's origin (the relay serves this app). */
function relayUrl(): string {
  const u = new URL('/v1/ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

let current: ChatApp | null = null;

function showSignin(notice?: string): void {
  app.replaceChildren(
    renderSignin({
      lastUser: localStorage.getItem(LAST_KEY) ?? '',
      notice,
      onSubmit: async (user) => {
        // Ask once now, so a typo in the setup shows here rather than as an
        // endless "connecting"; later tokens are fetched by the SDK on expiry.
        const first = await fetchDevToken(user);
        await signIn(user, first);
      },
    }),
  );
}

async function signIn(user: string, firstToken?: string): Promise<void> {
  let prefetched = firstToken;
  const client = await createClient({
    url: relayUrl(),
    // Called before every dial: an expired token is replaced by a fresh one.
    token: async () => {
      const t = prefetched;
      prefetched = undefined;
      return t ?? fetchDevToken(user);
    },
    logLevel: 'warn',
  });
  localStorage.setItem(SESSION_KEY, user);
  localStorage.setItem(LAST_KEY, user);
  const chat = new ChatApp({
    client,
    me: user,
    onSignOut: (notice) => void signOut(notice),
  });
  current = chat;
  app.replaceChildren(chat.root);
  await chat.start();
}

async function signOut(notice?: string): Promise<void> {
  const chat = current;
  current = null;
  localStorage.removeItem(SESSION_KEY);
  document.title = 'Parley';
  history.replaceState(null, '', location.pathname + location.search);
  showSignin(notice);
  await chat?.close();
  // Leave nothing of this user on a shared browser, as the SDK's README
  // advises: its default cache is the IndexedDB database "parley". (Another
  // tab still signed in keeps it open; the deletion then waits for it.)
  if (!notice) indexedDB.deleteDatabase('parley');
}

const remembered = localStorage.getItem(SESSION_KEY);
if (remembered) {
  // Straight back in: the conversations come from the local cache at once,
  // and the SDK fetches a token when it dials (offline is fine too).
  signIn(remembered).catch((err) => {
    localStorage.removeItem(SESSION_KEY);
    showSignin(err instanceof Error ? err.message : String(err));
  });
} else {
  showSignin();
}

// The app shell works offline: a reload without a network opens the app and
// its cached conversations (public/sw.js). Served over http(s) only; the
// relay serves sw.js from the app's folder.
if ('serviceWorker' in navigator && location.protocol.startsWith('http')) {
  navigator.serviceWorker
    .register('./sw.js')
    .then(() => navigator.serviceWorker.ready)
    .then(warmShell)
    .catch((err) => console.warn('[web-chat] service worker:', err));
}

/**
 * warmShell puts what this first load fetched (the page, its bundles, the
 * wasm module) in the service worker's cache: they came before the worker
 * was there, so without this only the second visit would open offline.
 */
async function warmShell(): Promise<void> {
  const urls = new Set<string>([new URL('./', location.href).href]);
  for (const e of performance.getEntriesByType('resource')) {
    const u = new URL(e.name);
    if (u.origin === location.origin && !u.pathname.startsWith('/v1/') && !u.pathname.startsWith('/dev/')) urls.add(u.href);
  }
  const cache = await caches.open('parley-web-chat-v1');
  await cache.addAll([...urls]);
}
