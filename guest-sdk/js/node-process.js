// `process` for Node code in the sandbox: the browser polyfill's object (what the polyfilled
// built-ins were written against) with `nextTick` on the microtask queue, an empty `env` (a
// plugin's configuration arrives in its options, not the host's environment), a Node
// `version`, and `stdout`/`stderr` writing to the host log.
const process = require('process/browser.js');

process.nextTick = (fn, ...args) => queueMicrotask(() => fn(...args));
process.env = {};
process.version = 'v20.0.0';
process.versions = { node: '20.0.0' };
process.platform = 'linux';
process.exitCode = undefined;
const stream = (level) => ({
  isTTY: false,
  write (chunk, encoding, done) {
    const text = String(chunk).replace(/\n$/, '');
    if (text) globalThis.__extensionConsole[level](text);
    if (typeof encoding === 'function') encoding();
    else if (typeof done === 'function') done();
    return true;
  },
  on () { return this; },
  once () { return this; }
});
process.stdout = stream('log');
process.stderr = stream('error');
process.exit = (code) => {
  throw new Error(`process.exit(${code === undefined ? '' : code}) is not available in the sandbox: a plugin function ends by returning or calling back`);
};
module.exports = process;
