import { seg } from './http.js';
/** `/api/v1/apps/{app}/webhooks`: the webhooks an app (a provider) sends. */
export class AppWebhooks {
    http;
    constructor(http) {
        this.http = http;
    }
    /** Define a webhook: verification, per-env registration, events. */
    async create(app, webhook) {
        return this.http.request('POST', `/api/v1/apps/${seg(app)}/webhooks`, { body: webhook });
    }
    async list(app) {
        return this.http.request('GET', `/api/v1/apps/${seg(app)}/webhooks`);
    }
    async get(app, webhook) {
        return this.http.request('GET', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`);
    }
    /** Replace a webhook's definition (its tag stays). */
    async replace(app, webhook, definition) {
        return this.http.request('PUT', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`, { body: definition });
    }
    /** Delete a webhook; its links answer 410 from then on. */
    async delete(app, webhook) {
        await this.http.request('DELETE', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`);
    }
}
/** `/api/v1/apps`: providers. */
export class Apps {
    http;
    webhooks;
    constructor(http) {
        this.http = http;
        this.webhooks = new AppWebhooks(http);
    }
    async create(app) {
        return this.http.request('POST', '/api/v1/apps', { body: app });
    }
    async list() {
        return this.http.request('GET', '/api/v1/apps');
    }
    async get(app) {
        return this.http.request('GET', `/api/v1/apps/${seg(app)}`);
    }
    /** Update an app's name, description or envs. */
    async update(app, patch) {
        return this.http.request('PATCH', `/api/v1/apps/${seg(app)}`, { body: patch });
    }
    /** Delete an app and its webhooks (refused with 409 while a product is connected to it). */
    async delete(app) {
        await this.http.request('DELETE', `/api/v1/apps/${seg(app)}`);
    }
}
//# sourceMappingURL=apps.js.map