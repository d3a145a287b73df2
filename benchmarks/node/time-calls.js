'use strict'
// Times one function call of the Node reference in process, without HTTP: what
// express-integrator-extension does per request between the socket and the response, i.e.
// JSON.parse of the body, integrator-extension's callFunction (validation, the hook, its
// result check) and JSON.stringify of the result.
//
//   node time-calls.js <body.json> <iterations>   → prints {"median_us": …, "result_bytes": …}
const fs = require('fs')
const util = require('util')
const Extension = require('integrator-extension')
const functions = require('./functions')

console.log = () => {}
function Timed () {}
util.inherits(Timed, Extension)
const extension = new Timed()

const [bodyFile, iterationsArg] = process.argv.slice(2)
const text = fs.readFileSync(bodyFile, 'utf8')
const iterations = Number(iterationsArg)

extension.loadConfiguration({ diy: functions, systemToken: 'x' }, (err) => {
  if (err) throw err
  const times = []
  let bytes = 0
  let pending = iterations + Math.min(200, iterations)
  const warm = pending - iterations
  const once = () => {
    const started = process.hrtime.bigint()
    const body = JSON.parse(text)
    extension.callFunction(body.options, body, (err, result) => {
      if (err) throw new Error(JSON.stringify(err))
      const out = JSON.stringify(result)
      const elapsed = Number(process.hrtime.bigint() - started) / 1000
      bytes = out.length
      pending--
      if (pending < iterations) times.push(elapsed)
      if (pending > 0) setImmediate(once)
      else {
        times.sort((a, b) => a - b)
        process.stdout.write(JSON.stringify({ median_us: times[times.length >> 1], result_bytes: bytes, warm }) + '\n')
      }
    })
  }
  once()
})
