// `npm test`: the module under Node, as integrator-extension would call it.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { hooks } = require('../functions.js')

const read = (name) => JSON.parse(fs.readFileSync(path.join(__dirname, name), 'utf8'))

test('preMapUpper answers the expected results', (_, done) => {
  hooks.preMapUpper(read('options.json'), (err, result) => {
    assert.equal(err, null)
    assert.deepEqual(result, read('expected.json'))
    done()
  })
})
