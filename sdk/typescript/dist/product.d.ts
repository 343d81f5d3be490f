import { type Transport } from './http.js';
import type { LinkResponse, Product, ProductLinkRequest, Registration } from './types.js';
/** The seeds' `product.webhook.*` calls, for the product given to `product.init` (or named per call). */
export declare class ProductWebhook {
    private readonly http;
    private readonly scope;
    constructor(http: Transport, scope: ProductScope);
    /**
     * A link for one event of a connected app (`app` is its access tag) in one env. Resolves to
     * the link itself; without a receiver (`url`) its events are `held` until one is set with
     * `registrations.update(id, {receiver})`.
     */
    generateLink(request: ProductLinkRequest): Promise<string>;
    /** Like {@link generateLink}, but resolves to the whole answer `{link, registration, signing_secret}`. */
    generateLinkWithDetails(request: ProductLinkRequest): Promise<LinkResponse>;
    /**
     * Every registration (link) of a connected app, by access tag. Each item has `event`, `url`
     * (the ingest link), `webhook`, `env`, `receiver`, `active`, …
     */
    fetchAllForProductApp(accessTag: string, product?: string): Promise<Registration[]>;
}
/** Remembers the product of `product.init`. */
export declare class ProductScope {
    tag: string | undefined;
    resolve(explicit: string | undefined, call: string): string;
}
/** The seeds' `product` namespace. */
export declare class ProductClient {
    private readonly http;
    readonly webhook: ProductWebhook;
    private readonly scope;
    constructor(http: Transport);
    /**
     * Check that the product exists (`GET /api/v1/products/{tag}`) and make it the default of
     * the `product.webhook.*` calls. Rejects with `product_not_found` when it does not exist.
     */
    init(tag: string): Promise<Product>;
    /** The product given to `init`, if any. */
    get tag(): string | undefined;
}
//# sourceMappingURL=product.d.ts.map