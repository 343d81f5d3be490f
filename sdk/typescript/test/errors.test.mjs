// HooklineError: the API's `{"error": {"code", "message"}}` with the HTTP status, and the
// SDK's own codes when no answer came. Against the real binary: one server that may call
// 127.0.0.0/8, and one without HOOKLINE_ALLOWED_TARGETS (every private target refused).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Hookline, { HooklineError, HttpMethods } from '@hookline/sdk';
import { startReceiver } from './support/receiver.mjs';
import { cleanEnv, PACKAGE_DIR, startServer } from './support/server.mjs';

const SDK_URL = pathToFileURL(join(PACKAGE_DIR, 'dist', 'index.js')).href;

let server;
let strict;
let rx;

before(async () => {
  [server, strict, rx] = await Promise.all([startServer(), startServer({ allowedTargets: null }), startReceiver()]);
});

after(async () => {
  await Promise.all([server?.stop(), strict?.stop(), rx?.close()]);
});

/** Asserts `promise` rejects with a HooklineError of `code` and `status`; returns it. */
async function rejectsWith(promise, code, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HooklineError, `expected a HooklineError, got ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'HooklineError');
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.equal(err.status, status, `status (message: ${err.message})`);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** A port nothing listens on. */
async function closedPort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function withEnv(vars, fn) {
  const saved = {};
  for (const k of Object.keys(vars)) {
    saved[k] = process.env[k];
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('errors from the API', () => {
  test('404 product_not_found from product.init and products.get', async () => {
    const hl = new Hookline({ accessKey: server.adminKey, baseUrl: server.baseUrl });
    const err = await rejectsWith(hl.product.init('no-such-product'), 'product_not_found', 404);
    assert.match(err.message, /no-such-product/);
    assert.deepEqual(err.body, { error: { code: 'product_not_found', message: err.message } });
    assert.equal(err.request?.method, 'GET');
    assert.equal(err.request?.url, `${server.baseUrl}/api/v1/products/no-such-product`);
    assert.equal(hl.product.tag, undefined, 'a failed init remembers nothing');
    await rejectsWith(hl.products.get('no-such-product'), 'product_not_found', 404);
    await rejectsWith(hl.apps.get('no-such-app'), 'app_not_found', 404);
    await rejectsWith(hl.events.get('evt_nope'), 'event_not_found', 404);
  });

  test('401 unauthorized with a bad key; missing_key before sending without one', async () => {
    const bad = new Hookline({ accessKey: 'not-the-key', baseUrl: server.baseUrl });
    const err = await rejectsWith(bad.apps.list(), 'unauthorized', 401);
    assert.match(err.message, /key/);
    await rejectsWith(bad.product.init('anything'), 'unauthorized', 401);
    // An empty key counts as none (an unset variable passed through); the package folder
    // holds no hookline-data/admin.key.
    await withEnv({ HOOKLINE_ADMIN_KEY: undefined }, async () => {
      const none = new Hookline({ accessKey: '', baseUrl: server.baseUrl });
      const err2 = await rejectsWith(none.products.list(), 'missing_key', 0);
      assert.match(err2.message, /HOOKLINE_ADMIN_KEY/);
      assert.equal(err2.stack, `HooklineError [missing_key]: ${err2.message}`);
      // /healthz needs no key.
      assert.deepEqual(await none.health(), { status: 'ok' });
    });
  });

  test('422 target_not_allowed for a private receiver when the server has no allow-list', async () => {
    const hl = new Hookline({ accessKey: strict.adminKey, baseUrl: strict.baseUrl });
    await hl.apps.create({ tag: 'shop', name: 'Shop', envs: [{ slug: 'live' }] });
    await hl.apps.webhooks.create('shop', {
      tag: 'order_created',
      name: 'Order created',
      envs: [{ slug: 'live' }],
      events: [{ tag: 'order.created', name: 'Order created', selector: '$Event{type}' }],
    });
    await hl.products.create({ tag: 'my_product', name: 'My product', envs: [{ slug: 'prd' }] });
    await hl.products.connectApp('my_product', {
      app: 'shop',
      access_tag: 'admin',
      envs: [{ product_env: 'prd', app_env: 'live' }],
    });
    const link = {
      product_tag: 'my_product',
      access_tag: 'admin',
      webhook_tag: 'order_created',
      product_env: 'prd',
      url: `${rx.url}/orders`,
      method: HttpMethods.POST,
    };
    const err = await rejectsWith(hl.processor.webhook.generateLink(link), 'target_not_allowed', 422);
    assert.match(err.message, /HOOKLINE_ALLOWED_TARGETS|allowed_targets/i, 'the message says how to allow it');
    await rejectsWith(
      hl.processor.webhook.enable({
        product_tag: 'my_product',
        access_tag: 'admin',
        webhook_tag: 'order_created',
        envs: [{ slug: 'prd', url: 'http://169.254.169.254/latest/meta-data', method: HttpMethods.POST }],
      }),
      'target_not_allowed',
      422,
    );
    await rejectsWith(
      hl.product.webhook.generateLink({
        app: 'admin',
        event: 'order.created',
        env: 'prd',
        product: 'my_product',
        url: 'http://10.1.2.3/hook',
      }),
      'target_not_allowed',
      422,
    );
    // Nothing was registered by the refused calls.
    assert.deepEqual(await hl.product.webhook.fetchAllForProductApp('admin', 'my_product'), []);
    // The same call is accepted by the server that allows 127.0.0.0/8 (see the seed tests).
  });

  test('422 for a body the API cannot accept, 409 for a duplicate', async () => {
    const hl = new Hookline({ accessKey: server.adminKey, baseUrl: server.baseUrl });
    // `name` is required.
    await rejectsWith(hl.products.create({ tag: 'p1' }), 'invalid_body', 422);
    // A tag with a space: a 422 with a stable snake_case code (which one is the server's to choose).
    const bad = await hl.products.create({ tag: 'has space', name: 'x' }).then(
      () => assert.fail('a tag with a space is refused'),
      (e) => e,
    );
    assert.ok(bad instanceof HooklineError);
    assert.equal(bad.status, 422);
    assert.match(bad.code, /^[a-z_]+$/);
    await hl.products.create({ tag: 'dup', name: 'Dup' });
    const err = await hl.products.create({ tag: 'dup', name: 'Dup' }).then(
      () => assert.fail('a duplicate product is refused'),
      (e) => e,
    );
    assert.ok(err instanceof HooklineError);
    assert.equal(err.status, 409);
    assert.match(err.code, /^[a-z_]+$/);
  });
});

describe('errors without an answer', () => {
  test('network_error when nothing listens', async () => {
    const port = await closedPort();
    const hl = new Hookline({ accessKey: 'k', baseUrl: `http://127.0.0.1:${port}` });
    const err = await rejectsWith(hl.apps.list(), 'network_error', 0);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.ok(err.cause, 'the fetch failure is kept as `cause`');
    await rejectsWith(hl.product.init('x'), 'network_error', 0);
  });

  test('timeout when the server does not answer in time', async () => {
    const silent = createServer(() => {});
    await new Promise((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const hl = new Hookline({ accessKey: 'k', baseUrl: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 200 });
      await rejectsWith(hl.apps.list(), 'timeout', 0);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  test('http_error for an error answer that is not the API error shape', async () => {
    const proxy = createServer((req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const hl = new Hookline({ accessKey: 'k', baseUrl: `http://127.0.0.1:${proxy.address().port}` });
      const err = await rejectsWith(hl.apps.list(), 'http_error', 502);
      assert.match(err.message, /502/);
      assert.match(err.message, /Bad Gateway/);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  test('product_not_initialized without product.init or a product', async () => {
    const hl = new Hookline({ accessKey: server.adminKey, baseUrl: server.baseUrl });
    await rejectsWith(
      hl.product.webhook.generateLink({ app: 'a', event: 'e', env: 'prd' }),
      'product_not_initialized',
      0,
    );
    await rejectsWith(hl.product.webhook.fetchAllForProductApp('a'), 'product_not_initialized', 0);
  });

  test('invalid_base_url at construction', () => {
    assert.throws(
      () => new Hookline({ accessKey: 'k', baseUrl: 'localhost:8080' }),
      (e) => e instanceof HooklineError && e.code === 'invalid_base_url',
    );
  });
});

describe('configuration', () => {
  test('HOOKLINE_URL and HOOKLINE_ADMIN_KEY are the fallbacks of the options', async () => {
    await withEnv({ HOOKLINE_URL: `${server.baseUrl}/`, HOOKLINE_ADMIN_KEY: server.adminKey }, async () => {
      const hl = new Hookline();
      assert.equal(hl.baseUrl, server.baseUrl);
      assert.ok(Array.isArray(await hl.apps.list()));
      // Options win over the environment.
      const other = new Hookline({ accessKey: 'wrong' });
      await rejectsWith(other.apps.list(), 'unauthorized', 401);
    });
  });

  // The lookup reads the working directory, so these run as their own Node process in a
  // folder of their own, as a user's script would.
  async function runIn(cwd, env, source) {
    const child = spawn(process.execPath, ['--input-type=module'], {
      cwd,
      env: { ...cleanEnv(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.end(`import Hookline from ${JSON.stringify(SDK_URL)};\n${source}`);
    const code = await new Promise((r) => child.once('exit', r));
    return { code, stdout, stderr };
  }

  test('./hookline-data/admin.key is read when no key is given, as the CLI does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hookline-sdk-key-'));
    try {
      await mkdir(join(dir, 'hookline-data'));
      await writeFile(join(dir, 'hookline-data', 'admin.key'), `${server.adminKey}\n`, { mode: 0o600 });
      const r = await runIn(
        dir,
        { HOOKLINE_URL: server.baseUrl },
        'console.log(JSON.stringify(await new Hookline().apps.list()));',
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Array.isArray(JSON.parse(r.stdout)));
      // HOOKLINE_ADMIN_KEY comes before the file.
      const r2 = await runIn(
        dir,
        { HOOKLINE_URL: server.baseUrl, HOOKLINE_ADMIN_KEY: 'hk_wrong' },
        'await new Hookline().apps.list().catch((e) => console.log(e.code));',
      );
      assert.equal(r2.stdout.trim(), 'unauthorized', r2.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('no key anywhere: a one-line missing_key error, no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hookline-sdk-nokey-'));
    try {
      const expected =
        'HooklineError [missing_key]: no management key: pass accessKey, set HOOKLINE_ADMIN_KEY, ' +
        'or run from the folder that holds hookline-data/admin.key';
      // The seeds' style: `.catch(console.error)`.
      const caught = await runIn(dir, { HOOKLINE_URL: server.baseUrl }, 'await new Hookline().apps.list().catch(console.error);');
      assert.equal(caught.stderr, `${expected}\n`);
      // Uncaught: Node's own report, with the error on one line and no `at …` frames.
      const uncaught = await runIn(dir, { HOOKLINE_URL: server.baseUrl }, 'await new Hookline().apps.list();');
      assert.equal(uncaught.code, 1);
      assert.ok(uncaught.stderr.includes(expected), uncaught.stderr);
      assert.doesNotMatch(uncaught.stderr, /^\s+at /m, uncaught.stderr);
      // The old variable name is not read, and the message says so.
      const old = await runIn(
        dir,
        { HOOKLINE_URL: server.baseUrl, HOOKLINE_ACCESS_KEY: server.adminKey },
        'await new Hookline().apps.list().catch((e) => console.log(e.code, e.message));',
      );
      assert.match(old.stdout, /^missing_key .*HOOKLINE_ACCESS_KEY is not read: the variable is HOOKLINE_ADMIN_KEY/);
      // Calls that need no key still work without one.
      const health = await runIn(dir, { HOOKLINE_URL: server.baseUrl }, 'console.log((await new Hookline().health()).status);');
      assert.equal(health.stdout.trim(), 'ok', health.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the default base URL is http://127.0.0.1:8080', async () => {
    await withEnv({ HOOKLINE_URL: undefined, HOOKLINE_ADMIN_KEY: undefined }, async () => {
      assert.equal(new Hookline({ accessKey: 'k' }).baseUrl, 'http://127.0.0.1:8080');
    });
  });

  test('exports: default and named Hookline, HttpMethods', async () => {
    const mod = await import('@hookline/sdk');
    assert.equal(mod.default, mod.Hookline);
    assert.deepEqual(
      { ...mod.HttpMethods },
      { GET: 'GET', POST: 'POST', PUT: 'PUT', PATCH: 'PATCH', DELETE: 'DELETE' },
    );
    assert.equal(typeof mod.HooklineError, 'function');
  });
});
