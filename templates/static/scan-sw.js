// The service worker of the usher's page /scan (served as /scan-sw.js, scope /scan): when the
// network is gone, the page and its files come from the cache the page filled while online
// (scan.js `keepForOffline`), so a phone that reloads the page, or whose browser dropped the tab,
// still scans at the door. Online, everything comes from the network as usual; API calls are
// never answered from here (the page answers offline from its own copy of the ticket list).
const CACHE = "scan-page";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  const page = url.pathname === "/scan";
  if (!page && !url.pathname.startsWith("/static/")) return;
  event.respondWith(
    fetch(request).catch(async (error) => {
      const cache = await caches.open(CACHE);
      const kept = await cache.match(page ? "/scan" : request);
      if (kept) return kept;
      throw error;
    }),
  );
});
