import { seg, type Transport } from './http.js';
import type { App, CreateAppRequest, UpdateAppRequest, Webhook, WebhookRequest } from './types.js';

/** `/api/v1/apps/{app}/webhooks`: the webhooks an app (a provider) sends. */
export class AppWebhooks {
  constructor(private readonly http: Transport) {}

  /** Define a webhook: verification, per-env registration, events. */
  async create(app: string, webhook: WebhookRequest): Promise<Webhook> {
    return this.http.request('POST', `/api/v1/apps/${seg(app)}/webhooks`, { body: webhook });
  }

  async list(app: string): Promise<Webhook[]> {
    return this.http.request('GET', `/api/v1/apps/${seg(app)}/webhooks`);
  }

  async get(app: string, webhook: string): Promise<Webhook> {
    return this.http.request('GET', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`);
  }

  /** Replace a webhook's definition (its tag stays). */
  async replace(app: string, webhook: string, definition: WebhookRequest): Promise<Webhook> {
    return this.http.request('PUT', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`, { body: definition });
  }

  /** Delete a webhook; its links answer 410 from then on. */
  async delete(app: string, webhook: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/apps/${seg(app)}/webhooks/${seg(webhook)}`);
  }
}

/** `/api/v1/apps`: providers. */
export class Apps {
  readonly webhooks: AppWebhooks;

  constructor(private readonly http: Transport) {
    this.webhooks = new AppWebhooks(http);
  }

  async create(app: CreateAppRequest): Promise<App> {
    return this.http.request('POST', '/api/v1/apps', { body: app });
  }

  async list(): Promise<App[]> {
    return this.http.request('GET', '/api/v1/apps');
  }

  async get(app: string): Promise<App> {
    return this.http.request('GET', `/api/v1/apps/${seg(app)}`);
  }

  /** Update an app's name, description or envs. */
  async update(app: string, patch: UpdateAppRequest): Promise<App> {
    return this.http.request('PATCH', `/api/v1/apps/${seg(app)}`, { body: patch });
  }

  /** Delete an app and its webhooks (refused with 409 while a product is connected to it). */
  async delete(app: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/apps/${seg(app)}`);
  }
}
