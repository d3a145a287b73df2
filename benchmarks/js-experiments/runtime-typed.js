// An experiment for BENCHMARKS.md, not the SDK: the JavaScript SDK's runtime with the *typed*
// boundary for preMap, to compare against the JSON boundary that guest-sdk/js/runtime.js uses.
// `preMapUpper` is declared kind pre-map, boundary typed: the host sends typed records (each
// record one JSON text, the context fields one by one) and the runtime rebuilds the original
// options object, calls the same module, and turns its result back into typed map-results.
// Built by tests/benches/languages.rs with `build.mjs --runtime <this file>`.
// The module and everything it requires, bundled by bundle.mjs (as in runtime.js).
globalThis.__extensionConsole = console;
/*__EXTENSION_MODULE__*/
const mod = __extensionModule;

const CONTEXT = [
  ['bearerToken', 'bearerToken'], ['integrationId', '_integrationId'], ['parentIntegrationId', '_parentIntegrationId'],
  ['flowId', '_flowId'], ['exportId', '_exportId'], ['importId', '_importId'], ['connectionId', '_connectionId']
];

function rebuild (fields, context) {
  const options = Object.assign(fields, JSON.parse(context.extra));
  for (const [wit, key] of CONTEXT) if (context[wit] !== undefined) options[key] = context[wit];
  if (context.settings !== undefined) options.settings = JSON.parse(context.settings);
  if (context.configuration !== undefined) options.configuration = JSON.parse(context.configuration);
  return options;
}

function call (fn, options) {
  return new Promise((resolve, reject) => {
    const returned = fn(options, (err, res) => (err ? reject(err) : resolve(res)));
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
  });
}

export const plugin = {
  manifest () {
    return [{ name: 'preMapUpper', group: { tag: 'hooks' }, kind: 'pre-map', boundary: 'typed' }];
  },
  invoke () { throw { code: { tag: 'text', val: 'invalid_function' }, message: 'typed experiment' }; }
};
export const pluginBytes = { invoke: plugin.invoke };

const unused = () => { throw { code: { tag: 'text', val: 'invalid_function' }, message: 'typed experiment' }; };
export const hooks = {
  async preMap (target, options) {
    const data = options.data.map((text) => JSON.parse(text));
    const results = await call(mod.hooks[target.name], rebuild({ data }, options.context));
    return results.map((r) => ({
      data: r.data === undefined ? undefined : JSON.stringify(r.data),
      errors: r.errors || []
    }));
  },
  preSavePage: unused, postMap: unused, postSubmit: unused, postResponseMap: unused, postAggregate: unused
};
export const wrappers = { ping: unused, export: unused, import: unused };
export const lifecycle = {
  step: unused, formInit: unused, preSave: unused, initChild: unused, update: unused, changeEdition: unused
};
export const scripts = { responseScript: unused };
