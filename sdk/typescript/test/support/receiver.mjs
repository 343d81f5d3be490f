// A tiny HTTP receiver on 127.0.0.1:0 that records every request Hookline forwards.
import { createServer } from 'node:http';

export async function startReceiver() {
  const hits = [];
  const waiters = new Set();
  /** path -> status to answer with (default 200) */
  const statusByPath = new Map();

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver.local');
      const hit = {
        method: req.method,
        url: req.url,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      hits.push(hit);
      for (const w of waiters) w();
      const status = statusByPath.get(url.pathname) ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'receiver says no');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    hits,
    /** Answer requests on `path` with `status` from now on. */
    respondWith(path, status) {
      statusByPath.set(path, status);
    },
    /** Resolves with the matching hits once `count` of them arrived. */
    waitFor(predicate, { count = 1, timeoutMs = 10_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = hits.filter(predicate);
          if (found.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `receiver: expected ${count} matching request(s) within ${timeoutMs} ms; got ${hits.length} request(s): ` +
                JSON.stringify(hits.map((h) => ({ method: h.method, url: h.url, body: h.body.slice(0, 120) }))),
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      return new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      });
    },
  };
}
