// Bundles a CommonJS (or ES) module and everything it requires into one script for runtime.js,
// with esbuild: `var __extensionModule = (() => { … })();`, the module's exports.
//
// What a Node module expects, over what the sandbox has:
// - Node built-ins resolve to the polyfills browser bundlers use (node-stdlib-browser: `http`
//   and `https` over `fetch`, which the host sends through wasi:http under the connector's
//   network policy; `stream`, `buffer`, `events`, `util`, `url`, `zlib`, `crypto`, …);
// - built-ins that cannot work in the sandbox (`fs`, `net`, `tls`, `http2`, `child_process`,
//   `dgram`, …) load as stubs whose functions throw a clear error when called (node-stubs.js):
//   popular libraries require them at load without using them;
// - the globals Node code uses (`Buffer`, `process`, `global`, `setImmediate`; node-globals.js)
//   are installed before the module loads, and `console` is the host log;
// - packages resolve with their browser builds where they have one (`browser` fields and
//   export conditions), the ones written for these polyfills;
// - a module that is not found fails only when it is required, with the reason, as a module
//   that never reaches it still works.
import * as esbuild from 'esbuild';
import stdlib from 'node-stdlib-browser';
import { SourceMap, builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const GLOBALS = join(here, 'node-globals.js');
const PROCESS = join(here, 'node-process.js');
const STUBS = join(here, 'node-stubs.js');
const builtins = new Set(builtinModules);
const unprefixed = (name) => (name.startsWith('node:') ? name.slice(5) : name);

/** Where a built-in comes from: a polyfill's path, our own module, or none (a stub). */
function polyfill (name) {
  if (name === 'process') return PROCESS;
  if (name === 'console') return join(here, 'node-console.js');
  const path = stdlib[name];
  return path && !path.includes(`${sep}mock${sep}`) ? path : undefined;
}

/** The plugin that owns resolution; `displayName` names a file as the module's own path. */
const sandbox = (displayName) => ({
  name: 'extension-sandbox',
  setup (build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind === 'entry-point' || args.pluginData?.own) return undefined;
      const name = unprefixed(args.path);
      if (builtins.has(name) || args.path.startsWith('node:')) {
        const path = polyfill(name);
        if (!path) return { path: name, namespace: 'unavailable' };
        return resolveOwn(build, path, here, args.kind);
      }
      const found = await resolveOwn(build, args.path, args.resolveDir, args.kind, args.importer);
      // A path a `browser` field disables resolves to a file that does not exist: esbuild's
      // own resolution (which knows it is disabled) makes it an empty module.
      if (found.errors.length === 0) return existsSync(found.path) ? found : undefined;
      return { path: args.path, namespace: 'missing', pluginData: { importer: args.importer } };
    });
    build.onLoad({ filter: /.*/, namespace: 'unavailable' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(STUBS)})(${JSON.stringify(args.path)});`,
      resolveDir: here,
      loader: 'js'
    }));
    build.onLoad({ filter: /.*/, namespace: 'missing' }, (args) => {
      const from = args.pluginData.importer ? displayName(args.pluginData.importer) : 'the module';
      const reason = `require('${args.path}') is not available in the sandbox: ` +
        `the build found no '${args.path}' next to ${from} or in node_modules`;
      return { contents: `throw new Error(${JSON.stringify(reason)});`, loader: 'js' };
    });
    // Node gives every CommonJS file its own name and directory (read once here, either way).
    build.onLoad({ filter: /\.c?js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!/\b__(file|dir)name\b/.test(text)) return { contents: text, loader: 'js' };
      const name = displayName(args.path);
      const prelude = `var __filename = ${JSON.stringify(name)}, __dirname = ${JSON.stringify(name.slice(0, name.lastIndexOf('/')) || '/')};`;
      return { contents: prelude + text, loader: 'js' };
    });
  }
});

async function resolveOwn (build, path, resolveDir, kind, importer) {
  const found = await build.resolve(path, { resolveDir, kind, importer, pluginData: { own: true } });
  if (found.errors.length > 0) return found;
  return { path: found.path, namespace: found.namespace, sideEffects: found.sideEffects, errors: [] };
}

/**
 * The bundle of `entry` as a script defining `__extensionModule` (the module's exports), the
 * files it holds, and its source map (JSON text).
 */
export async function bundle (entry) {
  const path = resolve(entry);
  const root = dirname(path);
  const displayName = (file) => `/${relative(root, file).split(sep).join('/')}`;
  const result = await esbuild.build({
    stdin: {
      contents: `require(${JSON.stringify(GLOBALS)});\nmodule.exports = require(${JSON.stringify(path)});\n`,
      resolveDir: root,
      sourcefile: 'extension-entry.js',
      loader: 'js'
    },
    bundle: true,
    write: false,
    format: 'iife',
    globalName: '__extensionModule',
    platform: 'browser',
    target: 'es2022',
    // The host log, not the engine's stderr (runtime.js defines it).
    define: { console: 'globalThis.__extensionConsole', global: 'globalThis' },
    sourcemap: 'external',
    sourcesContent: false,
    outfile: 'extension-module.js',
    metafile: true,
    logLevel: 'silent',
    plugins: [sandbox(displayName)]
  }).catch((err) => {
    const messages = (err.errors || []).map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`);
    throw new Error(`bundling ${entry} failed:\n${messages.join('\n') || err.message}`);
  });
  const output = (suffix) => result.outputFiles.find((f) => f.path.endsWith(suffix)).text;
  // The module's own files and packages (not the entry stub, the SDK's polyfills or stubs).
  const stub = join(root, 'extension-entry.js');
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes(':'))
    .map((f) => resolve(f))
    .filter((f) => f !== stub && (!f.startsWith(here + sep) || f === path));
  return { source: output('.js'), lines: lineTable(JSON.parse(output('.js.map')), displayName), files };
}

/**
 * The source map cut down to what a stack trace needs, for runtime.js: each generated line's
 * file and line, as runs `[first generated line, source index (-1: none), its line]` over
 * which both advance together (0-based), and the sources as the module's own paths.
 */
function lineTable (map, displayName) {
  const sourceMap = new SourceMap(map);
  const sources = map.sources.map((s) => displayName(resolve(s)));
  const index = new Map(map.sources.map((s, i) => [s, i]));
  const runs = [];
  const count = map.mappings.split(';').length;
  for (let line = 0; line < count; line++) {
    const entry = sourceMap.findEntry(line, Number.MAX_SAFE_INTEGER);
    const here = entry && entry.generatedLine === line && entry.originalSource !== undefined
      ? [index.get(entry.originalSource) ?? -1, entry.originalLine]
      : [-1, 0];
    const last = runs[runs.length - 1];
    if (last && last[1] === here[0] && (here[0] < 0 || last[2] + (line - last[0]) === here[1])) continue;
    runs.push([line, here[0], here[1]]);
  }
  return { sources, runs };
}
