// Keeps test/seeds/*.mjs honest: every ```ts/```typescript block of the seed docs must appear,
// line by line and in order, in exactly one seed file, and a seed file may add nothing but
// comments and the allowed harness lines (import + constructor). The docs are the copies in
// test/fixtures/seed-docs (the product's original docs, kept verbatim in the repository), or
// those in HOOKLINE_SEEDS_DIR to check against another copy.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SEEDS_DIR } from './support/seeds.mjs';
import { PACKAGE_DIR } from './support/server.mjs';

const DOCS_DIR = process.env.HOOKLINE_SEEDS_DIR
  ? resolve(process.env.HOOKLINE_SEEDS_DIR)
  : join(PACKAGE_DIR, 'test', 'fixtures', 'seed-docs');

/** The only changes a seed file may make to a doc line (doc line -> seed file line). */
function adapt(line) {
  return (
    line
      // The import line and the constructor's options.
      .replace("import Ductape from '@ductape/sdk';", "import Hookline from '@hookline/sdk'; // seed: import Ductape from '@ductape/sdk';")
      .replace('new Ductape({', 'new Hookline({')
      .replace(
        "accessKey: 'your-access-key',",
        "accessKey: process.env.HOOKLINE_ADMIN_KEY, // seed: accessKey: 'your-access-key',",
      )
      // The one syntax fix: `;` between properties of an object literal (`query: {};`, and the
      // `};` closing `headers: {…}`) is a syntax error in JavaScript; it becomes `,`.
      .replace(/^(\w+: \{\});$/, '$1,')
      .replace(/^\};$/, '},')
  );
}

/** Lines a seed file may add: the harness prelude (the client the snippet assumes). */
const ALLOWED_EXTRA = new Set([
  "import Hookline from '@hookline/sdk';",
  "import Hookline, { HttpMethods } from '@hookline/sdk';",
  'const ductape = new Hookline();',
]);

const lines = (text) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);

/** Greedy in-order match of `wanted` in `have`; returns the matched indexes or null. */
function matchInOrder(wanted, have) {
  const used = [];
  let j = 0;
  for (const w of wanted) {
    while (j < have.length && have[j] !== w) j++;
    if (j === have.length) return null;
    used.push(j++);
  }
  return used;
}

test('every seed doc example is in test/seeds/*.mjs, verbatim up to the allowed changes', async () => {
  const blocks = [];
  for (const doc of (await readdir(DOCS_DIR)).filter((f) => f.endsWith('.md')).sort()) {
    const text = await readFile(join(DOCS_DIR, doc), 'utf8');
    for (const m of text.matchAll(/```(?:ts|typescript|js|javascript)\n([\s\S]*?)```/g)) {
      blocks.push({ doc, code: m[1] });
    }
  }
  assert.ok(blocks.length > 0, `no code blocks in ${DOCS_DIR}`);

  const files = {};
  for (const f of (await readdir(SEEDS_DIR)).filter((f) => f.endsWith('.mjs')).sort()) {
    files[f] = lines(await readFile(join(SEEDS_DIR, f), 'utf8'));
  }
  const covered = new Map();
  for (const block of blocks) {
    const wanted = lines(block.code).map(adapt);
    const hits = Object.entries(files)
      .map(([f, have]) => [f, matchInOrder(wanted, have)])
      .filter(([, used]) => used !== null);
    assert.equal(
      hits.length,
      1,
      `a ${block.doc} example must be in exactly one seed file (found in ${hits.length}):\n${block.code}`,
    );
    const [file, used] = hits[0];
    assert.ok(!covered.has(file), `${file} holds two examples`);
    covered.set(file, new Set(used));
  }
  for (const [file, have] of Object.entries(files)) {
    assert.ok(covered.has(file), `${file} is not an example of the seed docs`);
    const used = covered.get(file);
    const extra = have.filter((l, i) => !used.has(i) && !l.startsWith('//') && !ALLOWED_EXTRA.has(l));
    assert.deepEqual(extra, [], `${file} adds lines the seed does not have`);
  }
  assert.equal(covered.size, blocks.length);
});
