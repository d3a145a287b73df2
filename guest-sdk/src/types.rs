//! The options and results plugin authors work with.
//!
//! These mirror the WIT records field by field, with JSON text parsed into `serde_json::Value`
//! (or the author's own serde type for the records of preMap / postMap / preSavePage).
//! Field docs quote the integrator.io contracts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The result of an extension function.
pub type FnResult<T> = Result<T, FnError>;

/// An error that fails the whole call. The caller receives
/// `{"errors":[{"message": message, "code": code}]}` with status 422.
#[derive(Debug, Clone, PartialEq)]
pub struct FnError {
    /// A stable, machine-readable code: text, or a number the caller receives as a JSON number.
    pub code: ErrorCode,
    /// A message a person can act on.
    pub message: String,
}

/// The code of an [`FnError`]: `"vendor_rejected"` (text) or `5` (a number, written on the
/// wire as the JSON number `5`, as a Node module's `err.code = 5` is).
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorCode {
    /// A text code.
    Text(String),
    /// A numeric code.
    Number(f64),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorCode::Text(text) => f.write_str(text),
            ErrorCode::Number(n) => write!(f, "{n}"),
        }
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        matches!(self, ErrorCode::Text(text) if text == other)
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> Self {
        ErrorCode::Text(text.into())
    }
}

impl From<String> for ErrorCode {
    fn from(text: String) -> Self {
        ErrorCode::Text(text)
    }
}

macro_rules! numeric_codes {
    ($($t:ty),*) => {$(
        impl From<$t> for ErrorCode {
            fn from(n: $t) -> Self {
                ErrorCode::Number(f64::from(n))
            }
        }
    )*};
}

numeric_codes!(i8, i16, i32, u8, u16, u32, f32, f64);

impl FnError {
    /// An error with the given code (text or number) and message.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for FnError {}

impl From<serde_json::Error> for FnError {
    fn from(err: serde_json::Error) -> Self {
        FnError::new("invalid_json", err.to_string())
    }
}

/// An error reported for one record: `{code, message, source}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// The error's code.
    pub code: String,
    /// The error's message.
    pub message: String,
    /// Where the error came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl RecordError {
    /// A record error without a source.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Sets the error's source.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// Fields integrator.io sends with most calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// 'bearerToken' - a one-time bearer token for selected integrator.io API routes.
    pub bearer_token: Option<String>,
    /// '_integrationId' - the _integrationId currently running.
    pub integration_id: Option<String>,
    /// '_parentIntegrationId' - the parent of the _integrationId currently running.
    pub parent_integration_id: Option<String>,
    /// '_flowId' - the _flowId currently running.
    pub flow_id: Option<String>,
    /// '_exportId' - the _exportId currently running.
    pub export_id: Option<String>,
    /// '_importId' - the _importId currently running.
    pub import_id: Option<String>,
    /// '_connectionId' - the _connectionId currently running.
    pub connection_id: Option<String>,
    /// 'settings' - all custom settings in scope.
    pub settings: Option<Value>,
    /// 'configuration' - the optional configuration object set on the resource.
    pub configuration: Option<Value>,
    /// Every other field of `options`, exactly as the platform sent it.
    pub extra: Map<String, Value>,
}

/// A list of records that is parsed only when the function first reads it.
///
/// Contracts pass several lists (postSubmit gets preMapData, postMapData and responseData) and
/// most functions read one: the others are never parsed. Use it as a slice of `Value`
/// (`records.get(i)`, `records.iter()`, `records.len()`), or [`Records::parse`] into your own
/// type, or [`Records::raw`] for the JSON text of one record.
pub struct Records {
    raw: Vec<String>,
    parsed: std::sync::OnceLock<Vec<Value>>,
}

impl Records {
    /// Records from their JSON texts.
    pub fn from_json(raw: Vec<String>) -> Self {
        Self {
            raw,
            parsed: std::sync::OnceLock::new(),
        }
    }

    /// How many records there are (without parsing them).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The JSON text of record `i`.
    pub fn raw(&self, i: usize) -> Option<&str> {
        self.raw.get(i).map(String::as_str)
    }

    /// Every record parsed into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> FnResult<Vec<T>> {
        self.raw
            .iter()
            .map(|r| serde_json::from_str(r).map_err(FnError::from))
            .collect()
    }
}

