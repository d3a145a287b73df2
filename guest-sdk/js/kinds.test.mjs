// `node --test guest-sdk/js/`: the kind list the runtime gets at build time comes from the WIT,
// and the type declarations cover exactly those kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { witKinds } from './wit-kinds.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const camel = (k) => k.replace(/-(.)/g, (_, c) => c.toUpperCase());

test('the kinds are the WIT enum cases, keywords unescaped', async () => {
  const kinds = await witKinds(join(here, '..', '..', 'wit'));
  assert.equal(kinds.length, 17);
  assert.deepEqual(kinds.slice(0, 2), ['pre-save-page', 'pre-map']);
  assert.ok(kinds.includes('export') && kinds.includes('import') && kinds.at(-1) === 'json');
  assert.equal(kinds.at(-2), 'response-script');
});

test('the type declarations name every kind and no other', async () => {
  const kinds = (await witKinds(join(here, '..', '..', 'wit'))).map(camel);
  const dts = readFileSync(join(here, 'types', 'index.d.ts'), 'utf8');
  const body = /export interface Kinds \{([^}]*(?:\}[^}]*)*?)\n\}/.exec(dts)[1];
  const declared = [...body.matchAll(/^ {2}(\w+): \{/gm)].map((m) => m[1]);
  assert.deepEqual(declared, kinds);
});
