// Runs a seed example (test/seeds/*.mjs) as its own Node process, the way a user would run
// it, against the test server; returns what it printed.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, PACKAGE_DIR } from './server.mjs';

export const SEEDS_DIR = join(PACKAGE_DIR, 'test', 'seeds');

/**
 * THE ONE DELIBERATE SUBSTITUTION in the seed examples: their receiver URLs
 * (`https://api.example.com/...`, `https://staging.example.com/...`) become the local test
 * receiver, keeping the original host as the first path segment so each URL stays
 * distinguishable: `https://api.example.com/webhooks/orders` ->
 * `http://127.0.0.1:<port>/api.example.com/webhooks/orders`.
 */
export function substituteReceiverUrls(source, receiverUrl) {
  return source.replace(/https:\/\/((?:[a-z0-9-]+\.)*example\.com)/g, `${receiverUrl}/$1`);
}

/**
 * @returns {Promise<{code: number|null, stdout: string, stderr: string, lines: string[], source: string}>}
 */
export async function runSeed(file, { baseUrl, accessKey, receiverUrl, timeoutMs = 30_000 }) {
  const original = await readFile(join(SEEDS_DIR, file), 'utf8');
  const source = receiverUrl ? substituteReceiverUrls(original, receiverUrl) : original;
  // The source goes in on stdin; cwd is the package so `import ... from '@hookline/sdk'`
  // resolves to this package (its own `exports`, i.e. the built dist/).
  const child = spawn(process.execPath, ['--input-type=module'], {
    cwd: PACKAGE_DIR,
    env: { ...cleanEnv(), HOOKLINE_URL: baseUrl, HOOKLINE_ADMIN_KEY: accessKey },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  child.stdin.end(source);
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`seed ${file} did not finish within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, stdout, stderr, lines: stdout.split('\n').filter((l) => l.length > 0), source };
}