impl std::ops::Deref for Records {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        // The host hands over slices of a request body it already validated as JSON, so a
        // record parses; one that does not (nesting deeper than serde_json allows) reads as null.
        self.parsed.get_or_init(|| {
            self.raw
                .iter()
                .map(|r| serde_json::from_str(r).unwrap_or(Value::Null))
                .collect()
        })
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Clone for Records {
    fn clone(&self) -> Self {
        Self::from_json(self.raw.clone())
    }
}

impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// preSavePage options: invoked before saving a page of data fetched by the export.
#[derive(Debug, Clone, PartialEq)]
pub struct PreSavePageOptions<R = Value> {
    /// 'data' - an array of records representing one page of data.
    pub data: Vec<R>,
    /// 'errors' - an array of errors, each {code, message, source, retryDataKey}.
    pub errors: Vec<Value>,
    /// 'files' - file exports only. files[i] contains source file metadata for data[i].
    pub files: Option<Vec<Value>>,
    /// 'retryData' - the retry data for all errors: {retryDataKey: {data, stage, traceKey}}.
    pub retry_data: Option<Value>,
    /// 'pageIndex' - 0 based.
    pub page_index: Option<u64>,
    /// 'lastExportDateTime' - delta exports only.
    pub last_export_date_time: Option<String>,
    /// 'currentExportDateTime' - delta exports only.
    pub current_export_date_time: Option<String>,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// preSavePage result.
#[derive(Debug, Clone, PartialEq)]
pub struct PreSavePageResponse<R = Value> {
    /// 'data' - your modified data.
    pub data: Vec<R>,
    /// 'errors' - your modified errors.
    pub errors: Vec<Value>,
    /// 'abort' - stop generating new pages of data.
    pub abort: bool,
    /// 'newErrorsAndRetryData' - [{retryData: <record>, errors: [<error>]}].
    pub new_errors_and_retry_data: Vec<Value>,
}

/// preMap options: invoked before the fields are mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct PreMapOptions<R = Value> {
    /// 'data' - the page of records before it has been mapped.
    pub data: Vec<R>,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// postMap options: invoked after the fields have been mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct PostMapOptions<R = Value> {
    /// 'preMapData' - the page of records before it was mapped (parsed on first use).
    pub pre_map_data: Records,
    /// 'postMapData' - the page of records after it was mapped.
    pub post_map_data: Vec<R>,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// What to do with one record (preMap, postMap). `MapResult::ignore()` is `{}`: skip the record.
#[derive(Debug, Clone, PartialEq)]
pub struct MapResult<R = Value> {
    /// 'data' - the record to pass along for processing.
    pub data: Option<R>,
    /// 'errors' - errors to report for this record.
    pub errors: Vec<RecordError>,
}

impl<R> MapResult<R> {
    /// Pass the record along.
    pub fn data(record: R) -> Self {
        Self {
            data: Some(record),
            errors: Vec::new(),
        }
    }

    /// Ignore the record (`{}`).
    pub fn ignore() -> Self {
        Self {
            data: None,
            errors: Vec::new(),
        }
    }

    /// Fail the record with an error.
    pub fn error(error: RecordError) -> Self {
        Self {
            data: None,
            errors: vec![error],
        }
    }

    /// Adds an error (with `data` set, the record is processed and the error logged).
    pub fn with_error(mut self, error: RecordError) -> Self {
        self.errors.push(error);
        self
    }
}

/// postSubmit options: invoked after the records are processed by the import.
#[derive(Debug, Clone, PartialEq)]
pub struct PostSubmitOptions {
    /// 'preMapData' - the page of records before it was mapped (parsed on first use).
    pub pre_map_data: Records,
    /// 'postMapData' - the page of records after it was mapped (parsed on first use).
    pub post_map_data: Records,
    /// 'responseData' - one response per record:
    /// {statusCode, errors, ignored, id, _json, dataURI}.
    pub response_data: Vec<Value>,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// postResponseMap options: invoked after response mapping is completed.
#[derive(Debug, Clone, PartialEq)]
pub struct PostResponseMapOptions {
    /// 'postResponseMapData' - the page of records after response mapping.
    pub post_response_map_data: Vec<Value>,
    /// 'responseData' - the responses for the page of data (parsed on first use).
    pub response_data: Records,
    /// 'oneToMany' - as configured on your export/import resource.
    pub one_to_many: Option<bool>,
    /// 'pathToMany' - as configured on your export/import resource.
    pub path_to_many: Option<String>,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// postAggregate options: invoked after an aggregated data transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct PostAggregateOptions {
    /// 'postAggregateData' - {success, _json, code, message, source}.
    pub post_aggregate_data: Value,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// The request a connector sent, as a response script sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRequest {
    /// The method, uppercase.
    pub method: String,
    /// The URL without its query string.
    pub url: String,
    /// The headers (names lowercase, credentials removed).
    pub headers: Value,
}

/// The response a connector got.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers (names lowercase).
    pub headers: Value,
    /// The body as text.
    pub body: String,
}

/// responseScript options: a connector's request and the response to judge.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseScriptOptions {
    /// 'request' - method, url (no query string), headers.
    pub request: ScriptRequest,
    /// 'response' - status, headers, body.
    pub response: ScriptResponse,
    /// Ids, settings, token and every other field.
    pub context: Context,
}

/// What a response means (`responseCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResponseCode {
    /// 0: hand the response on.
    Continue = 0,
    /// 1: fail the step and retry it.
    RetryStep = 1,
    /// 2: fail the flow and queue it for a retry.
    FailFlowRetryLater = 2,
    /// 3: fail the flow without retry.
    FailFlow = 3,
    /// 4: re-authenticate and retry.
    Reauthenticate = 4,
}

/// responseScript result: `{responseCode, message?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseScriptResult {
    /// What the response means.
    pub response_code: ResponseCode,
    /// For the run log.
    pub message: Option<String>,
}

