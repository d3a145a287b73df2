/*
 * Hooks written as integrator.io's public extension samples write them, and as a module moved
 * from express-integrator-extension would arrive: `request` for HTTP, `async` to fan out,
 * `lodash`, `winston` for logs, and the integrator.io API called back with the call's one-time
 * `bearerToken`. Nothing here knows it runs in a sandbox: the operator allows
 * https://api.integrator.io (and the connector's own API) in the module's [network] policy.
 */
var request = require('request');
var async = require('async');
var _ = require('lodash');
var winston = require('winston');

var INTEGRATOR_API = 'https://api.integrator.io';

var logger = winston.createLogger({
  level: 'info',
  format: winston.format.simple(),
  transports: [new winston.transports.Console()]
});

exports.hooks = {
  // preSavePage: adds each record's integration name, looked up in the integrator.io API in
  // parallel; a lookup that fails becomes an error of the page, not of the whole call.
  preSavePage: function (options, callback) {
    var data = _.cloneDeep(options.data || []);
    var errors = (options.errors || []).slice();
    async.forEachOf(data, function (record, index, done) {
      request({
        url: INTEGRATOR_API + '/v1/integrations/' + encodeURIComponent(record.integrationId),
        method: 'GET',
        auth: { bearer: options.bearerToken },
        json: true
      }, function (err, res, body) {
        if (err) return done(err);
        if (res.statusCode !== 200) {
          errors.push({ code: 'lookup_failed', message: 'Integration ' + record.integrationId + ': the API answered ' + res.statusCode + '.' });
          return done();
        }
        record.integrationName = body.name;
        done();
      });
    }, function (err) {
      if (err) return callback(err);
      logger.info('preSavePage enriched ' + data.length + ' record(s)');
      callback(null, { data: data, errors: errors });
    });
  },

  // postSubmit: sends each submitted record on to the connector's API (a JSON POST with the
  // connector's token); a non-2xx answer becomes that record's error.
  postSubmit: function (options, callback) {
    var settings = options.settings || {};
    var responseData = _.cloneDeep(options.responseData || []);
    async.forEachOf(options.preMapData || [], function (record, index, done) {
      request({
        url: settings.apiBase + '/records',
        method: 'POST',
        auth: { bearer: settings.apiToken },
        json: record
      }, function (err, res, body) {
        if (err) return done(err);
        var item = responseData[index] || {};
        if (res.statusCode >= 200 && res.statusCode < 300) {
          item.statusCode = 200;
          item.id = body.id;
        } else {
          item.statusCode = 422;
          item.errors = [{ code: 'forward_failed', message: 'The API answered ' + res.statusCode + ': ' + (typeof body === 'string' ? body : JSON.stringify(body)) }];
        }
        responseData[index] = item;
        done();
      });
    }, function (err) {
      if (err) return callback(err);
      logger.info('postSubmit forwarded ' + responseData.length + ' record(s)');
      callback(null, responseData);
    });
  }
};
