// The package as a user installs it: dist/ is committed, so `npm install <folder>` and
// `npm install <tarball>` need no build step (and no TypeScript) on the user's side. These
// tests hold dist/ to the sources and install the package both ways into a fresh project.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR } from './support/server.mjs';

async function files(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath ?? entry.path, entry.name)));
  }
  return out.sort();
}

test('the committed dist/ is what the sources compile to (else: npm run build, and commit dist/)', async () => {
  // Beside dist/, so the source maps' relative paths come out the same.
  const out = await mkdtemp(join(PACKAGE_DIR, '.dist-check-'));
  try {
    const tsc = createRequire(join(PACKAGE_DIR, 'package.json')).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '--outDir', out], { cwd: PACKAGE_DIR, encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}\n${r.stderr}`);
    const dist = join(PACKAGE_DIR, 'dist');
    assert.deepEqual(await files(dist), await files(out), 'dist/ has other files than a build makes');
    for (const f of await files(out)) {
      const built = await readFile(join(out, f), 'utf8');
      const committed = await readFile(join(dist, f), 'utf8');
      assert.ok(built === committed, `dist/${f} is stale: run \`npm run build\` in sdk/typescript and commit dist/`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

function npm(args, cwd) {
  // Offline: the package has no runtime dependencies, so nothing is fetched.
  const r = spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm install <folder> and <tarball> work without a build step, under the package name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hookline-sdk-install-'));
  try {
    // `npm pack` runs no build (no prepare/prepack script): it packs what is committed.
    const packed = npm(['pack', '--pack-destination', dir], PACKAGE_DIR).trim().split('\n').pop();
    const tarball = join(dir, packed);
    for (const [name, source] of [
      ['from-folder', PACKAGE_DIR],
      ['from-tarball', tarball],
    ]) {
      const project = join(dir, name);
      await mkdir(project);
      await writeFile(join(project, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
      npm(['install', source], project);
      const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
      assert.deepEqual(Object.keys(manifest.dependencies), ['@hookline/sdk'], `${name}: ${JSON.stringify(manifest)}`);
      const r = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "import Hookline, { HttpMethods } from '@hookline/sdk'; console.log(typeof Hookline, HttpMethods.POST, new Hookline().baseUrl);",
        ],
        { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH } },
      );
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'function POST http://127.0.0.1:8080', name);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