/// ping options: verify whether the wrapper connection is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct PingOptions {
    /// 'connection' - {encrypted: {...}, unencrypted: {...}}.
    pub connection: Option<Value>,
    /// Ids, token and every other field.
    pub context: Context,
}

/// ping result: `{statusCode: 200/401, errors}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PingResponse {
    /// 200 when the connection works, 401 when it fails.
    pub status_code: u16,
    /// Why the connection fails.
    pub errors: Vec<RecordError>,
}

/// export options: the wrapper export is called until it returns `last_page: true`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// 'connection' - {encrypted: {...}, unencrypted: {...}}.
    pub connection: Option<Value>,
    /// 'type' - 'delta', 'test' or 'once'; unset means export all records.
    pub r#type: Option<String>,
    /// 'delta' - {dateField, lastExecutionTime}.
    pub delta: Option<Value>,
    /// 'once' - {booleanField}.
    pub once: Option<Value>,
    /// 'test' - {limit}.
    pub test: Option<Value>,
    /// 'state' - the state returned by the previous call.
    pub state: Option<Value>,
    /// 'data' - pageProcessor exports only.
    pub data: Option<Vec<Value>>,
    /// Ids, settings, configuration, token and every other field.
    pub context: Context,
}

/// export result: one page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportResponse {
    /// 'connectionOffline' - true makes the wrapper connection offline.
    pub connection_offline: Option<bool>,
    /// 'data' - the records of this page.
    pub data: Vec<Value>,
    /// 'errors' - errors that occurred during this page.
    pub errors: Vec<RecordError>,
    /// 'lastPage' - no more calls will be made once true.
    pub last_page: bool,
    /// 'state' - passed back in the next call.
    pub state: Option<Value>,
}

/// import options: a full end-to-end import of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// 'connection' - {encrypted: {...}, unencrypted: {...}}.
    pub connection: Option<Value>,
    /// 'preMapData' - the values used for mapping (parsed on first use).
    pub pre_map_data: Records,
    /// 'postMapData' - the values obtained after mapping.
    pub post_map_data: Vec<Value>,
    /// Ids, settings, configuration, token and every other field.
    pub context: Context,
}

/// import result for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportResponse {
    /// 200 success, 401 authorization/connection error, 422 any other error.
    pub status_code: u16,
    /// The identifier of the record in the target system.
    pub id: Option<String>,
    /// True if the record was ignored.
    pub ignored: Option<bool>,
    /// Errors for this record.
    pub errors: Vec<RecordError>,
}

/// step options: one installer or uninstaller step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOptions {
    /// 'formSubmission' - form steps only.
    pub form_submission: Option<Value>,
    /// 'resource' - the resource being installed/uninstalled.
    pub resource: Option<Value>,
    /// 'parentResource' - its parent.
    pub parent_resource: Option<Value>,
    /// 'license' - integration apps only.
    pub license: Option<Value>,
    /// 'parentLicense' - integration apps only.
    pub parent_license: Option<Value>,
    /// `_connectionId` (connection steps only), token and every other field.
    pub context: Context,
}

/// formInit options.
#[derive(Debug, Clone, PartialEq)]
pub struct FormInitOptions {
    /// 'resource' - the resource being viewed in the UI.
    pub resource: Option<Value>,
    /// 'parentResource'.
    pub parent_resource: Option<Value>,
    /// 'grandparentResource'.
    pub grandparent_resource: Option<Value>,
    /// 'license' - integration apps only.
    pub license: Option<Value>,
    /// 'parentLicense' - integration apps only.
    pub parent_license: Option<Value>,
    /// Token and every other field.
    pub context: Context,
}

/// preSave options.
#[derive(Debug, Clone, PartialEq)]
pub struct PreSaveOptions {
    /// 'newResource' - the resource being saved.
    pub new_resource: Option<Value>,
    /// 'oldResource' - the resource last saved.
    pub old_resource: Option<Value>,
    /// Token and every other field.
    pub context: Context,
}

/// initChild options.
#[derive(Debug, Clone, PartialEq)]
pub struct InitChildOptions {
    /// 'parentIntegration' - the parent of the child integration being initialized.
    pub parent_integration: Option<Value>,
    /// 'parentLicense' - the license provisioned to the parent integration.
    pub parent_license: Option<Value>,
    /// Token and every other field.
    pub context: Context,
}

/// update options.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOptions {
    /// 'resource' - the resource being updated.
    pub resource: Option<Value>,
    /// 'license' - integration apps only.
    pub license: Option<Value>,
    /// Token and every other field.
    pub context: Context,
}

/// changeEdition options.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEditionOptions {
    /// 'fromEdition' - the edition currently installed.
    pub from_edition: Option<Value>,
    /// 'toEdition' - the new edition.
    pub to_edition: Option<Value>,
    /// 'integration' - the integration being changed.
    pub integration: Option<Value>,
    /// 'license' - the license provisioned to the integration.
    pub license: Option<Value>,
    /// Token and every other field.
    pub context: Context,
}
