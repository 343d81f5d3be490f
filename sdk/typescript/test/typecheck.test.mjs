// The package's type declarations, as a TypeScript user sees them through `exports`:
// test/typecheck/usage.ts (the seed calls and the resource clients) must compile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR } from './support/server.mjs';

test('the seed calls type-check against dist/*.d.ts', () => {
  const tsc = createRequire(join(PACKAGE_DIR, 'package.json')).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(PACKAGE_DIR, 'test', 'typecheck', 'tsconfig.json')], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}\n${r.stderr}`);
});
