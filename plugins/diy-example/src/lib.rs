//! A DIY integration's extension module: every typed kind at least once, with realistic logic.
//!
//! | group | function | kind |
//! |---|---|---|
//! | hooks | preSavePageDedupe | preSavePage: drops records whose `id` was already seen |
//! | hooks | preMapPhones | preMap: normalises `phone` to E.164, per-record errors |
//! | hooks | postMapDefaults | postMap: fills `country` from the source record |
//! | hooks | postSubmitEnrich | postSubmit: adds the source record's id to error messages |
//! | hooks | postResponseMapIds | postResponseMap: copies the response id into the record |
//! | hooks | postAggregateCheck | postAggregate: fails when the aggregation failed |
//! | wrappers | pingApiKey | ping: 200 for a known api key, 401 otherwise |
//! | wrappers | exportContacts | export: pages through contacts with `state` and `lastPage` |
//! | wrappers | importContacts | import: 200 with an id, or 422 for records without an email |
//! | installer | installStep, updateIntegration, initChildIntegration, changeEditionLimits | lifecycle |
//! | settings | formInitBasic, preSaveTrim | formInit, preSave |
//! | utilities | summarize | free-form JSON |
//! | (root) | sessionCheck, refreshSession, fetchRecords | a response script, its re-authentication, a call it judges |
use extension_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// A contact record as our preMap hook sees it; fields it does not name are kept.
#[derive(Deserialize, Serialize)]
struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn pre_save_page_dedupe(options: PreSavePageOptions) -> FnResult<PreSavePageResponse> {
    let mut seen = std::collections::HashSet::new();
    let data = options
        .data
        .into_iter()
        .filter(|record| match record.get("id") {
            Some(id) => seen.insert(id.to_string()),
            None => true,
        })
        .collect();
    let abort_after = options
        .context
        .settings
        .as_ref()
        .and_then(|s| s["abortAfterPage"].as_u64());
    Ok(PreSavePageResponse {
        data,
        errors: options.errors,
        abort: abort_after.is_some() && abort_after == options.page_index,
        new_errors_and_retry_data: Vec::new(),
    })
}

/// `(555) 010-0199` → `+15550100199`; `+44 20 7946 0958` → `+442079460958`.
fn normalise_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    match (raw.trim_start().starts_with('+'), digits.len()) {
        (true, 8..=15) => Some(format!("+{digits}")),
        (false, 10) => Some(format!("+1{digits}")),
        (false, 11) if digits.starts_with('1') => Some(format!("+{digits}")),
        _ => None,
    }
}

fn pre_map_phones(options: PreMapOptions<Contact>) -> FnResult<Vec<MapResult<Contact>>> {
    Ok(options
        .data
        .into_iter()
        .map(
            |mut contact| match contact.phone.as_deref().map(|p| (p, normalise_phone(p))) {
                None => MapResult::data(contact),
                Some((_, Some(phone))) => {
                    contact.phone = Some(phone);
                    MapResult::data(contact)
                }
                Some((raw, None)) => MapResult::error(
                    RecordError::new("invalid_phone", format!("'{raw}' is not a phone number"))
                        .with_source("preMapPhones"),
                ),
            },
        )
        .collect())
}

fn post_map_defaults(options: PostMapOptions) -> FnResult<Vec<MapResult>> {
    Ok(options
        .post_map_data
        .into_iter()
        .enumerate()
        .map(|(i, mut record)| {
            if let Some(obj) = record.as_object_mut()
                && !obj.contains_key("country")
            {
                let source = options.pre_map_data.get(i).and_then(|r| r.get("country"));
                obj.insert("country".into(), source.cloned().unwrap_or(json!("US")));
            }
            MapResult::data(record)
        })
        .collect())
}

fn post_submit_enrich(options: PostSubmitOptions) -> FnResult<Vec<Value>> {
    let mut responses = options.response_data;
    for (i, response) in responses.iter_mut().enumerate() {
        let Some(source_id) = options
            .pre_map_data
            .get(i)
            .and_then(|r| r.get("id"))
            .cloned()
        else {
            continue;
        };
        if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
            for error in errors {
                if let Some(message) = error.get("message").and_then(Value::as_str) {
                    error["message"] = json!(format!("{message} (source record {source_id})"));
                }
            }
        }
    }
    Ok(responses)
}

fn post_response_map_ids(options: PostResponseMapOptions) -> FnResult<Vec<Value>> {
    let mut records = options.post_response_map_data;
    for (record, response) in records.iter_mut().zip(&options.response_data) {
        if let (Some(obj), Some(id)) = (record.as_object_mut(), response.get("id")) {
            obj.insert("_responseId".into(), id.clone());
        }
    }
    Ok(records)
}

