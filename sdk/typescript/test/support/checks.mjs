// Shared assertions: a link ingests, and what it ingested reaches the receiver, signed.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { eventually, ingest } from './server.mjs';

/** Checks the Standard Webhooks headers of a forwarded request against the registration's secret. */
export function assertSigned(hit, signingSecret) {
  assert.match(signingSecret, /^whsec_/, 'signing secrets start with whsec_');
  const id = hit.headers['webhook-id'];
  const ts = hit.headers['webhook-timestamp'];
  const sigs = hit.headers['webhook-signature'];
  assert.ok(id && ts && sigs, `forwarded request lacks Standard Webhooks headers: ${JSON.stringify(hit.headers)}`);
  assert.ok(Math.abs(Date.now() / 1000 - Number(ts)) < 300, `webhook-timestamp ${ts} is not now`);
  const key = Buffer.from(signingSecret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${hit.body}`).digest('base64');
  const given = String(sigs)
    .split(' ')
    .map((s) => s.split(',', 2))
    .filter(([v]) => v === 'v1')
    .map(([, s]) => s);
  assert.ok(given.includes(expected), `webhook-signature ${sigs} does not match v1,${expected}`);
}

/**
 * POSTs a JSON event named `event` to `link` (→ 200) and checks it is delivered to the
 * receiver. A link without a receiver answers `held`; the check then sets a receiver with
 * `registrations.update(id, {receiver})` and expects the held event to go out.
 *
 * @param {object} ctx { hl, rx, server }
 * @param {{path?: string, method?: string, headers?: Record<string,string>, expectHeld?: boolean}} [want]
 */
export async function assertDelivers(ctx, link, event, want = {}) {
  const { hl, rx, server } = ctx;
  assert.ok(
    link.startsWith(`${server.publicUrl}/webhooks/v1/process/`),
    `link ${link} does not have the form ${server.publicUrl}/webhooks/v1/process/{link_id}`,
  );
  const nonce = randomUUID();
  const body = JSON.stringify({ type: event, id: `evt_${nonce}`, data: { nonce, amount: 4200 } });
  const res = await ingest(link, body);
  assert.equal(res.status, 200, `ingest on ${link} answered ${res.status}: ${res.text}`);
  assert.match(res.body?.id ?? '', /\S/, 'ingest answers the stored event id');
  const eventId = res.body.id;
  const stored = await hl.events.get(eventId);
  const registrationId = stored.registration_id;
  assert.equal(stored.event, event, 'the selector found the event name in the payload');
  assert.equal(stored.request.body, body, 'the event keeps the raw body');

  let path = want.path;
  let method = want.method ?? 'POST';
  const held = res.body.status === 'held';
  if (want.expectHeld !== undefined) assert.equal(held, want.expectHeld, `ingest status ${res.body.status}`);
  if (held) {
    // A product-level link made without a receiver: nothing is delivered until one is set.
    const before = await hl.registrations.get(registrationId);
    assert.equal(before.receiver, null, 'a held event belongs to a registration without receiver');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(rx.hits.filter((h) => h.body === body).length, 0, 'a held event is not delivered');
    assert.equal((await hl.events.get(eventId)).status, 'held');
    path = `/held/${registrationId}`;
    method = 'POST';
    const updated = await hl.registrations.update(registrationId, {
      receiver: { url: `${rx.url}${path}`, method: 'POST' },
    });
    assert.equal(updated.receiver?.url, `${rx.url}${path}`);
  } else {
    assert.equal(res.body.status, 'received');
  }

  const [hit] = await rx.waitFor((h) => h.body.includes(nonce));
  assert.equal(hit.body, body, 'the receiver gets the body unchanged');
  if (path) assert.equal(hit.path, path);
  assert.equal(hit.method, method);
  for (const [k, v] of Object.entries(want.headers ?? {})) {
    assert.equal(hit.headers[k.toLowerCase()], v, `header ${k}`);
  }
  const registration = await hl.registrations.get(registrationId);
  assert.equal(registration.link, link);
  assertSigned(hit, registration.signing_secret);

  const delivered = await eventually(
    async () => {
      const e = await hl.events.get(eventId);
      return e.status === 'delivered' ? e : null;
    },
    { what: `event ${eventId} to be delivered` },
  );
  assert.equal(delivered.attempt_log.at(-1)?.response_status, 200);
  return { eventId, hit, registration, held };
}
