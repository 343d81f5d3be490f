// The resource clients against the real binary: apps and their webhooks, products and
// connected apps, the processor calls' answers, registrations, events (filters, cursor,
// iterate, get, replay), health and the OpenAPI document.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Hookline, { HooklineError, HttpMethods } from '@hookline/sdk';
import { assertSigned } from './support/checks.mjs';
import { startReceiver } from './support/receiver.mjs';
import { eventually, ingest, startServer } from './support/server.mjs';

let server;
let rx;
/** @type {Hookline} */
let hl;

before(async () => {
  [server, rx] = await Promise.all([startServer(), startReceiver()]);
  hl = new Hookline({ accessKey: server.adminKey, baseUrl: server.baseUrl });
});

after(async () => {
  await Promise.all([server?.stop(), rx?.close()]);
});

async function rejects(promise, code, status) {
  const err = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e) => e,
  );
  assert.ok(err instanceof HooklineError, String(err));
  assert.equal(err.code, code, err.message);
  assert.equal(err.status, status, err.message);
  return err;
}

/** An app with one webhook (events a, b), a product with envs prd/stg, connected as `access`. */
async function model(prefix) {
  const app = `${prefix}-app`;
  const product = `${prefix}-product`;
  await hl.apps.create({ tag: app, name: app, envs: [{ slug: 'live' }, { slug: 'test' }] });
  await hl.apps.webhooks.create(app, {
    tag: 'hook',
    name: 'Hook',
    envs: [{ slug: 'live' }, { slug: 'test' }],
    events: [
      { tag: 'thing.created', name: 'Created', selector: '$Event{type}' },
      { tag: 'thing.deleted', name: 'Deleted', selector: '$Event{type}' },
    ],
  });
  await hl.products.create({ tag: product, name: product, envs: [{ slug: 'prd' }, { slug: 'stg' }] });
  await hl.products.connectApp(product, {
    app,
    access_tag: 'access',
    envs: [
      { product_env: 'prd', app_env: 'live' },
      { product_env: 'stg', app_env: 'test' },
    ],
  });
  return { app, product };
}

describe('apps', () => {
  test('create, list, get, update, delete', async () => {
    const created = await hl.apps.create({
      tag: 'crm',
      name: 'CRM',
      description: 'a provider',
      envs: [{ slug: 'live', base_url: 'https://api.crm.example.com' }],
    });
    assert.equal(created.tag, 'crm');
    assert.equal(created.name, 'CRM');
    assert.equal(created.description, 'a provider');
    assert.match(created.envs[0].base_url, /^https:\/\/api\.crm\.example\.com\/?$/);
    assert.match(created.id, /\S/);
    assert.ok(!Number.isNaN(Date.parse(created.created_at)));
    assert.ok((await hl.apps.list()).some((a) => a.tag === 'crm'));
    assert.equal((await hl.apps.get('crm')).id, created.id);
    const updated = await hl.apps.update('crm', { name: 'CRM 2', envs: [{ slug: 'live' }, { slug: 'sandbox' }] });
    assert.equal(updated.name, 'CRM 2');
    assert.equal(updated.description, 'a provider');
    assert.deepEqual(
      updated.envs.map((e) => e.slug),
      ['live', 'sandbox'],
    );
    assert.equal(await hl.apps.delete('crm'), undefined);
    await rejects(hl.apps.get('crm'), 'app_not_found', 404);
  });

  test('webhooks: create, list, get, replace, delete', async () => {
    await hl.apps.create({ tag: 'gh', name: 'GitHub', envs: [{ slug: 'live' }] });
    const def = {
      tag: 'push',
      name: 'Push',
      description: 'pushes',
      verification: { scheme: 'none' },
      envs: [{ slug: 'live' }],
      events: [{ tag: 'push', name: 'Push', selector: '$Event{type}', sample: { type: 'push' } }],
    };
    const created = await hl.apps.webhooks.create('gh', def);
    assert.equal(created.app, 'gh');
    assert.equal(created.tag, 'push');
    assert.equal(created.verification.scheme, 'none');
    assert.deepEqual(created.events[0].sample, { type: 'push' });
    assert.equal(created.events[0].selector, '$Event{type}');
    assert.deepEqual(
      (await hl.apps.webhooks.list('gh')).map((w) => w.tag),
      ['push'],
    );
    assert.equal((await hl.apps.webhooks.get('gh', 'push')).id, created.id);
    const replaced = await hl.apps.webhooks.replace('gh', 'push', {
      ...def,
      name: 'Push v2',
      events: [...def.events, { tag: 'ping', name: 'Ping', selector: '$Event{data}{type}' }],
    });
    assert.equal(replaced.name, 'Push v2');
    assert.equal(replaced.tag, 'push');
    assert.deepEqual(
      replaced.events.map((e) => e.tag),
      ['push', 'ping'],
    );
    await hl.apps.webhooks.delete('gh', 'push');
    await rejects(hl.apps.webhooks.get('gh', 'push'), 'webhook_not_found', 404);
    await rejects(hl.apps.webhooks.create('gh', { ...def, events: [{ tag: 'x', name: 'x', selector: 'nope' }] }), 'invalid_selector', 422);
  });
});

