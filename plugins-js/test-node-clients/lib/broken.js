// A bug two files away from the function, for the stack trace test.

exports.readField = function (record) {
  return record.missing.field
}
