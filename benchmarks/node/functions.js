'use strict'
// The benchmark workload in JavaScript, as a Celigo-style DIY module (same semantics as
// plugins/bench/src/lib.rs).

exports.hooks = {
  preMapUpper (options, callback) {
    return callback(null, options.data.map((record) => {
      const out = Object.assign({}, record)
      if (typeof out.name === 'string') out.name = out.name.toUpperCase()
      out.processed = true
      return { data: out }
    }))
  },

  echo (options, callback) {
    return callback(null, options.data)
  },

  postSubmitIds (options, callback) {
    return callback(null, options.responseData.map((response) => {
      if (typeof response.id === 'string') response.id = 'ok-' + response.id
      return response
    }))
  }
}