describe('products and connected apps', () => {
  test('create, list, get, update, connectApp, listApps, getApp, updateApp, disconnectApp, delete', async () => {
    await hl.apps.create({ tag: 'billing', name: 'Billing', envs: [{ slug: 'live' }, { slug: 'test' }] });
    const p = await hl.products.create({ tag: 'store', name: 'Store', envs: [{ slug: 'prd', name: 'Production' }] });
    assert.deepEqual(p.envs, [{ slug: 'prd', name: 'Production' }]);
    assert.ok((await hl.products.list()).some((x) => x.tag === 'store'));
    assert.equal((await hl.products.get('store')).id, p.id);
    const up = await hl.products.update('store', { envs: [{ slug: 'prd' }, { slug: 'stg' }] });
    assert.deepEqual(
      up.envs.map((e) => e.slug),
      ['prd', 'stg'],
    );

    const c = await hl.products.connectApp('store', { app: 'billing', envs: [{ product_env: 'prd', app_env: 'live' }] });
    assert.equal(c.access_tag, 'billing', 'the access tag defaults to the app tag');
    assert.equal(c.product, 'store');
    assert.equal(c.app, 'billing');
    assert.deepEqual(c.envs, [{ product_env: 'prd', app_env: 'live', has_auth: false }]);
    const c2 = await hl.products.connectApp('store', { app: 'billing', access_tag: 'billing-eu', envs: [] });
    assert.equal(c2.access_tag, 'billing-eu', 'one app, several access tags');
    assert.deepEqual(
      (await hl.products.listApps('store')).map((x) => x.access_tag).sort(),
      ['billing', 'billing-eu'],
    );
    assert.equal((await hl.products.getApp('store', 'billing')).id, c.id);
    const u = await hl.products.updateApp('store', 'billing', {
      envs: [
        { product_env: 'prd', app_env: 'live', auth: { headers: { Authorization: 'Bearer sk_live' } } },
        { product_env: 'stg', app_env: 'test' },
      ],
    });
    assert.deepEqual(u.envs, [
      { product_env: 'prd', app_env: 'live', has_auth: true },
      { product_env: 'stg', app_env: 'test', has_auth: false },
    ]);
    // Refused while connected: 409 with a snake_case code.
    for (const refused of [() => hl.products.delete('store'), () => hl.apps.delete('billing')]) {
      const err = await refused().then(() => assert.fail('refused while connected'), (e) => e);
      assert.ok(err instanceof HooklineError, String(err));
      assert.equal(err.status, 409, err.message);
      assert.match(err.code, /^[a-z_]+$/);
    }
    await hl.products.disconnectApp('store', 'billing');
    await hl.products.disconnectApp('store', 'billing-eu');
    await rejects(hl.products.getApp('store', 'billing'), 'connection_not_found', 404);
    await hl.products.delete('store');
    await rejects(hl.products.get('store'), 'product_not_found', 404);
  });
});

