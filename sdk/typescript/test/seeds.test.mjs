// Every code example of test/fixtures/seed-docs/*.md, run as-is (test/seeds/*.mjs) against the real
// hookline binary. The model the examples assume (apps, webhooks with their events, products
// with their envs, connections under the examples' access tags) is created first through the
// SDK. Each example runs as its own Node process; what it prints is parsed for the links it
// produced, and every link is checked to ingest (200) and to deliver to the local receiver.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Hookline from '@hookline/sdk';
import { assertDelivers } from './support/checks.mjs';
import { startReceiver } from './support/receiver.mjs';
import { runSeed } from './support/seeds.mjs';
import { startServer } from './support/server.mjs';

let server;
let rx;
/** @type {Hookline} */
let hl;
const ctx = {};
/** Links printed by earlier examples, to check that asking again keeps a link. */
const printed = new Map();

const events = (tags) => tags.map((tag) => ({ tag, name: tag, selector: '$Event{type}' }));

/** The model the seed examples assume, created through the SDK. */
async function createSeedModel() {
  // Apps (providers) and the webhooks they send, in link mode (no registration_url).
  await hl.apps.create({ tag: 'acme-orders', name: 'Acme orders', envs: [{ slug: 'live' }, { slug: 'test' }] });
  await hl.apps.webhooks.create('acme-orders', {
    tag: 'order_created',
    name: 'Order created',
    envs: [{ slug: 'live' }, { slug: 'test' }],
    events: events(['order.created']),
  });
  await hl.apps.create({ tag: 'stripe-payments', name: 'Stripe', envs: [{ slug: 'live' }, { slug: 'test' }] });
  await hl.apps.webhooks.create('stripe-payments', {
    tag: 'payments',
    name: 'Stripe events',
    envs: [{ slug: 'live' }, { slug: 'test' }],
    events: events(['payment.succeeded', 'payment.failed', 'charge.refunded', 'customer.created']),
  });
  await hl.apps.create({ tag: 'sendgrid-email', name: 'SendGrid', envs: [{ slug: 'live' }] });
  await hl.apps.webhooks.create('sendgrid-email', {
    tag: 'email_events',
    name: 'SendGrid event webhook',
    envs: [{ slug: 'live' }],
    events: events(['email.delivered', 'email.opened', 'email.bounced', 'email.clicked']),
  });

  // Products with the envs each example uses.
  const product = (tag, envs) => hl.products.create({ tag, name: tag, envs: envs.map((slug) => ({ slug })) });
  await product('my_product', ['prd', 'stg', 'production']);
  await product('my-product', ['prd']);
  await product('ecommerce-platform', ['prd']);
  await product('payment-service', ['dev', 'stg', 'prd']);
  await product('notification-service', ['prd']);

  // Connections under the examples' access tags.
  await hl.products.connectApp('my_product', {
    app: 'acme-orders',
    access_tag: 'admin',
    envs: [
      { product_env: 'prd', app_env: 'live' },
      { product_env: 'stg', app_env: 'test' },
      { product_env: 'production', app_env: 'live' },
    ],
  });
  for (const p of ['my-product', 'ecommerce-platform']) {
    await hl.products.connectApp(p, { app: 'stripe-payments', envs: [{ product_env: 'prd', app_env: 'live' }] });
  }
  await hl.products.connectApp('payment-service', {
    app: 'stripe-payments',
    access_tag: 'stripe-payments',
    envs: [
      { product_env: 'dev', app_env: 'test' },
      { product_env: 'stg', app_env: 'test' },
      { product_env: 'prd', app_env: 'live' },
    ],
  });
  await hl.products.connectApp('notification-service', {
    app: 'sendgrid-email',
    envs: [{ product_env: 'prd', app_env: 'live' }],
  });
}

