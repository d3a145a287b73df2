// `node --test guest-sdk/js/`: the type declarations (types/index.d.ts) check a module written
// with JSDoc as `extension-host new --lang js` writes it, and catch a result of the wrong shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const scaffold = join(here, '..', '..', 'host', 'src', 'tools', 'templates', 'functions.js');

// What the scaffold's jsconfig.json sets.
function diagnostics (source) {
  const dir = mkdtempSync(join(tmpdir(), 'types-test-'));
  const file = join(dir, 'functions.js');
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    baseUrl: dir,
    paths: { 'extension-sdk': [join(here, 'types', 'index.d.ts')] },
    types: []
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('the scaffolded module type-checks against the declarations', () => {
  assert.deepEqual(diagnostics(readFileSync(scaffold, 'utf8')), []);
});

test('a preMap result of the wrong shape is a type error', () => {
  const wrong = readFileSync(scaffold, 'utf8').replace('return { data: record }', 'return { data: 5 }');
  assert.match(diagnostics(wrong).join('\n'), /Type 'number' is not assignable to type 'DataRecord \| undefined'/);
});

test('async functions and other kinds type-check', () => {
  const source = [
    "/** @type {import('extension-sdk').Hook<'export'>} */",
    'exports.exportPage = async function (options) {',
    '  const page = typeof options.state === "number" ? options.state : 0',
    '  return { data: [{ page }], lastPage: page > 2, state: page + 1 }',
    '}',
    "/** @type {import('extension-sdk').Hook<'ping'>} */",
    'exports.ping = function (options, callback) {',
    '  callback(options.connection ? null : { code: "no_connection", message: "No connection." }, { statusCode: 200 })',
    '}'
  ].join('\n');
  assert.deepEqual(diagnostics(source), []);
});
