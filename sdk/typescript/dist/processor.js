/** The seeds' `processor.webhook.*` calls. */
export class ProcessorWebhook {
    http;
    constructor(http) {
        this.http = http;
    }
    /**
     * Full registration: receivers for several envs at once. Calling it again for the same
     * product, access tag, webhook and env updates that registration and keeps its link.
     * Resolves to the API's answer, `{registrations: [...]}` (one per env, with its `link`).
     */
    async enable(request) {
        return this.http.request('POST', '/api/v1/processor/webhooks/enable', { body: request });
    }
    /**
     * One env's link, to paste into the provider's dashboard. Resolves to the link itself
     * (`{public_url}/webhooks/v1/process/{link_id}`); use {@link generateLinkWithDetails} for
     * the registration and its signing secret.
     */
    async generateLink(request) {
        return (await this.generateLinkWithDetails(request)).link;
    }
    /** Like {@link generateLink}, but resolves to the whole answer `{link, registration, signing_secret}`. */
    async generateLinkWithDetails(request) {
        return this.http.request('POST', '/api/v1/processor/webhooks/link', { body: request });
    }
    /**
     * Retire a webhook's links (and its event links) in the listed envs, or in every env when
     * `envs` is omitted; deregisters at the provider where the app defines how.
     */
    async disable(request) {
        return this.http.request('POST', '/api/v1/processor/webhooks/disable', { body: request });
    }
}
export class Processor {
    webhook;
    constructor(http) {
        this.webhook = new ProcessorWebhook(http);
    }
}
//# sourceMappingURL=processor.js.map