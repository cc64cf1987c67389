// Where the relay is. The host page ships inside the app
// (@parley-im/react-native/inline-host), so the app starts, and shows its
// cache, with no network; HOST_BASE_URL is the origin it runs at. Keep it
// the same in every release: the page's IndexedDB cache (history and
// outbox) belongs to that origin. It fetches nothing from there.
export const RELAY = 'https://chat.example.com';
export const HOST_BASE_URL = 'https://parley-host.localhost/';
export const WS_URL = RELAY.replace(/^http/, 'ws') + '/v1/ws';

/**
 * token asks the relay's development endpoint for a token (`--dev-tokens`,
 * never in production: your own server signs tokens for signed-in users).
 */
export function tokenFor(user: string): () => Promise<string> {
  return async () => {
    const r = await fetch(`${RELAY}/dev/token?user=${encodeURIComponent(user)}`, { method: 'POST' });
    if (!r.ok) throw new Error(`token: HTTP ${r.status}`);
    return r.text();
  };
}
