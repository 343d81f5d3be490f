import { Apps } from './apps.js';
import { Events } from './events.js';
import { Processor } from './processor.js';
import { ProductClient } from './product.js';
import { Products } from './products.js';
import { Registrations } from './registrations.js';
import type { Health } from './types.js';
export declare const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
/** Where `hookline serve` saves the key it generates, relative to the folder it runs in. */
export declare const DEFAULT_KEY_FILE = "hookline-data/admin.key";
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
/**
 * Client of a Hookline gateway's management API.
 *
 * ```ts
 * import Hookline from '@hookline/sdk';
 * const hookline = new Hookline(); // HOOKLINE_ADMIN_KEY (or ./hookline-data/admin.key), HOOKLINE_URL
 * const link = await hookline.processor.webhook.generateLink({ ... });
 * ```
 */
export declare class Hookline {
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
    private readonly http;
    constructor(options?: HooklineOptions);
    /** `GET /healthz`: resolves when the node can reach its database (rejects with `database_unreachable` otherwise). */
    health(): Promise<Health>;
    /** `GET /api/v1/openapi.json`: the gateway's OpenAPI 3 document. */
    openapi(): Promise<Record<string, unknown>>;
}
//# sourceMappingURL=client.d.ts.map