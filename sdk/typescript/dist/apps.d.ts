import { type Transport } from './http.js';
import type { App, CreateAppRequest, UpdateAppRequest, Webhook, WebhookRequest } from './types.js';
/** `/api/v1/apps/{app}/webhooks`: the webhooks an app (a provider) sends. */
export declare class AppWebhooks {
    private readonly http;
    constructor(http: Transport);
    /** Define a webhook: verification, per-env registration, events. */
    create(app: string, webhook: WebhookRequest): Promise<Webhook>;
    list(app: string): Promise<Webhook[]>;
    get(app: string, webhook: string): Promise<Webhook>;
    /** Replace a webhook's definition (its tag stays). */
    replace(app: string, webhook: string, definition: WebhookRequest): Promise<Webhook>;
    /** Delete a webhook; its links answer 410 from then on. */
    delete(app: string, webhook: string): Promise<void>;
}
/** `/api/v1/apps`: providers. */
export declare class Apps {
    private readonly http;
    readonly webhooks: AppWebhooks;
    constructor(http: Transport);
    create(app: CreateAppRequest): Promise<App>;
    list(): Promise<App[]>;
    get(app: string): Promise<App>;
    /** Update an app's name, description or envs. */
    update(app: string, patch: UpdateAppRequest): Promise<App>;
    /** Delete an app and its webhooks (refused with 409 while a product is connected to it). */
    delete(app: string): Promise<void>;
}
//# sourceMappingURL=apps.d.ts.map