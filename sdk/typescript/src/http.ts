import { HooklineError } from './errors.js';

export type QueryValue = string | number | boolean | Date | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue> | object;
  body?: unknown;
  /** Send the management key (default true). */
  auth?: boolean;
  signal?: AbortSignal;
}

export interface TransportConfig {
  baseUrl: string;
  /** The management key, found on first use (see `HooklineOptions.accessKey`). */
  accessKey: () => Promise<string>;
  timeoutMs: number | undefined;
  headers: Record<string, string>;
  fetch: typeof globalThis.fetch;
}

export const SDK_VERSION = '0.1.0';

/** Encodes one path segment (a tag, an id). */
export function seg(value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new HooklineError({
      code: 'missing_argument',
      message: `expected a non-empty string for a path segment, got ${JSON.stringify(value)}`,
    });
  }
  return encodeURIComponent(value);
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query as Record<string, QueryValue>)) {
    if (v === undefined || v === null) continue;
    params.append(k, v instanceof Date ? v.toISOString() : String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** The one place HTTP happens: JSON in, JSON out, errors as {@link HooklineError}. */
export class Transport {
  constructor(readonly config: TransportConfig) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = `${this.config.baseUrl}${path}${queryString(opts.query)}`;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `hookline-sdk-typescript/${SDK_VERSION}`,
      ...this.config.headers,
    };
    if (opts.auth !== false) {
      headers['authorization'] = `Bearer ${await this.config.accessKey()}`;
    }
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const signals: AbortSignal[] = [];
    if (opts.signal) signals.push(opts.signal);
    if (this.config.timeoutMs !== undefined) signals.push(AbortSignal.timeout(this.config.timeoutMs));
    const signal = combine(signals);
    const request = { method, url };

    let res: Response;
    try {
      res = await this.config.fetch(url, { method, headers, body, signal });
    } catch (cause) {
      const name = (cause as { name?: string } | null)?.name;
      if (name === 'TimeoutError') {
        throw new HooklineError({
          code: 'timeout',
          message: `${method} ${url} got no answer within ${this.config.timeoutMs} ms`,
          request,
          cause,
        });
      }
      if (name === 'AbortError') {
        throw new HooklineError({ code: 'aborted', message: `${method} ${url} was aborted`, request, cause });
      }
      const detail = describe(cause);
      throw new HooklineError({
        code: 'network_error',
        message: `could not reach Hookline at ${this.config.baseUrl} (${method} ${path}): ${detail}`,
        request,
        cause,
      });
    }

    let text: string;
    try {
      text = await res.text();
    } catch (cause) {
      throw new HooklineError({
        code: 'network_error',
        message: `the answer to ${method} ${path} was cut off: ${describe(cause)}`,
        status: res.status,
        request,
        cause,
      });
    }
    let parsed: unknown = undefined;
    let parseFailed = false;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parseFailed = true;
      }
    }

    if (!res.ok) {
      const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (err && typeof err.code === 'string') {
        throw new HooklineError({
          code: err.code,
          message: typeof err.message === 'string' ? err.message : `${method} ${path} failed with ${res.status}`,
          status: res.status,
          body: parsed,
          request,
        });
      }
      const excerpt = text.length > 300 ? `${text.slice(0, 300)}…` : text;
      throw new HooklineError({
        code: 'http_error',
        message: `${method} ${path} answered ${res.status} ${res.statusText}${excerpt ? `: ${excerpt}` : ''}`,
        status: res.status,
        body: parseFailed ? text : parsed,
        request,
      });
    }
    if (parseFailed) {
      throw new HooklineError({
        code: 'invalid_response',
        message: `${method} ${path} answered ${res.status} with a body that is not JSON`,
        status: res.status,
        body: text,
        request,
      });
    }
    return parsed as T;
  }
}

function combine(signals: AbortSignal[]): AbortSignal | undefined {
  if (signals.length <= 1) return signals[0];
  const anyFn = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (anyFn) return anyFn(signals);
  // Node < 20.3 has no AbortSignal.any.
  const ctrl = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      ctrl.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => ctrl.abort(s.reason), { once: true });
  }
  return ctrl.signal;
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    const innerMsg =
      inner instanceof Error ? inner.message : inner && typeof inner === 'object' && 'code' in inner ? String((inner as { code: unknown }).code) : '';
    return innerMsg && innerMsg !== cause.message ? `${cause.message} (${innerMsg})` : cause.message;
  }
  return String(cause);
}
