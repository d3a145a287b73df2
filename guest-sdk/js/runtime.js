// The component side of a Celigo-style JavaScript extension module. build.mjs puts the user's
// module (CommonJS: `exports.hooks = {...}` or `module.exports = {...}`) and every file it
// requires where the marker is, then componentize-js turns this file into a component for the
// integrator:extension world.
//
// Semantics follow integrator-extension 0.3.12: functions are `(options, callback)` calling
// back `callback(err, result)` (beyond the original, which refuses async functions, they may
// also return a promise); errors answer `{code: err.code || err.name,
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
  trace: (...args) => write('debug', format(args)),
  log: (...args) => write('info', format(args)),
  info: (...args) => write('info', format(args)),
  debug: (...args) => write('debug', format(args)),
  warn: (...args) => write('warn', format(args)),
  error: (...args) => write('error', format(args))
};
// The global `console` of the module and everything it requires (bundle.mjs points it here).
globalThis.__extensionConsole = sandboxConsole;
// The module and everything it requires, bundled by bundle.mjs: defines `__extensionModule`.
/*__EXTENSION_MODULE__*/
const mod = __extensionModule;

const GROUPS = ['hooks', 'wrappers', 'installer', 'uninstaller', 'settings', 'utilities'];
const has = (obj, key) => obj !== null && typeof obj === 'object' || typeof obj === 'function'
  ? Object.prototype.hasOwnProperty.call(obj, key)
  : false;

function lookup (target) {
  const g = target.group;
  const obj = g.tag === 'root' ? mod : g.tag === 'other' ? mod[g.val] : mod[g.tag];
  const fn = has(obj, target.name) ? obj[target.name] : undefined;
  if (typeof fn !== 'function') {
    throw { code: errorCode('invalid_function'), message: "The function passed in the extension options doesn't map to a function." };
  }
  return [obj, fn];
}

// integrator-extension's validateObject: only plain JSON data may be returned (no Date, class
// instance, function, symbol or bigint anywhere in the own enumerable values). One loop over
// an explicit stack, each object's values taken at once by the native Object.values, every
// primitive settled inline: in an interpreter each call and each bytecode counts, and this walk
// visits every value of the result (BENCHMARKS.md, "Languages").
function serializable (value) {
  const type = typeof value;
  if (type !== 'object' || value === null) return type !== 'function' && type !== 'symbol' && type !== 'bigint';
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (!Array.isArray(v)) {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
    }
    const values = Object.values(v);
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      const t = typeof x;
      if (t === 'object') {
        if (x !== null) stack.push(x);
      } else if (t === 'function' || t === 'symbol' || t === 'bigint') {
        return false;
      }
    }
  }
  return true;
}

const PENDING = 0;
const DONE = 1;
const FAILED = 2;

// The function's result as the JSON text the host receives.
// As the original: JSON.stringify first (a cycle or a bigint throws), then the plain-data walk.
function finish (result) {
  let text;
  try {
    text = JSON.stringify(result);
  } catch (_) {
    throw NOT_SERIALIZABLE;
  }
  if (!serializable(result)) throw NOT_SERIALIZABLE;
  return text;
}

const NOT_SERIALIZABLE = { code: errorCode('invalid_extension_response'), message: 'Extension response is not serializable.' };

// Where the bundle's lines came from (build.mjs): stack traces name the author's files.
const SOURCE_LINES = /*__EXTENSION_SOURCE_LINES__*/;

function sourceStack (stack) {
  const { offset, runs, sources } = SOURCE_LINES;
  return String(stack).replace(/extension-module\.js:(\d+):\d+/g, (frame, line) => {
    const generated = Number(line) - 1 - offset;
    let lo = 0;
    let hi = runs.length - 1;
    if (generated < 0 || hi < 0 || generated < runs[0][0]) return frame;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (runs[mid][0] <= generated) lo = mid; else hi = mid - 1;
    }
    const [first, source, original] = runs[lo];
    return source < 0 ? frame : `${sources[source]}:${original + generated - first + 1}`;
  });
}

