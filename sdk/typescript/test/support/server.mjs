// Starts the REAL `hookline` binary for a test file and stops it afterwards.
//
//   HOOKLINE_BIN   path of the binary (default: ../../target/debug/hookline
//                  relative to the package, i.e. the workspace's debug build)
//
// Each server gets its own temporary data dir, a random port, a fixed admin
// key and a short retry schedule, and (by default) may call 127.0.0.0/8 so
// the local test receiver is reachable.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_KEY = 'hl_test_admin_key_0123456789abcdef0123456789abcdef';

export function hooklineBin() {
  return process.env.HOOKLINE_BIN
    ? resolve(process.env.HOOKLINE_BIN)
    : resolve(PACKAGE_DIR, '..', '..', 'target', 'debug', 'hookline');
}

/** The parent environment without any HOOKLINE_* variable, so nothing leaks into a child. */
export function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('HOOKLINE_')) env[k] = v;
  }
  return env;
}

const READY = /^hookline listening on port (\d+); links start with (\S+)\s*$/;

/**
 * @param {{ allowedTargets?: string | null, env?: Record<string,string> }} [opts]
 *   allowedTargets: value of HOOKLINE_ALLOWED_TARGETS; `null` leaves it unset
 *   (the server then refuses every private target).
 */
export async function startServer(opts = {}) {
  const bin = hooklineBin();
  if (!existsSync(bin)) {
    throw new Error(
      `hookline binary not found at ${bin}: build it with \`cargo build -p hookline\` from the workspace root, or set HOOKLINE_BIN`,
    );
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'hookline-sdk-test-'));
  const env = {
    ...cleanEnv(),
    HOOKLINE_LISTEN: '127.0.0.1:0',
    HOOKLINE_DATA_DIR: dataDir,
    HOOKLINE_ADMIN_KEY: ADMIN_KEY,
    HOOKLINE_DELIVERY__RETRY_SCHEDULE: '100ms,100ms',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...(opts.env ?? {}),
  };
  const allowed = opts.allowedTargets === undefined ? '127.0.0.0/8' : opts.allowedTargets;
  if (allowed !== null) env.HOOKLINE_ALLOWED_TARGETS = allowed;

  // cwd is the data dir so no stray ./hookline.toml is picked up.
  const child = spawn(bin, ['serve'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const keep = (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
  };
  createInterface({ input: child.stderr }).on('line', keep);
  const stdout = createInterface({ input: child.stdout });

  const ready = await new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`hookline did not report its port within 30 s; output:\n${log.join('\n')}`));
    }, 30_000);
    stdout.on('line', (line) => {
      keep(line);
      const m = READY.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveReady({ port: Number(m[1]), publicUrl: m[2] });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`hookline exited (${code ?? signal}) before listening; output:\n${log.join('\n')}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });

  const baseUrl = `http://127.0.0.1:${ready.port}`;
  return {
    baseUrl,
    /** Base of generated links, as the server printed it. */
    publicUrl: ready.publicUrl.replace(/\/+$/, ''),
    port: ready.port,
    adminKey: ADMIN_KEY,
    dataDir,
    log: () => log.join('\n'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs `body` (JSON) to an ingest link, like a provider would. */
export async function ingest(link, body, headers = {}) {
  const res = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually(fn, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
