// `node --test guest-sdk/js/`: the bundler resolves requires as Node does (scripts/test.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundle } from './bundle.mjs';

function tree (files) {
  const root = mkdtempSync(join(tmpdir(), 'bundle-test-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

// Loads a bundle the way runtime.js does.
function run (source) {
  const modules = (0, eval)(`(${source})`);
  const cache = new Map();
  const load = (id) => {
    if (cache.has(id)) return cache.get(id).exports;
    const entry = modules[id];
    const module = { exports: {} };
    cache.set(id, module);
    if (entry.json !== undefined) return (module.exports = entry.json);
    const require = (name) => {
      if (entry.deps[name] === undefined) throw new Error(entry.missing[name]);
      return load(entry.deps[name]);
    };
    entry.factory.call(module.exports, module, module.exports, require, console, entry.filename, entry.dirname);
    return module.exports;
  };
  return load(0);
}

test('relative files, JSON and packages resolve as Node resolves them', () => {
  const root = tree({
    'node_modules/plain/package.json': '{"main": "lib/main.js"}',
    'node_modules/plain/lib/main.js': "exports.name = 'plain'",
    'node_modules/dual/package.json': '{"exports": {".": {"import": "./esm.mjs", "require": "./cjs.js"}}}',
    'node_modules/dual/cjs.js': "module.exports = 'dual-cjs'",
    'node_modules/indexed/index.js': "module.exports = require('./more')",
    'node_modules/indexed/more.js': "module.exports = 'indexed'",
    'app/lib/util.js': "const rules = require('../rules.json'); exports.max = rules.max",
    'app/rules.json': '{"max": 15}',
    'app/functions.js': [
      "'use strict'",
      "const util = require('./lib/util')",
      "const again = require('./lib/util.js')",
      "module.exports = { max: util.max, same: util === again, plain: require('plain').name,",
      "  dual: require('dual'), indexed: require('indexed'), file: __filename }"
    ].join('\n')
  });
  const { source, files } = bundle(join(root, 'app', 'functions.js'));
  assert.equal(files.length, 7); // each file once, however it is required
  assert.deepEqual(run(source), {
    max: 15, same: true, plain: 'plain', dual: 'dual-cjs', indexed: 'indexed', file: '/functions.js'
  });
});

test('built-ins and missing modules fail only when required, with the reason', () => {
  const root = tree({
    'functions.js': [
      "exports.readFile = () => require('fs').readFileSync('/etc/passwd')",
      "exports.missing = () => require('left-pad')",
      "exports.fine = () => 'ok'"
    ].join('\n')
  });
  const mod = run(bundle(join(root, 'functions.js')).source);
  assert.equal(mod.fine(), 'ok');
  assert.throws(() => mod.readFile(), /'fs' is a Node.js built-in module/);
  assert.throws(() => mod.missing(), /found no 'left-pad' next to \/functions.js or in node_modules/);
});
