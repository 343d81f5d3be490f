// The dashboard, driven in headless Chromium against the real binary:
// sign in, see a registration, send an event to its link, watch it appear
// as delivered without reloading, open it, replay it; bulk replay; the same
// pages on a phone. Screenshots go to test-artifacts/screenshots/.
//
// Needs `target/debug/hookline` (cargo build -p hookline) or HOOKLINE_BIN,
// and Chromium at /usr/bin/chromium (or CHROMIUM): see install.sh.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.HOOKLINE_BIN || join(ROOT, 'target', 'debug', 'hookline');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const KEY = 'hk_browser_test_key_0123456789abcdef';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const LAPTOP = { width: 1366, height: 800 };
const PHONE = { width: 390, height: 844 };
const SMALL_PHONE = { width: 320, height: 640 };

let server; // the hookline child process
let base; // http://127.0.0.1:<port>
let dataDir;
let receiver; // node:http receiver
const hits = [];
let link;
let registrationId;
const tempDirs = [];

function temp(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

async function startHookline() {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`cargo build -p hookline\` first (or set HOOKLINE_BIN)`);
  dataDir = temp('hookline-browser-');
  server = spawn(BIN, ['serve'], {
    env: {
      ...process.env,
      HOOKLINE_LISTEN: '127.0.0.1:0',
      HOOKLINE_DATA_DIR: dataDir,
      HOOKLINE_ADMIN_KEY: KEY,
      HOOKLINE_ALLOWED_TARGETS: '127.0.0.0/8',
      HOOKLINE_STREAM__POLL_INTERVAL: '250ms',
      HOOKLINE_HEALTH__INTERVAL: '1s',
      RUST_LOG: process.env.RUST_LOG || 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout });
  base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('hookline did not print its port within 30 s')), 30000);
    server.once('exit', (code) => fail(new Error(`hookline exited with ${code} before listening`)));
    lines.on('line', (line) => {
      const m = /^hookline listening on port (\d+);/.exec(line);
      if (m) {
        clearTimeout(timer);
        ok(`http://127.0.0.1:${m[1]}`);
      }
    });
  });
}

