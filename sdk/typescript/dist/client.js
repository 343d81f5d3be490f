import { Apps } from './apps.js';
import { HooklineError } from './errors.js';
import { Events } from './events.js';
import { Transport } from './http.js';
import { Processor } from './processor.js';
import { ProductClient } from './product.js';
import { Products } from './products.js';
import { Registrations } from './registrations.js';
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';
/** Where `hookline serve` saves the key it generates, relative to the folder it runs in. */
export const DEFAULT_KEY_FILE = 'hookline-data/admin.key';
function env(name) {
    const value = globalThis.process?.env?.[name];
    return value === undefined || value === '' ? undefined : value;
}
/**
 * The management key, looked up in the CLI's order: the option, `HOOKLINE_ADMIN_KEY`, then
 * `./hookline-data/admin.key`. Read on the first call that needs it (the file read is
 * asynchronous), once.
 */
function keyLookup(option) {
    let found;
    return () => (found ??= findKey(option));
}
async function findKey(option) {
    const given = option?.trim() || env('HOOKLINE_ADMIN_KEY')?.trim();
    if (given)
        return given;
    let text;
    // Outside Node.js (a browser, a worker) there is no file to look in.
    const fs = await import('node:fs/promises').catch(() => undefined);
    try {
        text = await fs?.readFile(DEFAULT_KEY_FILE, 'utf8');
    }
    catch (cause) {
        const code = cause?.code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') {
            throw HooklineError.setup({
                code: 'key_file_unreadable',
                message: `cannot read the management key from ./${DEFAULT_KEY_FILE}: ${String(code ?? cause)}`,
            });
        }
    }
    const fromFile = text?.trim();
    if (fromFile)
        return fromFile;
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
    processor;
    /** The seeds' `product.init` and `product.webhook.generateLink` / `fetchAllForProductApp`. */
    product;
    /** Providers and the webhooks they send. */
    apps;
    /** Products, their envs and connected apps. */
    products;
    /** Links tied to receivers. */
    registrations;
    /** Received events and delivery attempts. */
    events;
    /** The gateway's base URL, without a trailing slash. */
    baseUrl;
    http;
    constructor(options = {}) {
        const baseUrl = (options.baseUrl ?? env('HOOKLINE_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
        try {
            const u = new URL(baseUrl);
            if (u.protocol !== 'http:' && u.protocol !== 'https:')
                throw new Error('not http(s)');
        }
        catch {
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
    async health() {
        return this.http.request('GET', '/healthz', { auth: false });
    }
    /** `GET /api/v1/openapi.json`: the gateway's OpenAPI 3 document. */
    async openapi() {
        return this.http.request('GET', '/api/v1/openapi.json');
    }
}
//# sourceMappingURL=client.js.map