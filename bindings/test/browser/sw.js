// A minimal offline shell for the harness: network first, the cache when
// the network is gone, so the page reloads while offline like an installed
// app. WebSocket and token requests are never cached.
const CACHE = 'parley-harness-v1';
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/v1/') || url.pathname.startsWith('/dev/')) return;
  e.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const r = await fetch(e.request);
      if (r.ok) await cache.put(e.request, r.clone());
      return r;
    } catch (err) {
      const hit = await cache.match(e.request);
      if (hit) return hit;
      throw err;
    }
  })());
});
