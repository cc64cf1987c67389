// The demo's service worker: it keeps the app shell so that a reload while
// offline opens the app (and the conversations cached in IndexedDB) instead
// of the browser's error page. The bundler's assets/ are content-hashed and
// never change: cache first. Everything else of this origin (the page
// itself): network first, the cache when the network is gone. The relay's
// WebSocket and the sign-in endpoint are never cached.
const CACHE = 'parley-web-chat-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/dev/') || url.pathname === '/healthz' || url.pathname === '/metrics') return;
  const hashed = url.pathname.includes('/assets/');
  e.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      if (hashed) {
        const hit = await cache.match(e.request);
        if (hit) return hit;
      }
      try {
        const r = await fetch(e.request);
        if (r.ok) await cache.put(e.request, r.clone());
        return r;
      } catch (err) {
        const hit = await cache.match(e.request, { ignoreSearch: !hashed });
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