fn post_aggregate_check(options: PostAggregateOptions) -> FnResult<()> {
    let data = &options.post_aggregate_data;
    if data["success"].as_bool() == Some(true) {
        extension_sdk::log::info(&format!("aggregated file: {}", data["_json"]["fileName"]));
        return Ok(());
    }
    Err(FnError::new(
        data["code"].as_str().unwrap_or("aggregation_failed"),
        data["message"]
            .as_str()
            .unwrap_or("the aggregated transfer failed"),
    ))
}

fn ping_api_key(options: PingOptions) -> FnResult<PingResponse> {
    let key = options
        .connection
        .as_ref()
        .and_then(|c| c["encrypted"]["apiKey"].as_str());
    Ok(match key {
        Some(k) if k.starts_with("key-") => PingResponse {
            status_code: 200,
            errors: vec![],
        },
        _ => PingResponse {
            status_code: 401,
            errors: vec![RecordError::new(
                "invalid_api_key",
                "The API key is not valid.",
            )],
        },
    })
}

const CONTACTS: [(&str, &str); 5] = [
    ("c1", "ada@example.com"),
    ("c2", "grace@example.com"),
    ("c3", "edsger@example.com"),
    ("c4", "barbara@example.com"),
    ("c5", "ken@example.com"),
];

fn export_contacts(options: ExportOptions) -> FnResult<ExportResponse> {
    let page_size = options
        .context
        .configuration
        .as_ref()
        .and_then(|c| c["pageSize"].as_u64())
        .unwrap_or(2) as usize;
    let offset = options
        .state
        .as_ref()
        .and_then(|s| s["offset"].as_u64())
        .unwrap_or(0) as usize;
    let page: Vec<Value> = CONTACTS
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|(id, email)| json!({ "id": id, "email": email }))
        .collect();
    let next = offset + page.len();
    Ok(ExportResponse {
        data: page,
        last_page: next >= CONTACTS.len(),
        state: Some(json!({ "offset": next })),
        ..Default::default()
    })
}

fn import_contacts(options: ImportOptions) -> FnResult<Vec<ImportResponse>> {
    Ok(options
        .post_map_data
        .iter()
        .enumerate()
        .map(
            |(i, record)| match record.get("email").and_then(Value::as_str) {
                Some(email) if email.contains('@') => ImportResponse {
                    status_code: 200,
                    id: Some(format!("imp-{i}")),
                    ignored: Some(false),
                    errors: vec![],
                },
                _ => ImportResponse {
                    status_code: 422,
                    id: None,
                    ignored: Some(false),
                    errors: vec![RecordError::new(
                        "missing_email",
                        "The record has no valid email.",
                    )],
                },
            },
        )
        .collect())
}

fn install_step(options: StepOptions) -> FnResult<()> {
    match options.form_submission {
        Some(form) if form["accept"] == json!(false) => Err(FnError::new(
            "install_declined",
            "The terms were not accepted.",
        )),
        _ => Ok(()),
    }
}

fn update_integration(options: UpdateOptions) -> FnResult<Value> {
    let version = options
        .resource
        .as_ref()
        .and_then(|r| r["version"].as_u64())
        .unwrap_or(0);
    Ok(json!({ "updatedTo": version + 1 }))
}

fn init_child_integration(options: InitChildOptions) -> FnResult<Value> {
    let parent = options.parent_integration.unwrap_or_default();
    Ok(json!({
        "name": format!("{} (child)", parent["name"].as_str().unwrap_or("integration")),
        "_parentId": parent["_id"],
        "installSteps": [{ "name": "Configure", "type": "form" }],
    }))
}

fn change_edition_limits(options: ChangeEditionOptions) -> FnResult<Value> {
    let to = options.to_edition.unwrap_or_default();
    let flows = if to == json!("premium") { 50 } else { 5 };
    Ok(json!({ "edition": to, "maxFlows": flows }))
}

fn form_init_basic(options: FormInitOptions) -> FnResult<Value> {
    let mut form = options
        .resource
        .as_ref()
        .map(|r| r["settingsForm"]["form"].clone())
        .filter(|f| !f.is_null())
        .unwrap_or_else(|| json!({ "fieldMap": {}, "layout": { "fields": [] } }));
    form["fieldMap"]["region"] =
        json!({ "id": "region", "type": "select", "options": ["us", "eu"] });
    Ok(form)
}

fn pre_save_trim(options: PreSaveOptions) -> FnResult<Value> {
    let mut resource = options.new_resource.unwrap_or_default();
    if let Some(name) = resource.get("name").and_then(Value::as_str) {
        resource["name"] = json!(name.trim());
    }
    Ok(resource)
}

