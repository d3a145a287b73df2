// Bundles a CommonJS module and every file it requires (relative files, JSON, packages under
// node_modules) into one JavaScript expression for runtime.js: `{ id: { factory, deps, … } }`.
// Only static `require('…')` strings are followed, as Node would resolve them; a require of a
// Node.js built-in or of something not found is recorded with the reason, and throws that
// reason only if the code actually calls it (as a module that never reaches it still works).
import { readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

const REQUIRE = /\brequire\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const isFile = (p) => { try { return statSync(p).isFile(); } catch (_) { return false; } };
const isDir = (p) => { try { return statSync(p).isDirectory(); } catch (_) { return false; } };

function packageMain (dir) {
  const pkgPath = join(dir, 'package.json');
  if (!isFile(pkgPath)) return undefined;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  let exp = pkg.exports;
  if (exp && typeof exp === 'object' && !Array.isArray(exp) && exp['.'] !== undefined) exp = exp['.'];
  while (exp && typeof exp === 'object' && !Array.isArray(exp)) exp = exp.require ?? exp.node ?? exp.default;
  return typeof exp === 'string' ? exp : pkg.main;
}

function resolvePath (p) {
  for (const candidate of [p, `${p}.js`, `${p}.cjs`, `${p}.json`]) {
    if (isFile(candidate)) return candidate;
  }
  if (isDir(p)) {
    const main = packageMain(p);
    if (main) {
      const found = resolvePath(resolve(p, main));
      if (found) return found;
    }
    for (const index of ['index.js', 'index.cjs', 'index.json']) {
      if (isFile(join(p, index))) return join(p, index);
    }
  }
  return undefined;
}

function resolveFrom (dir, request) {
  if (request.startsWith('./') || request.startsWith('../') || request === '.' || request === '..' || request.startsWith('/')) {
    return resolvePath(resolve(dir, request));
  }
  for (let d = dir; ; d = dirname(d)) {
    if (!d.endsWith(`${sep}node_modules`)) {
      const found = resolvePath(join(d, 'node_modules', request));
      if (found) return found;
    }
    if (dirname(d) === d) return undefined;
  }
}

/** The bundle of `entry` as a JavaScript expression, and the files it holds. */
export function bundle (entry) {
  const root = dirname(resolve(entry));
  const ids = new Map();
  const files = [];
  const parts = [];
  const visit = (file) => {
    if (ids.has(file)) return ids.get(file);
    const id = ids.size;
    ids.set(file, id);
    files.push(file);
    const name = `/${relative(root, file).split(sep).join('/')}`;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.json')) {
      parts[id] = `${id}: { json: ${JSON.stringify(JSON.parse(text))} }`;
      return id;
    }
    const deps = {};
    const missing = {};
    for (const [, , request] of text.matchAll(REQUIRE)) {
      if (request in deps || request in missing) continue;
      if (builtins.has(request)) {
        missing[request] = `'${request}' is a Node.js built-in module, and plugins have no file, network or process access`;
        continue;
      }
      const found = resolveFrom(dirname(file), request);
      if (found) deps[request] = visit(found);
      else missing[request] = `build.mjs found no '${request}' next to ${name} or in node_modules when it built the plugin`;
    }
    const body = text.startsWith('#!') ? text.slice(text.indexOf('\n')) : text;
    parts[id] = `${id}: {\n  filename: ${JSON.stringify(name)},\n  dirname: ${JSON.stringify(name.slice(0, name.lastIndexOf('/')) || '/')},\n` +
      `  deps: ${JSON.stringify(deps)},\n  missing: ${JSON.stringify(missing)},\n` +
      `  factory: function (module, exports, require, console, __filename, __dirname) {\n${body}\n}\n}`;
    return id;
  };
  visit(resolve(entry));
  return { source: `{\n${parts.join(',\n')}\n}`, files };
}
