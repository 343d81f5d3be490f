// The management API as the dashboard uses it. The key lives in this tab's
// sessionStorage only and goes out as `Authorization: Bearer`, also for the
// live stream (read with fetch, so the key never appears in a URL).

const KEY = 'hookline.key';

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; rejects with an ApiError carrying the error body's code. */
export async function api(path, { method = 'GET', body, signal, auth = key.get() } = {}) {
  const headers = { accept: 'application/json' };
  if (auth) headers.authorization = 'Bearer ' + auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch('/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : { code: 'http_' + res.status, message: res.statusText };
    if (res.status === 401) window.dispatchEvent(new CustomEvent('hookline:unauthorized'));
    throw new ApiError(res.status, e.code, e.message);
  }
  return data;
}

/** Query string of the non-empty entries of `params`. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * Follows GET /api/v1/events/stream (Server-Sent Events) with the given
 * filters; calls onEvent(view) for each new or changed event and
 * onState('live' | 'reconnecting') as the connection comes and goes.
 * Reconnects with Last-Event-ID. Returns a function that stops it.
 */
export function streamEvents(filters, { onEvent, onState }) {
  const ctrl = new AbortController();
  let last = filters.after || null;
  let stopped = false;

  async function once() {
    const params = { ...filters };
    delete params.after;
    const headers = { accept: 'text/event-stream', authorization: 'Bearer ' + key.get() };
    if (last) headers['last-event-id'] = last;
    const res = await fetch('/api/v1/events/stream' + qs(params), { headers, signal: ctrl.signal });
    if (res.status === 401) {
      window.dispatchEvent(new CustomEvent('hookline:unauthorized'));
      stopped = true;
      return;
    }
    if (!res.ok || !res.body) throw new Error('stream answered ' + res.status);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let type = 'message';
        let data = '';
        let id = null;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') type = val;
          else if (field === 'data') data += (data ? '\n' : '') + val;
          else if (field === 'id') id = val;
        }
        if (id) last = id;
        if (type === 'ready') onState && onState('live');
        if (type === 'event' && data) onEvent(JSON.parse(data));
      }
    }
  }

  (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        await once();
        delay = 500;
      } catch (e) {
        if (ctrl.signal.aborted) return;
      }
      if (stopped || ctrl.signal.aborted) return;
      onState && onState('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();

  return () => {
    stopped = true;
    ctrl.abort();
  };
}
