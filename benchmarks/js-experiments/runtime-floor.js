// An experiment for BENCHMARKS.md, not the SDK: the least a JavaScript component built by
// componentize-js can do per call. `plugin.invoke` answers `[]` without reading its input and
// the module is bundled but never loaded, so what a call costs here is the engine's own
// per-call work (the lifting of arguments, the export call, the event loop), the floor under
// guest-sdk/js/runtime.js. Measured at N = 0 by tests/benches/languages.rs. The host calls
// `plugin-bytes.invoke`, as it does for the SDK's modules.
globalThis.__extensionConsole = console;
/*__EXTENSION_MODULE__*/
const EMPTY = new TextEncoder().encode('[]');
export const pluginBytes = { invoke () { return EMPTY; } };
export const plugin = {
  manifest () {
    return [{ name: 'preMapUpper', group: { tag: 'hooks' }, kind: 'json', boundary: 'json' }];
  },
  invoke () { return '[]'; }
};
const unused = () => { throw { code: { tag: 'text', val: 'invalid_function' }, message: 'floor experiment' }; };
export const hooks = {
  preSavePage: unused, preMap: unused, postMap: unused, postSubmit: unused, postResponseMap: unused, postAggregate: unused
};
export const wrappers = { ping: unused, export: unused, import: unused };
export const lifecycle = {
  step: unused, formInit: unused, preSave: unused, initChild: unused, update: unused, changeEdition: unused
};
export const scripts = { responseScript: unused };
