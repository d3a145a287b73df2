// An integrator.io extension module, written as for express-integrator-extension.
// Build: `extension-host build . -o plugin.wasm`; test: `npm test` (under Node) and
// `./test.sh` (the built component, in the sandbox). Types: jsconfig.json maps
// `extension-sdk` to the SDK's declarations, so editors check options and results.

exports.hooks = {
  /**
   * preMap: each record's `name` in capitals, one result per record.
   * @type {import('extension-sdk').Hook<'preMap'>}
   */
  preMapUpper: function (options, callback) {
    callback(null, options.data.map(function (record) {
      if (Array.isArray(record) || typeof record.name !== 'string') return { data: record }
      return { data: Object.assign({}, record, { name: record.name.toUpperCase() }) }
    }))
  }
}
exports.hooks.preMapUpper.kind = 'preMap'
