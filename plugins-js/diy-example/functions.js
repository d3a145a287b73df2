'use strict'
// A DIY extension module written for express-integrator-extension, unchanged: the same preMap
// phone normalisation as plugins/diy-example, plus functions that exercise the original's
// semantics (callbacks, promises, errors, dates, non-serialisable results, a runaway loop).
// It runs under Node as it is; build.mjs bundles the files it requires.

const { normalisePhone } = require('./lib/phone')

exports.hooks = {
  preMapPhones: function (options, callback) {
    return callback(null, options.data.map(function (record) {
      if (record.phone === undefined) return { data: record }
      const phone = normalisePhone(record.phone)
      if (!phone) {
        return { errors: [{ code: 'invalid_phone', message: "'" + record.phone + "' is not a phone number", source: 'preMapPhones' }] }
      }
      return { data: Object.assign({}, record, { phone: phone }) }
    }))
  },

  postSubmitEnrich: async function (options) {
    return options.responseData.map(function (response, i) {
      const source = options.preMapData[i] && options.preMapData[i].id
      ;(response.errors || []).forEach(function (e) { e.message = e.message + ' (source record ' + JSON.stringify(source) + ')' })
      return response
    })
  },

  delta: function (options, callback) {
    console.log('delta export window', options.lastExportDateTime, options.currentExportDateTime)
    callback(null, {
      lastIsDate: options.lastExportDateTime instanceof Date,
      last: options.lastExportDateTime.toISOString(),
      year: options.currentExportDateTime.getUTCFullYear()
    })
  },

  // Calls back on a later turn of the event loop, as code written against async libraries does.
  deferred: function (options, callback) {
    setTimeout(function () { callback(null, { deferred: true, records: options.data.length }) }, 0)
  },

  deferredFailure: function (options, callback) {
    Promise.resolve().then(function () { callback(Object.assign(new Error('Rate limited.'), { code: 'rate_limited' })) })
  },

  // Forgets to call back.
  neverAnswers: function (options, callback) {},

  failWithCode: function (options, callback) {
    const err = new Error('The vendor API rejected the page.')
    err.code = 'vendor_rejected'
    callback(err)
  },

  // Node modules often carry a vendor's numeric code; it stays a number on the wire.
  failWithNumber: function (options, callback) {
    callback(Object.assign(new Error('Vendor error five.'), { code: 5 }))
  },

  failWithName: function (options, callback) {
    callback(new TypeError('Cannot read properties of undefined'))
  },

  // A common shortcut: calling back with a string instead of an Error.
  failWithString: function (options, callback) {
    callback('Invalid record')
  },

  notSerializable: function (options, callback) {
    callback(null, { when: new Date(0) })
  },

  cyclic: function (options, callback) {
    const node = { name: 'loop' }
    node.self = node
    callback(null, node)
  },

  spin: function () {
    for (;;) {}
  }
}

// Optional declarations (Node ignores them): the host checks these functions' options and
// results against the preMap contract.
exports.hooks.preMapPhones.kind = 'preMap'

exports.hooks.preMapDropsOne = function (options, callback) {
  callback(null, options.data.slice(1).map(function (record) { return { data: record } }))
}
exports.hooks.preMapDropsOne.kind = 'preMap'

exports.hooks.preMapBareRecords = function (options, callback) {
  callback(null, options.data)
}
exports.hooks.preMapBareRecords.kind = 'preMap'

exports.utilities = {
  readConfigFile: function (options, callback) {
    const fs = require('fs')
    callback(null, fs.readFileSync('/etc/hostname', 'utf8'))
  }
}

// Answers what it is given: large values cross the boundary at about the cost of a copy.
exports.utilities.echoValue = function (options, callback) {
  callback(null, options.value)
}

exports.settings = {
  persistSettings: function (options, callback) {
    callback(null, { success: true, saved: Object.keys(options.pending || {}).length })
  }
}

// Module-level state: under Node it grows from call to call; in the sandbox every call starts
// from the state the module had when the component was built.
let calls = 0
exports.utilities.countCalls = function (options, callback) {
  calls += 1
  callback(null, { calls: calls })
}

// A function at the module root: requests without `type` reach it.
exports.version = function (options, callback) {
  callback(null, { version: '1.4.2', caller: options.caller || null })
}

// A response script: what a connector's response means (see plugins/diy-example).
exports.sessionCheck = function (options, callback) {
  const { status, body } = options.response
  let verdict = { responseCode: 0 }
  if (status === 401) verdict = { responseCode: 4, message: 'session expired' }
  else if (status >= 200 && status < 300 && body.indexOf('Invalid session') >= 0) verdict = { responseCode: 4, message: 'the body says the session is invalid' }
  else if (status === 429) verdict = { responseCode: 1, message: 'throttled' }
  else if (status >= 500) verdict = { responseCode: 2, message: 'the API is failing' }
  else if (status >= 400) verdict = { responseCode: 3, message: 'the API refused the request' }
  callback(null, verdict)
}
exports.sessionCheck.kind = 'responseScript'

// Re-authentication for sessionCheck (named `reauthenticate` in the settings'
// [[response_scripts]]): logs in at the judged URL's origin and returns the headers the host
// sets on the retried request and every later one to that host.
exports.refreshSession = async function (options) {
  const origin = new URL(options.request.url).origin
  const login = await fetch(origin + '/login', { method: 'POST' })
  if (login.status !== 200) {
    throw Object.assign(new Error('the login answered ' + login.status), { code: 'login_failed' })
  }
  return { headers: { authorization: 'Bearer ' + (await login.text()) } }
}

// Reads options.url as JSON records. With sessionCheck applied to that host, an invalid
// session never reaches this code: the host logs in again and retries first.
exports.fetchRecords = async function (options) {
  const response = await fetch(options.url)
  return { status: response.status, records: await response.json() }
}

// A response script that breaks its contract: codes stop at 4.
exports.badVerdict = function (options, callback) {
  callback(null, { responseCode: 7 })
}
exports.badVerdict.kind = 'responseScript'

// An integration step (POST /steps/diy/approveExpense): options are {body, headers}, the form
// a workflow platform posted and its non-secret headers. Expenses up to 500 are approved by
// policy at once; larger ones wait for a (simulated) manager's review, longer than the
// platform's 5 s, so the host answers 202 and delivers this result to X-Response-URL.
exports.approveExpense = async function (options) {
  const form = options.body || {}
  if (typeof form.amount !== 'number') {
    throw Object.assign(new Error('The form has no amount.'), { code: 'invalid_form' })
  }
  const byManager = form.amount > 500
  if (byManager) {
    await new Promise(function (resolve) { setTimeout(resolve, form.reviewMs || 6000) })
  }
  return { approved: form.amount <= 10000, amount: form.amount, reviewedBy: byManager ? 'manager' : 'policy' }
}