describe('processor calls', () => {
  test('enable answers {registrations}, is idempotent, applies method and auth; disable retires links', async () => {
    const { product } = await model('proc');
    const req = {
      product_tag: product,
      access_tag: 'access',
      webhook_tag: 'hook',
      envs: [
        {
          slug: 'prd',
          url: `${rx.url}/proc/prd`,
          method: HttpMethods.POST,
          auth: { query: {}, params: {}, body: {}, headers: { Authorization: 'Bearer prd' } },
        },
        {
          slug: 'stg',
          url: `${rx.url}/proc/{tenant}/stg`,
          method: HttpMethods.PUT,
          auth: { query: { src: 'hookline' }, params: { tenant: 'acme' }, body: {}, headers: { 'X-Token': 't' } },
        },
      ],
    };
    const res = await hl.processor.webhook.enable(req);
    assert.deepEqual(Object.keys(res), ['registrations']);
    assert.equal(res.registrations.length, 2);
    const [prd, stg] = res.registrations;
    assert.equal(prd.env, 'prd');
    assert.equal(stg.env, 'stg');
    assert.equal(prd.receiver.method, 'POST');
    assert.equal(stg.receiver.method, 'PUT');
    assert.equal(prd.provider_registration.status, 'not_applicable');
    assert.match(prd.signing_secret, /^whsec_/);
    assert.ok(prd.link.startsWith(`${server.publicUrl}/webhooks/v1/process/`));

    const again = await hl.processor.webhook.enable(req);
    assert.deepEqual(
      again.registrations.map((r) => r.link),
      [prd.link, stg.link],
      'enable again keeps the links',
    );

    const body = JSON.stringify({ type: 'thing.created', n: randomUUID() });
    assert.equal((await ingest(stg.link, body)).status, 200);
    const [hit] = await rx.waitFor((h) => h.body === body);
    assert.equal(hit.method, 'PUT');
    assert.equal(hit.path, '/proc/acme/stg');
    assert.equal(hit.query.src, 'hookline');
    assert.equal(hit.headers['x-token'], 't');
    assertSigned(hit, stg.signing_secret);

    const gen = await hl.processor.webhook.generateLinkWithDetails({
      product_tag: product,
      access_tag: 'access',
      webhook_tag: 'hook',
      product_env: 'prd',
      url: `${rx.url}/proc/prd-2`,
    });
    assert.equal(gen.link, prd.link, 'generateLink for an enabled env updates that registration');
    assert.equal(gen.registration.receiver.url, `${rx.url}/proc/prd-2`);
    assert.equal(gen.registration.receiver.method, 'POST', 'method defaults to POST');
    assert.equal(gen.signing_secret, gen.registration.signing_secret);

    const off = await hl.processor.webhook.disable({
      product_tag: product,
      access_tag: 'access',
      webhook_tag: 'hook',
      envs: ['stg'],
    });
    assert.deepEqual(
      off.registrations.map((r) => [r.env, r.active]),
      [['stg', false]],
    );
    const retired = await ingest(stg.link, body);
    assert.equal(retired.status, 410);
    assert.equal(retired.body.error.code, 'link_retired');
    assert.equal((await ingest(prd.link, body)).status, 200, 'other envs keep working');
    const all = await hl.processor.webhook.disable({ product_tag: product, access_tag: 'access', webhook_tag: 'hook' });
    assert.ok(all.registrations.some((r) => r.env === 'prd' && !r.active));
    assert.equal((await ingest(prd.link, body)).status, 410);
  });
});

