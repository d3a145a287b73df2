// Test plugin: the HTTP clients and loggers Node modules bring, unchanged, through the host's
// egress policy (tests/all/node_clients.rs). Each function takes {url, token, record?}.
const axios = require('axios');
const nodeFetch = require('node-fetch');
const https = require('https');
const http = require('http');
const url = require('url');
const crypto = require('crypto');
const winston = require('winston');

const bearer = (token) => ({ Authorization: 'Bearer ' + token });

exports.utilities = {
  // axios (the build the bundler picks); a non-2xx answer rejects with err.response.
  async axiosGet (options) {
    try {
      const r = await axios.get(options.url, { headers: bearer(options.token) });
      return { status: r.status, data: r.data };
    } catch (err) {
      if (err.response) return { status: err.response.status, data: err.response.data };
      throw err;
    }
  },

  async axiosPost (options) {
    const r = await axios.post(options.url, options.record, { headers: bearer(options.token), validateStatus: () => true });
    return { status: r.status, data: r.data };
  },

  // node-fetch 2 (CommonJS).
  async nodeFetchPost (options) {
    const r = await nodeFetch(options.url, {
      method: 'POST',
      headers: { ...bearer(options.token), 'Content-Type': 'application/json' },
      body: JSON.stringify(options.record)
    });
    return { status: r.status, body: await r.text() };
  },

  // https.request (or http.request for an http: URL) with the headers Node code sets itself:
  // Host, Connection and Content-Length are the host's to manage and are dropped.
  httpsRequest (options, callback) {
    const target = url.parse(options.url);
    const body = JSON.stringify(options.record || {});
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path: target.path,
      method: options.record ? 'POST' : 'GET',
      headers: {
        ...bearer(options.token),
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        Host: 'forged.example',
        Connection: 'keep-alive'
      }
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(Buffer.from(c)));
      res.on('end', () => callback(null, { status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', callback);
    });
    req.on('error', (err) => callback(err));
    if (options.record) req.write(body);
    req.end();
  },

  // winston 2.x's Console transport.
  winston2 (options, callback) {
    const logger = new winston.Logger({ transports: [new winston.transports.Console()] });
    logger.info(options.message || 'logged through winston 2');
    callback(null, 'logged');
  },

  // A built-in the sandbox cannot offer loads; calling it says why.
  readFile (options, callback) {
    require('fs').readFileSync('/etc/passwd');
    callback(null, 'unreachable');
  },

  // A bug in another file: the host log's stack trace names lib/broken.js, line 4.
  bug (options, callback) {
    callback(null, require('./lib/broken').readField(options))
  },

  hmac (options, callback) {
    callback(null, {
      hmac: crypto.createHmac('sha256', 'key').update(options.text || '').digest('hex'),
      sha1: crypto.createHash('sha1').update(options.text || '').digest('base64'),
      random: crypto.randomBytes(8).length,
      nodeVersion: process.version,
      env: Object.keys(process.env).length
    });
  }
};
