// An integrator.io extension module, written as for express-integrator-extension.
// Build: `extension-host build . -o plugin.wasm`; test: `npm test` (under Node) and
// `./test.sh` (the built component, in the sandbox).

exports.hooks = {
  // preMap: each record's `name` in capitals, one result per record.
  preMapUpper: function (options, callback) {
    callback(null, options.data.map(function (record) {
      const out = Object.assign({}, record)
      if (typeof out.name === 'string') out.name = out.name.toUpperCase()
      return { data: out }
    }))
  }
}
exports.hooks.preMapUpper.kind = 'preMap'