async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function startReceiver() {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${receiver.address().port}/hooks/orders`;
}

async function setUpModel(receiverUrl) {
  await call('POST', '/api/v1/apps', { tag: 'shop', name: 'Shop', envs: [{ slug: 'live' }] });
  await call('POST', '/api/v1/apps/shop/webhooks', {
    tag: 'order_created', name: 'Order created', envs: [{ slug: 'live' }],
    events: [{ tag: 'order.created', name: 'Order created', selector: '$Event{type}' }],
  });
  await call('POST', '/api/v1/products', { tag: 'storefront', name: 'Storefront', envs: [{ slug: 'prd', name: 'Production' }, { slug: 'stg' }] });
  await call('POST', '/api/v1/products/storefront/apps', {
    app: 'shop', access_tag: 'admin', envs: [{ product_env: 'prd', app_env: 'live' }, { product_env: 'stg', app_env: 'live' }],
  });
  const made = await call('POST', '/api/v1/processor/webhooks/link', {
    product_tag: 'storefront', access_tag: 'admin', webhook_tag: 'order_created', product_env: 'prd', url: receiverUrl, method: 'POST',
  });
  link = made.link;
  const regs = await call('GET', '/api/v1/registrations?product=storefront');
  registrationId = regs.find((r) => r.link === link).id;
}

/** Sends a provider's call to the link from node; returns the event id. */
async function sendEvent(n, type = 'order.created') {
  const res = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-shop-delivery': `d-${n}` },
    body: JSON.stringify({ type, data: { order: n, total: '42.00', items: [{ sku: 'tea', qty: 2 }] } }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).id;
}

async function browserWith(viewport) {
  const context = await chromium.launchPersistentContext(temp('hookline-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 600,
    hasTouch: viewport.width < 600,
  });
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  return { context, page, problems };
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page) {
  await page.goto(base + '/dashboard');
  await page.locator('[data-testid=signin]').waitFor();
  await page.fill('input[name=key]', KEY);
  await page.click('[data-testid=signin] button[type=submit]');
  await page.locator(`[data-testid=registration][data-id="${registrationId}"]`).waitFor();
}

/**
 * Every table is inside the viewport and either fits its box or sits in a box that scrolls
 * sideways; `mustFit` tables (selectors) must show every column without scrolling.
 */
async function tablesFitOrScroll(page, mustFit = []) {
  const tables = await page.evaluate((mustFit) => [...document.querySelectorAll('table')].map((t) => {
    const wrap = t.closest('.table-wrap') || t.parentElement;
    const box = wrap.getBoundingClientRect();
    const cells = [...t.querySelectorAll('tr:first-child > *')].filter((c) => c.offsetParent !== null);
    const lastRight = Math.max(...cells.map((c) => c.getBoundingClientRect().right));
    return {
      name: t.className || 'table',
      left: box.left,
      right: box.right,
      lastRight,
      tableWidth: t.scrollWidth,
      boxWidth: wrap.clientWidth,
      scrolls: ['auto', 'scroll'].includes(getComputedStyle(wrap).overflowX),
      mustFit: mustFit.some((sel) => t.matches(sel)),
    };
  }), mustFit);
  const inner = await page.evaluate(() => window.innerWidth);
  assert.ok(tables.length > 0, 'no table on the page');
  for (const t of tables) {
    assert.ok(t.left >= 0 && t.right <= inner + 1, `table ${t.name} spans ${t.left}..${t.right}px in a ${inner}px viewport`);
    const fits = t.tableWidth <= t.boxWidth + 1;
    assert.ok(fits || t.scrolls, `table ${t.name} is ${t.tableWidth}px wide in a ${t.boxWidth}px box that does not scroll`);
    if (t.mustFit) {
      assert.ok(fits && t.lastRight <= t.right + 1, `table ${t.name} is cut off: ${t.tableWidth}px wide, last column ends at ${t.lastRight}px, its box at ${t.right}px`);
    }
  }
}

async function noHorizontalScroll(page) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(scroll <= inner + 1, `page is ${scroll}px wide in a ${inner}px viewport`);
}

before(async () => {
  await startHookline();
  const url = await startReceiver();
  await setUpModel(url);
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((ok) => server.once('exit', ok));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  if (receiver) receiver.close();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

test('a wrong key is refused and the dashboard asks again', async () => {
  const { context, page, problems } = await browserWith(LAPTOP);
  try {
    await page.goto(base + '/dashboard');
    await page.fill('input[name=key]', 'hk_not_the_key');
    await page.click('[data-testid=signin] button[type=submit]');
    await page.getByText('This key is not valid.').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookline.key')), null);
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
  } finally {
    await context.close();
  }
});

test('laptop: sign in, live delivery without reload, detail, replay, bulk replay', async () => {
  const { context, page, problems } = await browserWith(LAPTOP);
  try {
    await signIn(page);
    const reg = page.locator(`[data-testid=registration][data-id="${registrationId}"]`);
    assert.match(await reg.innerText(), /order_created/);
    assert.match(await reg.innerText(), /hooks\/orders/);
    assert.ok((await reg.innerText()).includes(link), 'the link is shown');
    await shot(page, 'laptop-overview');

    // The registration's events, live.
    await reg.getByRole('link', { name: 'Events' }).click();
    await page.locator('[data-testid=live].on').waitFor();
    // Anything that reloads the page would drop this marker.
    await page.evaluate(() => (window.__noReload = true));
    const id = await sendEvent(1);
    const row = page.locator(`tr[data-testid=event-row][data-id="${id}"]`);
    await row.and(page.locator('[data-status=delivered]')).waitFor({ timeout: 15000 });
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.equal(hits.length, 1);
    assert.equal(hits[0].headers['webhook-id'], id);
    await shot(page, 'laptop-events');

    // Its detail: request, verification, attempts.
    await row.getByRole('link').click();
    await page.locator('[data-testid=attempt-count]', { hasText: '1' }).waitFor();
    const body = await page.locator('[data-testid=body]').innerText();
    assert.match(body, /"order": 1/, 'the JSON body is pretty-printed');
    assert.match(await page.locator('table.headers').innerText(), /x-shop-delivery/);
    assert.equal(await page.locator('[data-testid=attempt]').count(), 1);
    await shot(page, 'laptop-event');

    // Replay: the attempt count goes up by itself.
    await page.click('[data-testid=replay]');
    await page.locator('[data-testid=attempt-count]', { hasText: '2' }).waitFor({ timeout: 15000 });
    await page.locator('[data-testid=attempt]').nth(1).waitFor();
    assert.equal(hits.length, 2);
    assert.equal(hits[1].headers['webhook-id'], id, 'the replay carries the same webhook-id');
    await shot(page, 'laptop-event-replayed');

    // Bulk replay of the registration's events, with confirmation and progress.
    const second = await sendEvent(2);
    await page.goto(`${base}/dashboard#/events?registration=${registrationId}`);
    await page.locator(`tr[data-id="${second}"][data-status=delivered]`).waitFor({ timeout: 15000 });
    await page.click('[data-testid=bulk-replay]');
    assert.equal(await page.locator('[data-testid=replay-matching]').innerText(), '2');
    await shot(page, 'laptop-bulk-replay-confirm');
    await page.click('[data-testid=confirm-replay]');
    await page.locator('[data-testid=replay-progress][data-status=completed]').waitFor({ timeout: 15000 });
    assert.match(await page.locator('[data-testid=replay-progress]').innerText(), /2 replayed, 0 skipped of 2/);
    await page.waitForFunction(() => document.querySelectorAll('tr[data-status=delivered]').length === 2
      && [...document.querySelectorAll('tr [data-testid=attempts]')].every((c) => Number(c.textContent) >= 2), null, { timeout: 15000 });
    assert.equal(hits.length, 5, "two sent, one replayed, two bulk-replayed");
    await shot(page, 'laptop-bulk-replay-done');

    // Charts of the registration.
    await page.goto(`${base}/dashboard#/registrations/${registrationId}`);
    await page.locator('svg.chart').first().waitFor();
    await page.getByText('Delivery latency, receipt to acknowledgement').waitFor();
    assert.equal(await page.locator('[data-health]').first().innerText(), 'healthy');
    await shot(page, 'laptop-registration-charts');
    await noHorizontalScroll(page);

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('phone: every page fits the screen', async () => {
  const { context, page, problems } = await browserWith(PHONE);
  try {
    await signIn(page);
    await noHorizontalScroll(page);
    await shot(page, 'phone-overview');

    await page.goto(`${base}/dashboard#/events?registration=${registrationId}`);
    await page.locator('[data-testid=live].on').waitFor();
    const id = await sendEvent(3);
    // A provider's long event name must not push the table past the screen.
    const long = await sendEvent(4, 'customer.subscription.trial_will_end');
    await page.locator(`tr[data-id="${id}"][data-status=delivered]`).waitFor({ timeout: 15000 });
    await page.locator(`tr[data-id="${long}"][data-status=delivered]`).waitFor({ timeout: 15000 });
    await noHorizontalScroll(page);
    await tablesFitOrScroll(page, ['table.events']);
    await shot(page, 'phone-events');
    // A small phone too.
    await page.setViewportSize(SMALL_PHONE);
    await noHorizontalScroll(page);
    await tablesFitOrScroll(page, ['table.events']);
    await shot(page, 'small-phone-events');
    await page.setViewportSize(PHONE);

    await page.locator(`tr[data-id="${id}"] a`).click();
    await page.locator('[data-testid=attempt-count]', { hasText: '1' }).waitFor();
    await noHorizontalScroll(page);
    await tablesFitOrScroll(page);
    await shot(page, 'phone-event');

    await page.goto(`${base}/dashboard#/registrations/${registrationId}`);
    await page.locator('svg.chart').first().waitFor();
    await noHorizontalScroll(page);
    await shot(page, 'phone-registration-charts');

    await page.goto(`${base}/dashboard#/replays`);
    await page.locator('[data-testid=replay-progress]').first().waitFor();
    await noHorizontalScroll(page);
    await shot(page, 'phone-replays');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
