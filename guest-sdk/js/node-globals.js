// The globals Node code expects, installed before the module loads (bundle.mjs requires this
// file first). `console` is the host log (runtime.js); timers and `queueMicrotask` are the
// engine's own.
globalThis.global = globalThis;
globalThis.Buffer = require('buffer').Buffer;
globalThis.process = require('process');
if (typeof globalThis.setImmediate !== 'function') {
  globalThis.setImmediate = (fn, ...args) => setTimeout(fn, 0, ...args);
  globalThis.clearImmediate = (handle) => clearTimeout(handle);
}
// The engine's own `location` (a worker's, with no page behind it) aborts the instance when
// read; Node has none. Browser polyfills read `location.protocol` for a default (stream-http
// takes `http:` unless the page is http(s)), so a page-less one stands in.
globalThis.location = {
  protocol: 'about:', href: 'about:blank', origin: 'null', host: '', hostname: '', port: '', pathname: 'blank', search: '', hash: ''
};
