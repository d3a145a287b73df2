// An experiment for BENCHMARKS.md ("Languages"), not the SDK: what single JavaScript operations
// cost inside the sandbox. Each function first copies the records (`base` does only that), then
// does one kind of operation on them; the fuel above `base` in the host's call log is that
// operation's cost. Build with `build.mjs --interpreter`, serve as diy.wasm and POST each
// function name with 1000 records in `options.data`.
function objs (data) {
  const out = data.map((r) => ({ data: Object.assign({}, r) }))
  return out
}
function all (root) { const list = []; const stack = [root]; while (stack.length) { const v = stack.pop(); list.push(v); for (const k in v) { const x = v[k]; if (x !== null && typeof x === 'object') stack.push(x) } } return list }
exports.base = (o, cb) => { const r = objs(o.data); cb(null, 1) }
exports.walkForIn = (o, cb) => { const r = objs(o.data); all(r); cb(null, 1) }
exports.protoOnly = (o, cb) => { const r = objs(o.data); let n = 0; for (const x of r) { if (Object.getPrototypeOf(x) === Object.prototype) n++; if (Object.getPrototypeOf(x.data) === Object.prototype) n++ } cb(null, n) }
exports.isArrayOnly = (o, cb) => { const r = objs(o.data); let n = 0; for (const x of r) { if (Array.isArray(x)) n++; if (Array.isArray(x.data)) n++ } cb(null, n) }
exports.valuesOnly = (o, cb) => { const r = objs(o.data); let n = 0; for (const x of r) { n += Object.values(x.data).length } cb(null, n) }
exports.stackOnly = (o, cb) => { const r = objs(o.data); const s = []; for (const x of r) { s.push(x); s.push(x.data) } while (s.length) s.pop(); cb(null, 1) }
exports.typeofOnly = (o, cb) => { const r = objs(o.data); let n = 0; for (const x of r) { const d = x.data; for (const k in d) { if (typeof d[k] === 'string') n++ } } cb(null, n) }
exports.stringify = (o, cb) => { const r = objs(o.data); cb(null, JSON.stringify(r).length) }
