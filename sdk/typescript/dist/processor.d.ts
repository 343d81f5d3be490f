import type { Transport } from './http.js';
import type { DisableRequest, DisableResponse, EnableRequest, EnableResponse, LinkResponse, ProcessorLinkRequest } from './types.js';
/** The seeds' `processor.webhook.*` calls. */
export declare class ProcessorWebhook {
    private readonly http;
    constructor(http: Transport);
    /**
     * Full registration: receivers for several envs at once. Calling it again for the same
     * product, access tag, webhook and env updates that registration and keeps its link.
     * Resolves to the API's answer, `{registrations: [...]}` (one per env, with its `link`).
     */
    enable(request: EnableRequest): Promise<EnableResponse>;
    /**
     * One env's link, to paste into the provider's dashboard. Resolves to the link itself
     * (`{public_url}/webhooks/v1/process/{link_id}`); use {@link generateLinkWithDetails} for
     * the registration and its signing secret.
     */
    generateLink(request: ProcessorLinkRequest): Promise<string>;
    /** Like {@link generateLink}, but resolves to the whole answer `{link, registration, signing_secret}`. */
    generateLinkWithDetails(request: ProcessorLinkRequest): Promise<LinkResponse>;
    /**
     * Retire a webhook's links (and its event links) in the listed envs, or in every env when
     * `envs` is omitted; deregisters at the provider where the app defines how.
     */
    disable(request: DisableRequest): Promise<DisableResponse>;
}
export declare class Processor {
    readonly webhook: ProcessorWebhook;
    constructor(http: Transport);
}
//# sourceMappingURL=processor.d.ts.map