describe('registrations', () => {
  test('list, get, update', async () => {
    const { product } = await model('regs');
    const link = await hl.product.webhook.generateLinkWithDetails({
      app: 'access',
      event: 'thing.created',
      env: 'prd',
      product,
    });
    assert.equal(link.registration.receiver, null);
    assert.equal(link.registration.event, 'thing.created');
    const list = await hl.registrations.list({ product });
    assert.deepEqual(
      list.map((r) => r.id),
      [link.registration.id],
    );
    assert.equal((await hl.registrations.list({ product, access_tag: 'access' })).length, 1);
    assert.equal((await hl.registrations.list({ product, access_tag: 'other' })).length, 0);
    const got = await hl.registrations.get(link.registration.id);
    assert.equal(got.link, link.link);
    assert.equal(got.url, link.link);

    const updated = await hl.registrations.update(got.id, {
      receiver: { url: `${rx.url}/regs`, method: HttpMethods.PATCH, auth: { headers: { 'X-Key': 'k' } } },
      retry_schedule: ['1s', '2s'],
      verification_secret: 'shh',
    });
    assert.deepEqual(updated.receiver, { url: `${rx.url}/regs`, method: 'PATCH', auth_headers: ['X-Key'] });
    assert.deepEqual(updated.retry_schedule, ['1s', '2s']);
    assert.equal(updated.has_verification_secret, true);
    const reset = await hl.registrations.update(got.id, { retry_schedule: null, verification_secret: null });
    assert.equal(reset.retry_schedule, null);
    assert.equal(reset.has_verification_secret, false);
    assert.equal(reset.receiver.method, 'PATCH', 'fields not named stay');

    const off = await hl.registrations.update(got.id, { active: false });
    assert.equal(off.active, false);
    assert.equal((await ingest(link.link, { type: 'thing.created' })).status, 410);
    await rejects(hl.registrations.get('reg_nope'), 'registration_not_found', 404);
    await rejects(hl.registrations.update(got.id, { retry_schedule: ['soon'] }), 'invalid_retry_schedule', 422);
  });
});

