// The component side of a Celigo-style JavaScript extension module. build.mjs puts the user's
// module (CommonJS: `exports.hooks = {...}` or `module.exports = {...}`) and every file it
// requires where the marker is, then componentize-js turns this file into a component for the
// integrator:extension world.
//
// Semantics follow integrator-extension 0.3.12: functions are `(options, callback)` calling
// back `callback(err, result)`, or return a promise; errors answer `{code: err.code || err.name,
// message: err.message}`; `lastExportDateTime` and `currentExportDateTime` arrive as Date
// objects; a result that is not plain JSON data answers "Extension response is not
// serializable.". Functions are served through `plugin.invoke` (the JSON boundary), with the
// kind they declare or as free-form `json`.
import { write } from 'integrator:extension/log@0.1.0';

const format = (args) => args.map((a) => (typeof a === 'string' ? a : safeStringify(a))).join(' ');
function safeStringify (value) {
  try { return JSON.stringify(value); } catch (_) { return String(value); }
}
const sandboxConsole = {
  log: (...args) => write('info', format(args)),
  info: (...args) => write('info', format(args)),
  debug: (...args) => write('debug', format(args)),
  warn: (...args) => write('warn', format(args)),
  error: (...args) => write('error', format(args))
};
// The module and the files it requires, bundled by build.mjs: id → { factory, deps } where
// deps maps each static `require('…')` string of that file to the id it resolved to.
const MODULES = /*__EXTENSION_MODULES__*/;
const cache = new Map();
function load (id) {
  const cached = cache.get(id);
  if (cached) return cached.exports;
  const entry = MODULES[id];
  const module = { exports: {}, id };
  cache.set(id, module);
  if (entry.json !== undefined) {
    module.exports = entry.json;
    return module.exports;
  }
  const require = (name) => {
    const target = entry.deps[name];
    if (target === undefined) {
      throw new Error(`require('${name}') is not available in the sandbox: ` +
        (entry.missing[name] || 'only files and packages that build.mjs found by a static require are bundled'));
    }
    return load(target);
  };
  entry.factory.call(module.exports, module, module.exports, require, sandboxConsole, entry.filename, entry.dirname);
  return module.exports;
}
const mod = load(0);

const GROUPS = ['hooks', 'wrappers', 'installer', 'uninstaller', 'settings', 'utilities'];
const has = (obj, key) => obj !== null && typeof obj === 'object' || typeof obj === 'function'
  ? Object.prototype.hasOwnProperty.call(obj, key)
  : false;

function lookup (target) {
  const g = target.group;
  const obj = g.tag === 'root' ? mod : g.tag === 'other' ? mod[g.val] : mod[g.tag];
  const fn = has(obj, target.name) ? obj[target.name] : undefined;
  if (typeof fn !== 'function') {
    throw { code: 'invalid_function', message: "The function passed in the extension options doesn't map to a function." };
  }
  return [obj, fn];
}

function isPlainObject (value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

// integrator-extension's validateObject: only plain JSON data may be returned.
function serializable (value) {
  if (value === undefined || value === null) return true;
  const t = typeof value;
  if (t === 'number' || t === 'boolean' || t === 'string') return true;
  if (!Array.isArray(value) && !isPlainObject(value)) return false;
  for (const key of Object.keys(value)) {
    if (!serializable(value[key])) return false;
  }
  return true;
}

const NOT_SERIALIZABLE = { code: 'invalid_extension_response', message: 'Extension response is not serializable.' };

function toFnError (err) {
  if (err && typeof err === 'object') {
    return { code: String(err.code || err.name || 'Error'), message: String(err.message === undefined ? '' : err.message) };
  }
  return { code: 'Error', message: String(err) };
}

// A function may declare its kind (`hooks.preMapPhones.kind = 'preMap'`, ignored by Node):
// the host then checks the options and the result against that kind's contract. Either way
// the function gets the whole options object and its result crosses as JSON text.
const KINDS = {
  preSavePage: 'pre-save-page',
  preMap: 'pre-map',
  postMap: 'post-map',
  postSubmit: 'post-submit',
  postResponseMap: 'post-response-map',
  postAggregate: 'post-aggregate',
  ping: 'ping',
  export: 'export',
  import: 'import',
  step: 'step',
  formInit: 'form-init',
  preSave: 'pre-save',
  initChild: 'init-child',
  update: 'update',
  changeEdition: 'change-edition',
  json: 'json'
};

function entry (name, group, fn) {
  const declared = fn.kind === undefined ? 'json' : fn.kind;
  if (!Object.prototype.hasOwnProperty.call(KINDS, declared)) {
    const where = group.tag === 'root' ? name : `${group.tag === 'other' ? group.val : group.tag}.${name}`;
    throw new Error(`${where}.kind is ${JSON.stringify(declared)}; expected one of ${Object.keys(KINDS).join(', ')}`);
  }
  return { name, group, kind: KINDS[declared], boundary: 'json' };
}

function functions () {
  const out = [];
  for (const [key, value] of Object.entries(mod)) {
    if (typeof value === 'function') {
      out.push(entry(key, { tag: 'root' }, value));
    } else if (value && typeof value === 'object') {
      const group = GROUPS.includes(key) ? { tag: key } : { tag: 'other', val: key };
      for (const [name, fn] of Object.entries(value)) {
        if (typeof fn === 'function') out.push(entry(name, group, fn));
      }
    }
  }
  return out;
}

export const plugin = {
  manifest () {
    return functions();
  },

  async invoke (target, optionsJson) {
    const [obj, fn] = lookup(target);
    const options = JSON.parse(optionsJson);
    if (options && typeof options === 'object') {
      if (options.lastExportDateTime) options.lastExportDateTime = new Date(options.lastExportDateTime);
      if (options.currentExportDateTime) options.currentExportDateTime = new Date(options.currentExportDateTime);
    }
    let result;
    try {
      result = await new Promise((resolve, reject) => {
        const returned = fn.call(obj, options, (err, res) => (err ? reject(err) : resolve(res)));
        if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
        else if (fn.length < 2) resolve(returned);
      });
    } catch (err) {
      throw toFnError(err);
    }
    if (!serializable(result)) throw NOT_SERIALIZABLE;
    if (result === undefined) return undefined;
    let text;
    try { text = JSON.stringify(result); } catch (_) { throw NOT_SERIALIZABLE; }
    return text;
  }
};

// Every function of this module takes the JSON boundary: the host calls `plugin.invoke`.
const untyped = () => {
  throw { code: 'invalid_function', message: 'JavaScript functions are served through plugin.invoke (the JSON boundary).' };
};
export const hooks = {
  preSavePage: untyped, preMap: untyped, postMap: untyped, postSubmit: untyped, postResponseMap: untyped, postAggregate: untyped
};
export const wrappers = { ping: untyped, export: untyped, import: untyped };
export const lifecycle = {
  step: untyped, formInit: untyped, preSave: untyped, initChild: untyped, update: untyped, changeEdition: untyped
};
