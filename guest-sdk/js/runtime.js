// The component side of a Celigo-style JavaScript extension module. build.mjs puts the user's
// module (CommonJS: `exports.hooks = {...}` or `module.exports = {...}`) where the marker is,
// then componentize-js turns this file into a component for the integrator:extension world.
//
// Semantics follow integrator-extension 0.3.12: functions are `(options, callback)` calling
// back `callback(err, result)`, or return a promise; errors answer `{code: err.code || err.name,
// message: err.message}`; `lastExportDateTime` and `currentExportDateTime` arrive as Date
// objects; a result that is not plain JSON data answers "Extension response is not
// serializable.". Every function is served as kind `json` (the free-form path).
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
const sandboxRequire = (name) => {
  throw new Error(`require('${name}') is not available in the sandbox: bundle dependencies into the module`);
};

const module = { exports: {} };
(function (module, exports, require, console) {
/*__EXTENSION_MODULE__*/
})(module, module.exports, sandboxRequire, sandboxConsole);
const mod = module.exports;

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

export const plugin = {
  manifest () {
    const out = [];
    for (const [key, value] of Object.entries(mod)) {
      if (typeof value === 'function') {
        out.push({ name: key, group: { tag: 'root' }, kind: 'json' });
      } else if (value && typeof value === 'object') {
        const group = GROUPS.includes(key) ? { tag: key } : { tag: 'other', val: key };
        for (const [name, fn] of Object.entries(value)) {
          if (typeof fn === 'function') out.push({ name, group, kind: 'json' });
        }
      }
    }
    return out;
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

// Functions of this module declare no kind: the host routes every call to `plugin.invoke`.
const untyped = () => {
  throw { code: 'invalid_function', message: 'This JavaScript module serves its functions through the free-form path only.' };
};
export const hooks = {
  preSavePage: untyped, preMap: untyped, postMap: untyped, postSubmit: untyped, postResponseMap: untyped, postAggregate: untyped
};
export const wrappers = { ping: untyped, export: untyped, import: untyped };
export const lifecycle = {
  step: untyped, formInit: untyped, preSave: untyped, initChild: untyped, update: untyped, changeEdition: untyped
};