describe('events', () => {
  test('list with filters and cursor, iterate, get, replay', async () => {
    const { product } = await model('evs');
    const links = {};
    for (const env of ['prd', 'stg']) {
      links[env] = await hl.processor.webhook.generateLink({
        product_tag: product,
        access_tag: 'access',
        webhook_tag: 'hook',
        product_env: env,
        url: `${rx.url}/evs/${env}`,
        method: HttpMethods.POST,
      });
    }
    const since = new Date(Date.now() - 1000);
    const sent = [];
    for (let i = 0; i < 5; i++) {
      const type = i % 2 === 0 ? 'thing.created' : 'thing.deleted';
      const r = await ingest(links.prd, { type, i });
      assert.equal(r.status, 200);
      sent.push(r.body.id);
    }
    const stgEvent = (await ingest(links.stg, { type: 'thing.created', i: 99 })).body.id;
    await rx.waitFor((h) => h.path.startsWith('/evs/'), { count: 6 });
    await eventually(async () => (await hl.events.list({ product, status: 'delivered' })).data.length === 6, {
      what: 'all six events delivered',
    });

    const first = await hl.events.list({ product, env: 'prd', limit: 2 });
    assert.equal(first.data.length, 2);
    assert.ok(first.next_cursor);
    assert.deepEqual(
      first.data.map((e) => e.id),
      [sent[4], sent[3]],
      'newest first',
    );
    const second = await hl.events.list({ product, env: 'prd', limit: 2, cursor: first.next_cursor });
    assert.deepEqual(
      second.data.map((e) => e.id),
      [sent[2], sent[1]],
    );

    const pages = [];
    for await (const page of hl.events.iterate({ product, env: 'prd', limit: 2, since })) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.data.length),
      [2, 2, 1],
    );
    assert.deepEqual(
      pages.flatMap((p) => p.data.map((e) => e.id)),
      [...sent].reverse(),
    );
    assert.equal(pages.at(-1).next_cursor, null);

    const deleted = await hl.events.list({ product, event: 'thing.deleted' });
    assert.deepEqual(
      deleted.data.map((e) => e.id).sort(),
      [sent[1], sent[3]].sort(),
    );
    assert.deepEqual(
      (await hl.events.list({ product, env: 'stg' })).data.map((e) => e.id),
      [stgEvent],
    );
    assert.equal((await hl.events.list({ product, until: since })).data.length, 0);
    assert.equal((await hl.events.list({ product, status: 'failed' })).data.length, 0);
    await rejects(hl.events.list({ status: 'bogus' }), 'invalid_status', 422);
    await rejects(hl.events.list({ limit: 0 }), 'invalid_limit', 422);

    const detail = await hl.events.get(sent[0]);
    assert.equal(detail.status, 'delivered');
    assert.equal(detail.event, 'thing.created');
    assert.equal(detail.product, product);
    assert.equal(detail.access_tag, 'access');
    assert.equal(detail.webhook, 'hook');
    assert.equal(detail.request.method, 'POST');
    assert.deepEqual(JSON.parse(detail.request.body), { type: 'thing.created', i: 0 });
    assert.ok(detail.request.headers.some(([k, v]) => k === 'content-type' && v === 'application/json'));
    assert.equal(detail.attempt_log.length, 1);
    assert.equal(detail.attempt_log[0].response_status, 200);
    assert.equal(detail.attempt_log[0].request_url, `${rx.url}/evs/prd`);

    const before = rx.hits.filter((h) => h.body.includes('"i":0')).length;
    const replayed = await hl.events.replay(sent[0]);
    assert.equal(replayed.id, sent[0]);
    await rx.waitFor((h) => h.body.includes('"i":0'), { count: before + 1 });
    const after2 = await eventually(
      async () => {
        const e = await hl.events.get(sent[0]);
        return e.attempt_log.length === 2 && e.status === 'delivered' ? e : null;
      },
      { what: 'the replay to be delivered' },
    );
    assert.equal(after2.attempt_log[1].response_status, 200);

    // A bulk replay takes the same filter as the list.
    const filter = { product, env: 'prd', event: 'thing.deleted', since };
    assert.equal(await hl.events.previewReplay(filter), 2);
    const job = await hl.events.replayAll({ ...filter, rate: 50 });
    assert.equal(job.total, 2);
    assert.equal(job.rate, 50);
    assert.equal(job.filter.product, product);
    assert.equal(job.filter.event, 'thing.deleted');
    assert.equal(job.filter.status, null);
    assert.equal(new Date(job.filter.since).getTime(), since.getTime());
    const done = await eventually(
      async () => {
        const j = await hl.events.getReplay(job.id);
        return j.status === 'completed' ? j : null;
      },
      { what: 'the bulk replay to complete' },
    );
    assert.equal(done.replayed, 2);
    await rejects(hl.events.replayAll({ status: 'bogus' }), 'invalid_status', 422);
    await rejects(hl.events.previewReplay({ product, limit: 2 }), 'invalid_body', 422);
  });

  test('a receiver that keeps failing: retries, then failed; replay delivers once it works', async () => {
    const { product } = await model('fail');
    rx.respondWith('/fail/hook', 500);
    const link = await hl.processor.webhook.generateLink({
      product_tag: product,
      access_tag: 'access',
      webhook_tag: 'hook',
      product_env: 'prd',
      url: `${rx.url}/fail/hook`,
      method: HttpMethods.POST,
    });
    const id = (await ingest(link, { type: 'thing.created' })).body.id;
    // Server retry schedule in the tests: 100ms, 100ms -> three attempts, then `failed`.
    const failed = await eventually(
      async () => {
        const e = await hl.events.get(id);
        return e.status === 'failed' ? e : null;
      },
      { what: 'the event to fail' },
    );
    assert.equal(failed.attempt_log.length, 3);
    assert.ok(failed.attempt_log.every((a) => a.response_status === 500));
    assert.equal(failed.last_response_status, 500);
    assert.deepEqual(
      (await hl.events.list({ product, status: 'failed' })).data.map((e) => e.id),
      [id],
    );

    rx.respondWith('/fail/hook', 200);
    await hl.events.replay(id);
    const ok = await eventually(
      async () => {
        const e = await hl.events.get(id);
        return e.status === 'delivered' ? e : null;
      },
      { what: 'the replayed event to be delivered' },
    );
    assert.equal(ok.attempt_log.at(-1).response_status, 200);
  });
});

describe('misc', () => {
  test('health and the OpenAPI document', async () => {
    assert.deepEqual(await hl.health(), { status: 'ok' });
    const doc = await hl.openapi();
    assert.match(String(doc.openapi), /^3\./);
    for (const path of [
      '/api/v1/processor/webhooks/enable',
      '/api/v1/processor/webhooks/link',
      '/api/v1/processor/webhooks/disable',
      '/api/v1/products/{product}/webhooks/link',
      '/api/v1/products/{product}/apps/{access_tag}/webhooks',
      '/api/v1/events',
    ]) {
      assert.ok(doc.paths[path], `the OpenAPI document has ${path}`);
    }
  });
});
