'use strict'
// E.164 normalisation, shared by the hooks in ../functions.js (required as a sibling file).
const rules = require('./phone-rules.json')

exports.normalisePhone = function normalisePhone (raw) {
  const digits = String(raw).replace(/\D/g, '')
  if (String(raw).trim().startsWith('+') && digits.length >= rules.minDigits && digits.length <= rules.maxDigits) return '+' + digits
  if (digits.length === 10) return '+' + rules.defaultCountryCode + digits
  if (digits.length === 11 && digits.startsWith(rules.defaultCountryCode)) return '+' + digits
  return null
}
