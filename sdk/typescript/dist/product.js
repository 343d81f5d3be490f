import { HooklineError } from './errors.js';
import { seg } from './http.js';
/** The seeds' `product.webhook.*` calls, for the product given to `product.init` (or named per call). */
export class ProductWebhook {
    http;
    scope;
    constructor(http, scope) {
        this.http = http;
        this.scope = scope;
    }
    /**
     * A link for one event of a connected app (`app` is its access tag) in one env. Resolves to
     * the link itself; without a receiver (`url`) its events are `held` until one is set with
     * `registrations.update(id, {receiver})`.
     */
    async generateLink(request) {
        return (await this.generateLinkWithDetails(request)).link;
    }
    /** Like {@link generateLink}, but resolves to the whole answer `{link, registration, signing_secret}`. */
    async generateLinkWithDetails(request) {
        const product = this.scope.resolve(request.product, 'product.webhook.generateLink');
        return this.http.request('POST', `/api/v1/products/${seg(product)}/webhooks/link`, {
            body: { ...request, product },
        });
    }
    /**
     * Every registration (link) of a connected app, by access tag. Each item has `event`, `url`
     * (the ingest link), `webhook`, `env`, `receiver`, `active`, …
     */
    async fetchAllForProductApp(accessTag, product) {
        const p = this.scope.resolve(product, 'product.webhook.fetchAllForProductApp');
        return this.http.request('GET', `/api/v1/products/${seg(p)}/apps/${seg(accessTag)}/webhooks`);
    }
}
/** Remembers the product of `product.init`. */
export class ProductScope {
    tag;
    resolve(explicit, call) {
        const product = explicit ?? this.tag;
        if (!product) {
            throw new HooklineError({
                code: 'product_not_initialized',
                message: `${call} needs a product: call \`product.init(tag)\` first or pass \`product\``,
            });
        }
        return product;
    }
}
/** The seeds' `product` namespace. */
export class ProductClient {
    http;
    webhook;
    scope = new ProductScope();
    constructor(http) {
        this.http = http;
        this.webhook = new ProductWebhook(http, this.scope);
    }
    /**
     * Check that the product exists (`GET /api/v1/products/{tag}`) and make it the default of
     * the `product.webhook.*` calls. Rejects with `product_not_found` when it does not exist.
     */
    async init(tag) {
        const product = await this.http.request('GET', `/api/v1/products/${seg(tag)}`);
        this.scope.tag = product.tag;
        return product;
    }
    /** The product given to `init`, if any. */
    get tag() {
        return this.scope.tag;
    }
}
//# sourceMappingURL=product.js.map