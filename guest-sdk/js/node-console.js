// `require('console')`: the host log, as the global `console` is.
module.exports = globalThis.__extensionConsole;
