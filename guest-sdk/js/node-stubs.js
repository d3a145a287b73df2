// A Node built-in that cannot work in the sandbox (no files, sockets, processes or threads):
// it loads, because popular libraries require such modules at load without using them
// (`request` needs `fs`, `net` and `tls`; axios's Node build needs `http2`), and each of its
// functions throws a clear error when called. Classes can still be extended.
module.exports = function stub (name) {
  const why = 'plugins have no file system, sockets, processes or threads; outbound HTTP(S) goes through http, https or fetch';
  const members = new Map();
  return new Proxy({}, {
    get (_, key) {
      if (typeof key === 'symbol' || key === '__esModule' || key === 'then') return undefined;
      if (!members.has(key)) {
        members.set(key, function unavailable () {
          throw new Error(`${name}.${key}() is not available in the sandbox: ${why}`);
        });
      }
      return members.get(key);
    }
  });
};