async function run(file) {
  const result = await runSeed(file, { baseUrl: server.baseUrl, accessKey: server.adminKey, receiverUrl: rx.url });
  assert.equal(result.code, 0, `${file} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.equal(result.stderr, '', `${file} printed to stderr:\n${result.stderr}`);
  return result;
}

/** The value printed after `prefix` on exactly one line. */
function after1(lines, prefix) {
  const found = lines.filter((l) => l.startsWith(prefix));
  assert.equal(found.length, 1, `expected one line starting with ${JSON.stringify(prefix)} in:\n${lines.join('\n')}`);
  return found[0].slice(prefix.length).trim();
}

before(async () => {
  server = await startServer();
  rx = await startReceiver();
  hl = new Hookline({ accessKey: server.adminKey, baseUrl: server.baseUrl });
  Object.assign(ctx, { hl, rx, server });
  await createSeedModel();
});

after(async () => {
  await rx?.close();
  await server?.stop();
});

describe('registering-for-webhooks.md', () => {
  test('1. Full Registration: processor.webhook.enable for prd and stg', async () => {
    const result = await run('registering-full-registration.mjs');
    assert.match(result.source, new RegExp(`url: "${rx.url}/api\\.example\\.com/webhooks/orders"`));
    // The example discards enable's answer; read back the registrations it made.
    const regs = await hl.product.webhook.fetchAllForProductApp('admin', 'my_product');
    const forEnv = (env) => {
      const r = regs.filter((x) => x.env === env && x.webhook === 'order_created' && x.event === null);
      assert.equal(r.length, 1, `one registration for env ${env}: ${JSON.stringify(regs)}`);
      return r[0];
    };
    const prd = forEnv('prd');
    const stg = forEnv('stg');
    assert.notEqual(prd.link, stg.link);
    for (const [reg, host] of [
      [prd, 'api.example.com'],
      [stg, 'staging.example.com'],
    ]) {
      assert.equal(reg.active, true);
      assert.equal(reg.url, reg.link);
      assert.deepEqual(reg.receiver, {
        url: `${rx.url}/${host}/webhooks/orders`,
        method: 'POST',
        auth_headers: ['Authorization'],
      });
      assert.equal(reg.provider_registration.status, 'not_applicable');
      await assertDelivers(ctx, reg.link, 'order.created', {
        path: `/${host}/webhooks/orders`,
        method: 'POST',
        headers: { authorization: 'Bearer <<token>>' },
        expectHeld: false,
      });
    }

    // Running the example again updates the same registrations: same links, no duplicates.
    await run('registering-full-registration.mjs');
    const again = await hl.product.webhook.fetchAllForProductApp('admin', 'my_product');
    assert.deepEqual(
      again.filter((r) => r.event === null && ['prd', 'stg'].includes(r.env)).map((r) => r.link).sort(),
      [prd.link, stg.link].sort(),
    );
  });

  test('2. Generating a Registration Link: processor.webhook.generateLink for production', async () => {
    const result = await run('registering-generate-link.mjs');
    const link = after1(result.lines, 'Register this link in your provider dashboard:');
    const { registration } = await assertDelivers(ctx, link, 'order.created', {
      path: '/api.example.com/webhooks/orders',
      method: 'POST',
      expectHeld: false,
    });
    assert.equal(registration.env, 'production');
    assert.equal(registration.product, 'my_product');
    assert.equal(registration.access_tag, 'admin');
    assert.equal(registration.webhook, 'order_created');

    // Asking again keeps the link.
    const second = await run('registering-generate-link.mjs');
    assert.equal(after1(second.lines, 'Register this link in your provider dashboard:'), link);
  });
});

describe('product-webhooks.md', () => {
  test('Fetching App Webhooks: product.init + fetchAllForProductApp', async () => {
    // Something to fetch: one link of `my-product`'s stripe-payments connection, with a receiver.
    const made = await hl.product.webhook.generateLinkWithDetails({
      app: 'stripe-payments',
      event: 'payment.failed',
      env: 'prd',
      product: 'my-product',
      url: `${rx.url}/my-product/payment-failed`,
    });
    const result = await run('product-fetch-all.mjs');
    const lines = result.lines;
    assert.equal(lines.length % 2, 0, lines.join('\n'));
    const listed = [];
    for (let i = 0; i < lines.length; i += 2) {
      assert.match(lines[i], /^Webhook: /);
      assert.match(lines[i + 1], /^URL: /);
      listed.push({ event: lines[i].slice('Webhook: '.length), url: lines[i + 1].slice('URL: '.length) });
    }
    assert.ok(
      listed.some((w) => w.event === 'payment.failed' && w.url === made.link),
      `the listing shows the link made above: ${JSON.stringify(listed)}`,
    );
    for (const w of listed) await assertDelivers(ctx, w.url, w.event);
  });

  test('Generating Webhook Links: product.webhook.generateLink', async () => {
    const result = await run('product-generate-link.mjs');
    const link = after1(result.lines, 'Webhook URL:');
    // No receiver in the example: events are held until one is set, then delivered.
    const { registration } = await assertDelivers(ctx, link, 'payment.succeeded', { expectHeld: true });
    assert.equal(registration.product, 'my-product');
    assert.equal(registration.access_tag, 'stripe-payments');
    assert.equal(registration.event, 'payment.succeeded');
    assert.equal(registration.env, 'prd');
    const all = await hl.product.webhook.fetchAllForProductApp('stripe-payments', 'my-product');
    assert.ok(all.some((w) => w.url === link && w.event === 'payment.succeeded'));
  });

  test('Complete Example: setupWebhooks()', async () => {
    // `setupWebhooks().catch(console.error)` exits 0 even on failure; run() also requires an empty stderr.
    const result = await run('product-complete-example.mjs');
    const lines = result.lines;
    assert.equal(lines[0], 'Configure these URLs in Stripe dashboard:');
    const links = {
      'payment.succeeded': after1(lines, 'Payment Success:'),
      'payment.failed': after1(lines, 'Payment Failed:'),
      'charge.refunded': after1(lines, 'Refund:'),
    };
    assert.equal(new Set(Object.values(links)).size, 3, 'one link per event');
    assert.equal(after1(lines, 'Total webhooks configured:'), '3');
    for (const [event, link] of Object.entries(links)) {
      const { registration } = await assertDelivers(ctx, link, event, { expectHeld: true });
      assert.equal(registration.product, 'ecommerce-platform');
      assert.equal(registration.event, event);
    }
  });

  test('Use Cases: Payment Webhooks', async () => {
    const result = await run('product-payment-webhooks.mjs');
    for (const event of ['payment.succeeded', 'payment.failed', 'charge.refunded', 'customer.created']) {
      const link = after1(result.lines, `${event}:`);
      printed.set(`payment-service/prd/${event}`, link);
      const { registration } = await assertDelivers(ctx, link, event, { expectHeld: true });
      assert.equal(registration.product, 'payment-service');
      assert.equal(registration.env, 'prd');
    }
    assert.equal(result.lines.length, 4);
  });

  test('Use Cases: Email Webhooks', async () => {
    const result = await run('product-email-webhooks.mjs');
    for (const event of ['email.delivered', 'email.opened', 'email.bounced', 'email.clicked']) {
      const link = after1(result.lines, `${event}:`);
      const { registration } = await assertDelivers(ctx, link, event, { expectHeld: true });
      assert.equal(registration.product, 'notification-service');
      assert.equal(registration.access_tag, 'sendgrid-email');
    }
    assert.equal(result.lines.length, 4);
  });

  test('Environment-Specific Webhooks', async () => {
    const result = await run('product-environment-webhooks.mjs');
    const links = {};
    for (const env of ['dev', 'stg', 'prd']) links[env] = after1(result.lines, `${env}:`);
    assert.equal(new Set(Object.values(links)).size, 3, 'one link per env');
    const earlier = printed.get('payment-service/prd/payment.succeeded');
    if (earlier) assert.equal(links.prd, earlier, 'asking again for the same event and env keeps the link');
    for (const [env, link] of Object.entries(links)) {
      // prd's registration got a receiver in the Payment Webhooks test; dev and stg have none yet.
      const { registration } = await assertDelivers(ctx, link, 'payment.succeeded');
      assert.equal(registration.env, env);
    }
  });
});
