// An experiment for BENCHMARKS.md ("Languages"), not the SDK: JavaScript-heavy work, to compare
// the AOT build with the `--interpreter` build and Node on code that computes rather than moves
// JSON. `heavy` hashes every field of every record (FNV-1a) and sorts its keys.
//
//   node guest-sdk/js/build.mjs benchmarks/js-experiments/heavy.js -o aot/diy.wasm
//   node guest-sdk/js/build.mjs benchmarks/js-experiments/heavy.js -o int/diy.wasm --interpreter
//   extension-host serve --plugins aot ...   # one server per build; POST /function
//   {"diy":true,"type":"hook","function":"heavy","options":{"data":[...1000 records...]}}
//
// and read `fuel_used` and `duration_ms` from each server's call log; under Node, require this
// file and time `hooks.heavy` with JSON.parse/JSON.stringify around it.
function fnv (s) {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0 }
  return h
}
exports.hooks = {
  heavy (options, callback) {
    const out = options.data.map((r) => {
      const keys = Object.keys(r).sort()
      let acc = 0
      for (const k of keys) acc = (acc + fnv(k + ':' + String(r[k]))) >>> 0
      return { data: { ...r, checksum: acc, tags: keys.filter((k) => k.length > 3).map((k) => k.toUpperCase()) } }
    })
    callback(null, out)
  }
}