// An Error (a bug more often than a deliberate failure) also logs its stack, in the author's
// files and lines; the caller gets code and message only, as from the original.
function toFnError (err) {
  if (err instanceof Error && err.stack) {
    write('warn', `${err.name}: ${err.message} at ${sourceStack(err.stack).trim().split('\n').join(' <- ')}`);
  }
  if (err && typeof err === 'object') {
    return { code: errorCode(err.code || err.name || 'Error'), message: String(err.message === undefined ? '' : err.message) };
  }
  return { code: errorCode('Error'), message: String(err) };
}

// A numeric code stays a number on the wire, as Node answers `err.code = 5`.
function errorCode (code) {
  return typeof code === 'number' ? { tag: 'number', val: code } : { tag: 'text', val: String(code) };
}

// A function may declare its kind (`hooks.preMapPhones.kind = 'preMap'`, ignored by Node):
// the host then checks the options and the result against that kind's contract. Either way
// the function gets the whole options object and its result crosses as JSON text.
// The names are the WIT's `enum kind` cases (build.mjs reads them from wit/types.wit) in
// camelCase, as integrator.io spells them: `pre-map` is `preMap`.
const KINDS = Object.fromEntries(/*__EXTENSION_KINDS__*/.map((k) => [k.replace(/-(.)/g, (_, c) => c.toUpperCase()), k]));

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

// The result crosses as UTF-8 bytes (`plugin-bytes.invoke`, which the host calls when a module
// exports it): componentize-js lowers a returned string with a loop over its characters in
// interpreted JavaScript (~2,600 fuel per character), a byte array with one copy; TextEncoder
// is native.
const ENCODER = new TextEncoder();
const toBytes = (text) => (text === undefined ? undefined : ENCODER.encode(text));

export const pluginBytes = {
  invoke (target, optionsJson) {
    const text = invokeText(target, optionsJson);
    return text && typeof text.then === 'function' ? text.then(toBytes) : toBytes(text);
  }
};

export const plugin = {
  manifest () {
    return functions();
  },
  invoke: invokeText
};

// The function's result as JSON text, or a promise of it.
// Synchronous when the function answers synchronously (calls back or returns a value):
// the common case pays for no promise or event-loop turn. A promise, or a callback called
// later, makes the export return a promise, which the component runs to completion.
function invokeText (target, optionsJson) {
  const [obj, fn] = lookup(target);
  const options = JSON.parse(optionsJson);
  if (options && typeof options === 'object') {
    if (options.lastExportDateTime) options.lastExportDateTime = new Date(options.lastExportDateTime);
    if (options.currentExportDateTime) options.currentExportDateTime = new Date(options.currentExportDateTime);
  }
  let state = PENDING;
  let value;
  let later;
  const callback = (err, res) => {
    if (state !== PENDING) return;
    state = err ? FAILED : DONE;
    value = err || res;
    if (later) later();
  };
  let returned;
  try {
    returned = fn.call(obj, options, callback);
  } catch (err) {
    throw toFnError(err);
  }
  if (state === PENDING && returned && typeof returned.then === 'function') {
    return returned.then(finish, (err) => { throw toFnError(err); });
  }
  if (state === PENDING && fn.length < 2) {
    state = DONE;
    value = returned;
  }
  if (state === PENDING) {
    return new Promise((resolve) => { later = resolve; }).then(settled);
  }
  return settled();

  function settled () {
    if (state === FAILED) throw toFnError(value);
    return finish(value);
  }
}

// Every function of this module takes the JSON boundary: the host calls `plugin-bytes.invoke`.
const untyped = () => {
  throw { code: errorCode('invalid_function'), message: 'JavaScript functions are served through plugin.invoke (the JSON boundary).' };
};
export const hooks = {
  preSavePage: untyped, preMap: untyped, postMap: untyped, postSubmit: untyped, postResponseMap: untyped, postAggregate: untyped
};
export const wrappers = { ping: untyped, export: untyped, import: untyped };
export const lifecycle = {
  step: untyped, formInit: untyped, preSave: untyped, initChild: untyped, update: untyped, changeEdition: untyped
};
export const scripts = { responseScript: untyped };
