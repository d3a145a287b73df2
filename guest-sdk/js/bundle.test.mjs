// `node --test guest-sdk/js/`: the bundler resolves requires as Node does (scripts/test.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundle } from './bundle.mjs';
import vm from 'node:vm';

function tree (files) {
  const root = mkdtempSync(join(tmpdir(), 'bundle-test-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

// Loads a bundle the way runtime.js does, in a context of its own (the bundle installs
// Node-style globals such as `process` there, not in this test process).
function run (source) {
  const logged = [];
  const log = (...args) => logged.push(args.join(' '));
  const context = vm.createContext({
    setTimeout, clearTimeout, queueMicrotask, TextEncoder, TextDecoder, URL, URLSearchParams,
    __extensionConsole: { log, info: log, warn: log, error: log, debug: log, trace: log }
  });
  const exports = vm.runInContext(`${source}\n__extensionModule`, context);
  return Object.assign(exports, { logged });
}

test('relative files, JSON and packages resolve as Node resolves them', async () => {
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
  const { source, files } = await bundle(join(root, 'app', 'functions.js'));
  assert.equal(files.length, 7); // each file once, however it is required
  const { logged, ...exported } = run(source);
  assert.deepEqual(exported, {
    max: 15, same: true, plain: 'plain', dual: 'dual-cjs', indexed: 'indexed', file: '/functions.js'
  });
});

test('unavailable built-ins and missing modules fail only when called or required, with the reason', async () => {
  const root = tree({
    'functions.js': [
      "const fs = require('fs'), net = require('node:net'), tls = require('tls')",
      "class Sock extends net.Socket {}",
      "exports.readFile = () => fs.readFileSync('/etc/passwd')",
      "exports.missing = () => require('left-pad')",
      "exports.fine = () => typeof Sock + typeof tls.connect"
    ].join('\n')
  });
  const mod = run((await bundle(join(root, 'functions.js'))).source);
  assert.equal(mod.fine(), 'functionfunction');
  assert.throws(() => mod.readFile(), /^Error: fs\.readFileSync\(\) is not available in the sandbox: plugins have no file system/);
  assert.throws(() => mod.missing(), /require\('left-pad'\) is not available in the sandbox: the build found no 'left-pad' next to \/functions.js or in node_modules/);
});

test('Node built-ins map to polyfills and Node globals exist before the module loads', async () => {
  const root = tree({
    'functions.js': [
      "const { EventEmitter } = require('events'), util = require('node:util'), path = require('path')",
      "const qs = require('querystring'), url = require('url'), crypto = require('crypto')",
      "const topLevel = typeof Buffer + typeof process.nextTick + typeof setImmediate + typeof global",
      "console.log('loaded', process.version)",
      "exports.check = () => ({ topLevel, env: Object.keys(process.env).length,",
      "  emitter: typeof new EventEmitter().on, inspect: util.format('%s=%d', 'a', 1),",
      "  joined: path.join('/a', '../b'), query: qs.stringify({ x: 1 }), host: url.parse('https://h.example/p').host,",
      "  sha: crypto.createHash('sha256').update('x').digest('hex').slice(0, 8), base64: Buffer.from('hi').toString('base64') })"
    ].join('\n')
  });
  const mod = run((await bundle(join(root, 'functions.js'))).source);
  assert.deepEqual(JSON.parse(JSON.stringify(mod.check())), {
    topLevel: 'functionfunctionfunctionobject', env: 0, emitter: 'function', inspect: 'a=1',
    joined: '/b', query: 'x=1', host: 'h.example', sha: '2d711642', base64: 'aGk='
  });
  assert.deepEqual(mod.logged, ['loaded v20.0.0']);
});
