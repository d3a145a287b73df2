//! A wrapper connector that does real work against an external REST API, and a hook that
//! calls the integrator.io API with the call's one-time `bearerToken`.
//!
//! The API (any service with these routes; the tests run one on loopback):
//! - `GET  {baseURI}/ping`                      → 200 when the token is good
//! - `GET  {baseURI}/records?page=N`            → `{"records": [...], "nextPage": N+1 | null}`
//! - `POST {baseURI}/records` (a record, JSON)  → `{"id": "..."}` (201) or an error status
//!
//! The connection is integrator.io's `{unencrypted: {baseURI}, encrypted: {token}}`. The
//! operator allows the API's host in this module's `[network]` policy.
use extension_sdk::http;
use extension_sdk::prelude::*;

/// integrator.io's API. Hard-coded, as real modules do; an operator points it elsewhere with
/// `network.resolve` (and trusts a test CA with `network.ca_file`).
const INTEGRATOR_API: &str = "https://api.integrator.io";

struct Api {
    base: String,
    token: String,
}

impl Api {
    fn from(connection: Option<&Value>) -> FnResult<Self> {
        let connection = connection
            .ok_or_else(|| FnError::new("missing_connection", "The wrapper has no connection."))?;
        let base = connection["unencrypted"]["baseURI"]
            .as_str()
            .ok_or_else(|| {
                FnError::new(
                    "invalid_connection",
                    "connection.unencrypted.baseURI is missing.",
                )
            })?
            .trim_end_matches('/')
            .to_string();
        let token = connection["encrypted"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Self { base, token })
    }

    fn get(&self, path: &str) -> Result<http::Response, http::Error> {
        http::get(&format!("{}{path}", self.base))
            .bearer(&self.token)
            .send()
    }
}

fn ping_api(options: PingOptions) -> FnResult<PingResponse> {
    let api = Api::from(options.connection.as_ref())?;
    match api.get("/ping") {
        Ok(r) if r.status == 200 => Ok(PingResponse {
            status_code: 200,
            errors: vec![],
        }),
        Ok(r) => Ok(PingResponse {
            status_code: 401,
            errors: vec![RecordError::new(
                "ping_failed",
                format!("The API answered {} to the ping.", r.status),
            )],
        }),
        Err(err) => Ok(PingResponse {
            status_code: 401,
            errors: vec![RecordError::new(err.code, err.message)],
        }),
    }
}

fn export_api(options: ExportOptions) -> FnResult<ExportResponse> {
    let api = Api::from(options.connection.as_ref())?;
    let page = options
        .state
        .as_ref()
        .and_then(|s| s["page"].as_u64())
        .unwrap_or(1);
    let body: Value = api
        .get(&format!("/records?page={page}"))?
        .error_for_status()?
        .json()?;
    let data = body["records"].as_array().cloned().unwrap_or_default();
    let next = body["nextPage"].as_u64();
    Ok(ExportResponse {
        connection_offline: None,
        data,
        errors: vec![],
        last_page: next.is_none(),
        state: next.map(|n| json!({ "page": n })),
    })
}

fn import_api(options: ImportOptions) -> FnResult<Vec<ImportResponse>> {
    let api = Api::from(options.connection.as_ref())?;
    Ok(options
        .post_map_data
        .iter()
        .map(|record| {
            let sent = http::post_json(&format!("{}/records", api.base), record)
                .map(|r| r.bearer(&api.token))
                .and_then(|r| r.send());
            match sent {
                Ok(r) if (200..300).contains(&r.status) => ImportResponse {
                    status_code: 200,
                    id: r
                        .json::<Value>()
                        .ok()
                        .and_then(|b| b["id"].as_str().map(String::from)),
                    ignored: None,
                    errors: vec![],
                },
                Ok(r) => ImportResponse {
                    status_code: if r.status == 401 || r.status == 403 {
                        401
                    } else {
                        422
                    },
                    id: None,
                    ignored: None,
                    errors: vec![RecordError::new(
                        "import_failed",
                        format!("The API answered {}: {}", r.status, r.text()),
                    )],
                },
                Err(err) => ImportResponse {
                    status_code: 422,
                    id: None,
                    ignored: None,
                    errors: vec![RecordError::new(err.code, err.message)],
                },
            }
        })
        .collect())
}

/// preSavePage: stamps each record with the name of the integration it runs in, read from the
/// integrator.io API with the call's `bearerToken`.
fn stamp_integration(options: PreSavePageOptions) -> FnResult<PreSavePageResponse> {
    let (Some(token), Some(id)) = (
        options.context.bearer_token.as_deref(),
        options.context.integration_id.as_deref(),
    ) else {
        return Err(FnError::new(
            "missing_context",
            "bearerToken and _integrationId are required.",
        ));
    };
    let integration: Value = http::get(&format!("{INTEGRATOR_API}/v1/integrations/{id}"))
        .bearer(token)
        .send()?
        .error_for_status()?
        .json()?;
    let name = integration["name"].clone();
    let data = options
        .data
        .into_iter()
        .map(|mut record| {
            record["integrationName"] = name.clone();
            record
        })
        .collect();
    Ok(PreSavePageResponse {
        data,
        errors: options.errors,
        abort: false,
        new_errors_and_retry_data: vec![],
    })
}

fn register(plugin: &mut Plugin) {
    plugin
        .wrapper("pingApi", ping(ping_api))
        .wrapper("exportApi", export(export_api))
        .wrapper("importApi", import(import_api))
        .hook("stampIntegration", pre_save_page(stamp_integration));
}

extension_sdk::plugin!(register);
