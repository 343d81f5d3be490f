import { Apps } from './apps.js';
import { HooklineError } from './errors.js';
import { Events } from './events.js';
import { Transport } from './http.js';
import { Processor } from './processor.js';
import { ProductClient } from './product.js';
import { Products } from './products.js';
import { Registrations } from './registrations.js';
import type { Health } from './types.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

/** Where `hookline serve` saves the key it generates, relative to the folder it runs in. */
export const DEFAULT_KEY_FILE = 'hookline-data/admin.key';

export interface HooklineOptions {
  /**
   * Management key, sent as `Authorization: Bearer <key>`. Default, as the `hookline` CLI
   * finds it: `HOOKLINE_ADMIN_KEY`, else `./hookline-data/admin.key` (the key `hookline serve`
   * generated, when the program runs in the folder the server was started in).
   */
  accessKey?: string;
  /** Where the gateway listens. Default: `HOOKLINE_URL`, else `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** Per-request timeout in milliseconds (none by default); a timed-out call rejects with code `timeout`. */
  timeoutMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** A `fetch` implementation (default: the global one of Node ≥ 18). */
  fetch?: typeof globalThis.fetch;
}

function env(name: string): string | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The management key, looked up in the CLI's order: the option, `HOOKLINE_ADMIN_KEY`, then
 * `./hookline-data/admin.key`. Read on the first call that needs it (the file read is
 * asynchronous), once.
 */
function keyLookup(option: string | undefined): () => Promise<string> {
  let found: Promise<string> | undefined;
  return () => (found ??= findKey(option));
}

async function findKey(option: string | undefined): Promise<string> {
  const given = option?.trim() || env('HOOKLINE_ADMIN_KEY')?.trim();
  if (given) return given;
  let text: string | undefined;
  // Outside Node.js (a browser, a worker) there is no file to look in.
  const fs = await import('node:fs/promises').catch(() => undefined);
  try {
    text = await fs?.readFile(DEFAULT_KEY_FILE, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: unknown } | null)?.code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw HooklineError.setup({
        code: 'key_file_unreadable',
        message: `cannot read the management key from ./${DEFAULT_KEY_FILE}: ${String(code ?? cause)}`,
      });
    }
  }
  const fromFile = text?.trim();
  if (fromFile) return fromFile;
  const renamed = env('HOOKLINE_ACCESS_KEY')
    ? ' (HOOKLINE_ACCESS_KEY is not read: the variable is HOOKLINE_ADMIN_KEY, as for the server and CLI)'
    : '';
  throw HooklineError.setup({
    code: 'missing_key',
    message: `no management key: pass accessKey, set HOOKLINE_ADMIN_KEY, or run from the folder that holds ${DEFAULT_KEY_FILE}${renamed}`,
  });
}

/**
 * Client of a Hookline gateway's management API.
 *
 * ```ts
 * import Hookline from '@hookline/sdk';
 * const hookline = new Hookline(); // HOOKLINE_ADMIN_KEY (or ./hookline-data/admin.key), HOOKLINE_URL
 * const link = await hookline.processor.webhook.generateLink({ ... });
 * ```
 */
export class Hookline {
  /** The seeds' `processor.webhook.enable` / `generateLink` / `disable`. */
  readonly processor: Processor;
  /** The seeds' `product.init` and `product.webhook.generateLink` / `fetchAllForProductApp`. */
  readonly product: ProductClient;
  /** Providers and the webhooks they send. */
  readonly apps: Apps;
  /** Products, their envs and connected apps. */
  readonly products: Products;
  /** Links tied to receivers. */
  readonly registrations: Registrations;
  /** Received events and delivery attempts. */
  readonly events: Events;
  /** The gateway's base URL, without a trailing slash. */
  readonly baseUrl: string;

  private readonly http: Transport;

  constructor(options: HooklineOptions = {}) {
    const baseUrl = (options.baseUrl ?? env('HOOKLINE_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    try {
      const u = new URL(baseUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw HooklineError.setup({
        code: 'invalid_base_url',
        message: `baseUrl must be an absolute http(s) URL such as ${DEFAULT_BASE_URL}, got ${JSON.stringify(baseUrl)}`,
      });
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw HooklineError.setup({
        code: 'fetch_unavailable',
        message: 'no global fetch: use Node.js 18 or later, or pass a `fetch` option',
      });
    }
    this.baseUrl = baseUrl;
    this.http = new Transport({
      baseUrl,
      accessKey: keyLookup(options.accessKey),
      timeoutMs: options.timeoutMs,
      headers: options.headers ?? {},
      fetch: fetchImpl.bind(globalThis),
    });
    this.processor = new Processor(this.http);
    this.product = new ProductClient(this.http);
    this.apps = new Apps(this.http);
    this.products = new Products(this.http);
    this.registrations = new Registrations(this.http);
    this.events = new Events(this.http);
  }

  /** `GET /healthz`: resolves when the node can reach its database (rejects with `database_unreachable` otherwise). */
  async health(): Promise<Health> {
    return this.http.request('GET', '/healthz', { auth: false });
  }

  /** `GET /api/v1/openapi.json`: the gateway's OpenAPI 3 document. */
  async openapi(): Promise<Record<string, unknown>> {
    return this.http.request('GET', '/api/v1/openapi.json');
  }
}
