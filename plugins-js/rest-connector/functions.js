// A wrapper connector that does real work against an external REST API with `fetch`, and a
// hook that calls the integrator.io API with the call's one-time `bearerToken`. The same
// contract as plugins/rest-connector (Rust): connection {unencrypted: {baseURI},
// encrypted: {token}}; the operator allows the API's host in the module's [network] policy.

const INTEGRATOR_API = 'https://api.integrator.io'

function api (connection) {
  const base = connection && connection.unencrypted && connection.unencrypted.baseURI
  if (!base) throw { code: 'invalid_connection', message: 'connection.unencrypted.baseURI is missing.' }
  const token = (connection.encrypted && connection.encrypted.token) || ''
  return {
    base: base.replace(/\/$/, ''),
    headers: { authorization: `Bearer ${token}` }
  }
}

// An (options, callback) function: fetch's promise settles the callback.
function pingApi (options, callback) {
  let a
  try { a = api(options.connection) } catch (e) { return callback(e) }
  fetch(`${a.base}/ping`, { headers: a.headers })
    .then((r) => callback(null, r.status === 200
      ? { statusCode: 200 }
      : { statusCode: 401, errors: [{ code: 'ping_failed', message: `The API answered ${r.status} to the ping.` }] }))
    .catch((e) => callback(null, { statusCode: 401, errors: [{ code: 'network_error', message: String(e && e.message) }] }))
}
pingApi.kind = 'ping'

async function exportApi (options) {
  const a = api(options.connection)
  const page = (options.state && options.state.page) || 1
  const r = await fetch(`${a.base}/records?page=${page}`, { headers: a.headers })
  if (!r.ok) throw { code: 'status', message: `The API answered ${r.status}.` }
  const body = await r.json()
  const next = body.nextPage
  const result = { data: body.records, lastPage: next == null }
  if (next != null) result.state = { page: next }
  return result
}
exportApi.kind = 'export'

async function importApi (options) {
  const a = api(options.connection)
  const results = []
  for (const record of options.postMapData) {
    const r = await fetch(`${a.base}/records`, {
      method: 'POST',
      headers: { ...a.headers, 'content-type': 'application/json' },
      body: JSON.stringify(record)
    })
    if (r.ok) {
      results.push({ statusCode: 200, id: (await r.json()).id })
    } else {
      results.push({
        statusCode: r.status === 401 || r.status === 403 ? 401 : 422,
        errors: [{ code: 'import_failed', message: `The API answered ${r.status}: ${await r.text()}` }]
      })
    }
  }
  return results
}
importApi.kind = 'import'

async function stampIntegration (options) {
  const r = await fetch(`${INTEGRATOR_API}/v1/integrations/${options._integrationId}`, {
    headers: { authorization: `Bearer ${options.bearerToken}` }
  })
  if (!r.ok) throw { code: 'status', message: `integrator.io answered ${r.status}.` }
  const integration = await r.json()
  return { data: options.data.map((record) => ({ ...record, integrationName: integration.name })) }
}
stampIntegration.kind = 'preSavePage'

// Any URL, for tests of the policy from JavaScript: a refused request rejects fetch.
async function fetchUrl (options) {
  try {
    const r = await fetch(options.url)
    return { status: r.status, body: await r.text() }
  } catch (e) {
    return { error: String((e && e.message) || e) }
  }
}

exports.wrappers = { pingApi, exportApi, importApi }
exports.hooks = { stampIntegration }
exports.utilities = { fetchUrl }
