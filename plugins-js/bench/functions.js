'use strict'
// The benchmark workload: the very module the Node reference server runs
// (benchmarks/node/functions.js), bundled by build.mjs, so both measure the same JavaScript.
module.exports = require('../../benchmarks/node/functions.js')
