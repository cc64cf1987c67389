// Where the relay and the host page are. The relay serves the host page too
// (`parley-relay serve --static site --dev-tokens`, with
// node_modules/@parley-im/react-native/host copied to site/parley-host):
// one origin for the page, its IndexedDB cache and the relay's allow-list.
export const RELAY = 'https://chat.example.com';
export const HOST_URL = `${RELAY}/parley-host/index.html`;
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
