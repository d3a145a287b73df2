'use strict'
// express-integrator-extension's server, reduced to what a /function call exercises:
// integrator-extension 0.3.12 behind express 4.21.2 and body-parser 1.20.3 (50 MB limit), the
// same token lookup and routes, per-request logging off. Serves ./functions.js, or the module
// FUNCTIONS names (the differential tests run the JavaScript example here and in the host).
const util = require('util')
const express = require('express')
const bodyParser = require('body-parser')
const Extension = require('integrator-extension')
const functions = require(process.env.FUNCTIONS || './functions')

// integrator-extension logs every call with console.log; the benchmark turns logging off.
console.log = () => {}

function ExpressExtension () {}
util.inherits(ExpressExtension, Extension)
const extension = new ExpressExtension()

const systemToken = process.env.SYSTEM_TOKEN
const port = Number(process.env.PORT || 8081)

function findToken (req) {
  if (req.headers && req.headers.authorization) {
    const parts = req.headers.authorization.split(' ')
    if (parts.length === 2 && /^Bearer$/i.test(parts[0])) return parts[1]
    return undefined
  }
  if (req.body && req.body.access_token) return req.body.access_token
  if (req.query && req.query.access_token) return req.query.access_token
}

extension.loadConfiguration({ diy: functions, systemToken }, (err) => {
  if (err) throw err
  const app = express()
  app.use(bodyParser.json({ limit: '50mb' }))
  app.get('/', (req, res) => res.json({ success: true }))
  app.get('/healthCheck', (req, res) => res.json({ success: true }))
  app.post('/function', (req, res, next) => {
    if (findToken(req) === systemToken) return next()
    res.set('WWW-Authenticate', 'invalid system token')
    return res.status(401).json({ errors: [{ code: 'unauthorized', message: 'Invalid system token.' }] })
  }, (req, res) => {
    extension.callFunction(req.body.options, req.body, (err, result) => {
      if (err) return res.status(err.statusCode).json({ errors: err.errors })
      return res.json(result)
    })
  })
  const server = app.listen(port, '127.0.0.1', () => process.stderr.write(`node reference listening on ${server.address().port}\n`))
  server.keepAliveTimeout = 301000
  server.headersTimeout = 305000
})
