// Compiled (not run) by test/typecheck.test.mjs: the seed calls and the resource clients
// type-check for a TypeScript user of the published package (dist/*.d.ts via `exports`).
import Hookline, { HooklineError, HttpMethods } from '@hookline/sdk';
import type { EnableResponse, EventFilter, EventPage, HooklineEvent, Registration, ReplayJob } from '@hookline/sdk';

export async function seeds(ductape: Hookline): Promise<void> {
  const enabled: EnableResponse = await ductape.processor.webhook.enable({
    product_tag: 'my_product',
    access_tag: 'admin',
    webhook_tag: 'order_created',
    envs: [
      {
        slug: 'prd',
        url: 'https://api.example.com/webhooks/orders',
        method: HttpMethods.POST,
        auth: { query: {}, params: {}, body: {}, headers: { Authorization: 'Bearer <<token>>' } },
      },
    ],
  });
  const first: string | undefined = enabled.registrations[0]?.link;

  const link: string = await ductape.processor.webhook.generateLink({
    product_tag: 'my_product',
    access_tag: 'admin',
    webhook_tag: 'order_created',
    product_env: 'production',
    url: 'https://api.example.com/webhooks/orders',
    method: HttpMethods.POST,
  });

  await ductape.product.init('my-product');
  const webhooks: Registration[] = await ductape.product.webhook.fetchAllForProductApp('stripe-payments');
  webhooks.forEach((webhook) => {
    const event: string | null = webhook.event;
    const url: string = webhook.url;
    void event;
    void url;
  });
  const webhookUrl: string = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event: 'payment.succeeded',
    env: 'prd',
    product: 'my-product',
  });
  await ductape.processor.webhook.disable({ product_tag: 'my_product', access_tag: 'admin', webhook_tag: 'order_created' });
  void [first, link, webhookUrl];
}

export async function resources(hl: Hookline): Promise<void> {
  await hl.apps.create({ tag: 'a', name: 'A', envs: [{ slug: 'live' }] });
  await hl.apps.webhooks.create('a', {
    tag: 'w',
    name: 'W',
    verification: { scheme: 'stripe' },
    envs: [{ slug: 'live', registration_url: '/v1/webhook_endpoints', method: 'POST' }],
    events: [{ tag: 'e', name: 'E', selector: '$Event{type}' }],
  });
  await hl.products.connectApp('p', { app: 'a', envs: [{ product_env: 'prd', app_env: 'live' }] });
  await hl.registrations.update('reg_1', { receiver: { url: 'https://x.example.com', method: HttpMethods.PUT } });
  const page: EventPage = await hl.events.list({ status: 'failed', since: new Date(), limit: 10 });
  for await (const p of hl.events.iterate({ product: 'p' })) {
    const events: HooklineEvent[] = p.data;
    void events;
  }
  void page;
  // One filter for the list and bulk replays.
  const failed: EventFilter = { product: 'p', status: 'failed', since: new Date() };
  await hl.events.list({ ...failed, limit: 10 });
  const job: ReplayJob = await hl.events.replayAll({ ...failed, rate: 5 });
  const matching: number = await hl.events.previewReplay(failed);
  const since: string | null = (await hl.events.getReplay(job.id)).filter.since;
  void [matching, since];
  try {
    await hl.products.get('nope');
  } catch (e) {
    if (e instanceof HooklineError) {
      const details: [string, number, string] = [e.code, e.status, e.message];
      void details;
    }
  }
  // @ts-expect-error: methods are the HttpMethods values only
  await hl.registrations.update('reg_1', { receiver: { url: 'https://x.example.com', method: 'FETCH' } });
}