fn summarize(options: Value) -> FnResult<Value> {
    let records = options["records"].as_array().cloned().unwrap_or_default();
    let total: f64 = records.iter().filter_map(|r| r["amount"].as_f64()).sum();
    Ok(json!({ "count": records.len(), "total": total }))
}

/// An integration step (`POST /steps/diy/approveExpense`): options are `{body, headers}`, the
/// form a workflow platform posted and its non-secret headers. Expenses up to 500 are approved
/// by policy at once; larger ones wait for a (simulated) manager's review, longer than the
/// platform's 5 s, so the host answers `202` and delivers this result to `X-Response-URL`.
fn approve_expense(options: Value) -> FnResult<Value> {
    let form = &options["body"];
    let amount = form["amount"]
        .as_f64()
        .ok_or_else(|| FnError::new("invalid_form", "The form has no amount."))?;
    let by_manager = amount > 500.0;
    if by_manager {
        let review_ms = form["reviewMs"].as_u64().unwrap_or(6_000);
        std::thread::sleep(std::time::Duration::from_millis(review_ms));
    }
    Ok(json!({
        "approved": amount <= 10_000.0,
        "amount": form["amount"],
        "reviewedBy": if by_manager { "manager" } else { "policy" },
    }))
}

/// A response script: what a connector's response means. A 200 whose body says the session
/// is invalid means re-authenticate, as a 401 does; throttling retries the step; a server
/// error fails the flow for a later retry; another client error fails it for good.
fn session_check(options: ResponseScriptOptions) -> FnResult<ResponseScriptResult> {
    let response = &options.response;
    let (code, message) = match response.status {
        401 => (ResponseCode::Reauthenticate, Some("session expired")),
        200..=299 if response.body.contains("Invalid session") => (
            ResponseCode::Reauthenticate,
            Some("the body says the session is invalid"),
        ),
        429 => (ResponseCode::RetryStep, Some("throttled")),
        500..=599 => (ResponseCode::FailFlowRetryLater, Some("the API is failing")),
        400..=499 => (ResponseCode::FailFlow, Some("the API refused the request")),
        _ => (ResponseCode::Continue, None),
    };
    Ok(ResponseScriptResult {
        response_code: code,
        message: message.map(str::to_string),
    })
}

/// Re-authentication for `sessionCheck` (named `reauthenticate` in the settings'
/// `[[response_scripts]]`): logs in at the judged URL's origin and returns the headers the
/// host sets on the retried request and every later one to that host.
fn refresh_session(options: Value) -> FnResult<Value> {
    let url = options["request"]["url"].as_str().unwrap_or_default();
    let origin_len = url
        .find("://")
        .and_then(|at| url[at + 3..].find('/').map(|path| at + 3 + path))
        .unwrap_or(url.len());
    let login = extension_sdk::http::Request::new("POST", &format!("{}/login", &url[..origin_len]))
        .send()?;
    if login.status != 200 {
        return Err(FnError::new(
            "login_failed",
            format!("the login answered {}", login.status),
        ));
    }
    Ok(json!({"headers": {"authorization": format!("Bearer {}", login.text())}}))
}

/// Reads `options.url` as JSON records. With `sessionCheck` applied to that host, an invalid
/// session never reaches this code: the host logs in again and retries first.
fn fetch_records(options: Value) -> FnResult<Value> {
    let url = options["url"].as_str().unwrap_or_default();
    let response = extension_sdk::http::get(url).send()?;
    let records: Value = response.json()?;
    Ok(json!({"status": response.status, "records": records}))
}

/// Each function's kind is inferred from its options type (see `IntoFunction`), and
/// `summarize` serves both as a utility and at the module root from one registration value.
fn register(plugin: &mut Plugin) {
    plugin
        .hook("preSavePageDedupe", pre_save_page_dedupe)
        .hook("preMapPhones", pre_map_phones)
        .hook("postMapDefaults", post_map_defaults)
        .hook("postSubmitEnrich", post_submit_enrich)
        .hook("postResponseMapIds", post_response_map_ids)
        .hook("postAggregateCheck", post_aggregate_check)
        .wrapper("pingApiKey", ping_api_key)
        .wrapper("exportContacts", export_contacts)
        .wrapper("importContacts", import_contacts)
        .installer("installStep", install_step)
        .installer("updateIntegration", update_integration)
        .installer("initChildIntegration", init_child_integration)
        .installer("changeEditionLimits", change_edition_limits)
        .setting("formInitBasic", form_init_basic)
        .setting("preSaveTrim", pre_save_trim)
        .utility("summarize", summarize)
        .root("approveExpense", approve_expense)
        .root("sessionCheck", session_check)
        .root("refreshSession", json(refresh_session))
        .root("fetchRecords", json(fetch_records));
}

extension_sdk::plugin!(register);
