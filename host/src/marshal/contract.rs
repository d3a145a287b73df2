//! Each kind's contract, in one place: the options fields its typed record takes, the records
//! list it requires (and whether its result must match it entry for entry), how its typed
//! export is called, and how its result is written for the caller. The decoder of its result on the JSON boundary is the
//! [`FromGuestJson`] impl of its `Result` type (in [`decode`](super::decode)).
//!
//! [`super::invoke`] runs any kind through [`KindContract`], on either boundary:
//! - typed: the fields become the kind's WIT record and the kind's own export is called;
//! - JSON: `options` crosses as it came (no record is copied or typed), the records list is
//!   only counted, and the result is decoded from the JSON the guest returned.
//!
//! The free-form `json` kind has no contract: [`super::invoke`] passes it through.

use std::future::Future;

use super::decode::FromGuestJson;
use super::output::{self, Texts};
use crate::error::ApiError;
use crate::fields::Fields;
use crate::runtime::Call;
use crate::runtime::bindings::{FnError, FunctionId, Kind, hooks, lifecycle, scripts, wrappers};
use crate::runtime::exports::ExportFn;

/// The static facts of one kind: a row of [`CONTRACTS`].
#[derive(Debug)]
pub struct Contract {
    /// The kind.
    pub kind: Kind,
    /// Its name as integrator.io spells it (and as `GET /plugins`, the JavaScript SDK's
    /// `fn.kind` and the Python SDK's `@kind` spell it): the WIT case in camelCase.
    pub name: &'static str,
    /// The records list its options must carry, if any.
    pub records: Option<Records>,
}

/// An options list of records a kind requires (a call without it is `invalid_options`).
#[derive(Debug, Clone, Copy)]
pub struct Records {
    /// The options field.
    pub field: &'static str,
    /// When the result must have one entry per record: what the entries are, for the error
    /// message ("records in options.data").
    pub matched: Option<&'static str>,
}

/// What a kind's export returned: the trap layer, then the function's own result.
pub type Returned<T> = wasmtime::Result<Result<T, FnError>>;

/// One kind's contract.
pub trait KindContract {
    /// The kind's static facts.
    const ROW: Contract;
    /// The WIT options record of its typed export.
    type Options: Sync;
    /// The WIT result of its typed export (decoded from JSON on the JSON boundary).
    type Result: FromGuestJson + Send;

    /// The typed options: the kind's fields taken from `options`, every other field in the
    /// context's `extra`. `records` is the records list, already taken, when the row names one.
    fn options(fields: Fields<'_>, records: Option<Vec<String>>) -> Self::Options;

    /// Calls the kind's typed export.
    fn call_typed<'c>(
        call: &'c mut Call,
        id: &'c FunctionId,
        options: &'c Self::Options,
    ) -> impl Future<Output = Returned<Self::Result>> + Send + 'c;

    /// How many entries the result has, for kinds whose result must match their records.
    fn result_len(_result: &Self::Result) -> usize {
        0
    }

    /// The JSON the caller receives (`None`: an empty 200).
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError>;
}

/// The static facts of every kind, in the WIT's order.
pub const CONTRACTS: [Contract; 17] = [
    PreSavePage::ROW,
    PreMap::ROW,
    PostMap::ROW,
    PostSubmit::ROW,
    PostResponseMap::ROW,
    PostAggregate::ROW,
    Ping::ROW,
    Export::ROW,
    Import::ROW,
    Step::ROW,
    FormInit::ROW,
    PreSave::ROW,
    InitChild::ROW,
    Update::ROW,
    ChangeEdition::ROW,
    ResponseScript::ROW,
    Contract {
        kind: Kind::Json,
        name: "json",
        records: None,
    },
];

/// The row of `kind`: the rows are in the WIT's order, so the case's index is the row's (a
/// unit test checks every row against the WIT and against this lookup).
pub fn contract(kind: Kind) -> &'static Contract {
    &CONTRACTS[kind as usize]
}

const fn row(kind: Kind, name: &'static str) -> Contract {
    Contract {
        kind,
        name,
        records: None,
    }
}

/// A row whose options require the records list `field`; `matched` as in [`Records`].
const fn with_records(
    kind: Kind,
    name: &'static str,
    field: &'static str,
    matched: Option<&'static str>,
) -> Contract {
    Contract {
        kind,
        name,
        records: Some(Records { field, matched }),
    }
}

/// `call_typed` for an export of the `$interface` bindings.
macro_rules! typed_export {
    ($export:ident) => {
        fn call_typed<'c>(
            call: &'c mut Call,
            id: &'c FunctionId,
            options: &'c Self::Options,
        ) -> impl Future<Output = Returned<Self::Result>> + Send + 'c {
            async move {
                call.call_export::<(&FunctionId, &Self::Options), (Result<Self::Result, FnError>,)>(
                    ExportFn::$export,
                    (id, options),
                )
                .await
                .map(|(returned,)| returned)
            }
        }
    };
}

/// A JSON value, or nothing, as the caller receives it.
fn optional_value(value: &Option<String>, texts: Texts) -> Result<Option<String>, ApiError> {
    value
        .as_deref()
        .map(|text| output::value(text, texts))
        .transpose()
}

/// preSavePage.
pub struct PreSavePage;
impl KindContract for PreSavePage {
    const ROW: Contract = with_records(Kind::PreSavePage, "preSavePage", "data", None);
    type Options = hooks::PreSavePageOptions;
    type Result = hooks::PreSavePageResponse;
    fn options(mut f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        hooks::PreSavePageOptions {
            data: records.unwrap_or_default(),
            errors: f.list("errors").unwrap_or_default(),
            files: f.list("files"),
            retry_data: f.json("retryData"),
            page_index: f.u64("pageIndex"),
            last_export_date_time: f.string("lastExportDateTime"),
            current_export_date_time: f.string("currentExportDateTime"),
            context: f.context(),
        }
    }
    typed_export!(PreSavePage);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::pre_save_page(result, texts).map(Some)
    }
}

/// preMap.
pub struct PreMap;
impl KindContract for PreMap {
    const ROW: Contract = with_records(
        Kind::PreMap,
        "preMap",
        "data",
        Some("records in options.data"),
    );
    type Options = hooks::PreMapOptions;
    type Result = Vec<hooks::MapResult>;
    fn options(f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        hooks::PreMapOptions {
            data: records.unwrap_or_default(),
            context: f.context(),
        }
    }
    typed_export!(PreMap);
    fn result_len(result: &Self::Result) -> usize {
        result.len()
    }
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::map_results(result, texts).map(Some)
    }
}

/// postMap.
pub struct PostMap;
impl KindContract for PostMap {
    const ROW: Contract = with_records(
        Kind::PostMap,
        "postMap",
        "postMapData",
        Some("records in options.postMapData"),
    );
    type Options = hooks::PostMapOptions;
    type Result = Vec<hooks::MapResult>;
    fn options(mut f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        hooks::PostMapOptions {
            pre_map_data: f.list("preMapData").unwrap_or_default(),
            post_map_data: records.unwrap_or_default(),
            context: f.context(),
        }
    }
    typed_export!(PostMap);
    fn result_len(result: &Self::Result) -> usize {
        result.len()
    }
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::map_results(result, texts).map(Some)
    }
}

/// postSubmit.
pub struct PostSubmit;
impl KindContract for PostSubmit {
    const ROW: Contract = with_records(
        Kind::PostSubmit,
        "postSubmit",
        "responseData",
        Some("responses in options.responseData"),
    );
    type Options = hooks::PostSubmitOptions;
    type Result = Vec<String>;
    fn options(mut f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        hooks::PostSubmitOptions {
            pre_map_data: f.list("preMapData").unwrap_or_default(),
            post_map_data: f.list("postMapData").unwrap_or_default(),
            response_data: records.unwrap_or_default(),
            context: f.context(),
        }
    }
    typed_export!(PostSubmit);
    fn result_len(result: &Self::Result) -> usize {
        result.len()
    }
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::list(result, texts).map(Some)
    }
}

/// postResponseMap.
pub struct PostResponseMap;
impl KindContract for PostResponseMap {
    const ROW: Contract = with_records(
        Kind::PostResponseMap,
        "postResponseMap",
        "postResponseMapData",
        Some("records in options.postResponseMapData"),
    );
    type Options = hooks::PostResponseMapOptions;
    type Result = Vec<String>;
    fn options(mut f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        hooks::PostResponseMapOptions {
            post_response_map_data: records.unwrap_or_default(),
            response_data: f.list("responseData").unwrap_or_default(),
            one_to_many: f.bool("oneToMany"),
            path_to_many: f.string("pathToMany"),
            context: f.context(),
        }
    }
    typed_export!(PostResponseMap);
    fn result_len(result: &Self::Result) -> usize {
        result.len()
    }
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::list(result, texts).map(Some)
    }
}

/// postAggregate: no result.
pub struct PostAggregate;
impl KindContract for PostAggregate {
    const ROW: Contract = row(Kind::PostAggregate, "postAggregate");
    type Options = hooks::PostAggregateOptions;
    type Result = ();
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        hooks::PostAggregateOptions {
            post_aggregate_data: f.json("postAggregateData").unwrap_or_else(|| "{}".into()),
            context: f.context(),
        }
    }
    typed_export!(PostAggregate);
    fn write(_: &(), _: Texts) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
}

/// ping.
pub struct Ping;
impl KindContract for Ping {
    const ROW: Contract = row(Kind::Ping, "ping");
    type Options = wrappers::PingOptions;
    type Result = wrappers::PingResponse;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        wrappers::PingOptions {
            connection: f.json("connection"),
            context: f.context(),
        }
    }
    typed_export!(Ping);
    fn write(result: &Self::Result, _: Texts) -> Result<Option<String>, ApiError> {
        Ok(Some(output::ping(result)))
    }
}

/// export: one page per call.
pub struct Export;
impl KindContract for Export {
    const ROW: Contract = row(Kind::Export, "export");
    type Options = wrappers::ExportOptions;
    type Result = wrappers::ExportResponse;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        wrappers::ExportOptions {
            connection: f.json("connection"),
            type_: f.string("type"),
            delta: f.json("delta"),
            once: f.json("once"),
            test: f.json("test"),
            state: f.json("state"),
            data: f.list("data"),
            context: f.context(),
        }
    }
    typed_export!(Export);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::export(result, texts).map(Some)
    }
}

/// import: one response per record.
pub struct Import;
impl KindContract for Import {
    const ROW: Contract = with_records(
        Kind::Import,
        "import",
        "postMapData",
        Some("records in options.postMapData"),
    );
    type Options = wrappers::ImportOptions;
    type Result = Vec<wrappers::ImportResponse>;
    fn options(mut f: Fields<'_>, records: Option<Vec<String>>) -> Self::Options {
        wrappers::ImportOptions {
            connection: f.json("connection"),
            pre_map_data: f.list("preMapData").unwrap_or_default(),
            post_map_data: records.unwrap_or_default(),
            context: f.context(),
        }
    }
    typed_export!(Import);
    fn result_len(result: &Self::Result) -> usize {
        result.len()
    }
    fn write(result: &Self::Result, _: Texts) -> Result<Option<String>, ApiError> {
        Ok(Some(output::import(result)))
    }
}

/// An installer or uninstaller step: a value or nothing.
pub struct Step;
impl KindContract for Step {
    const ROW: Contract = row(Kind::Step, "step");
    type Options = lifecycle::StepOptions;
    type Result = Option<String>;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::StepOptions {
            form_submission: f.json("formSubmission"),
            resource: f.json("resource"),
            parent_resource: f.json("parentResource"),
            license: f.json("license"),
            parent_license: f.json("parentLicense"),
            context: f.context(),
        }
    }
    typed_export!(Step);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        optional_value(result, texts)
    }
}

/// formInit: the form object.
pub struct FormInit;
impl KindContract for FormInit {
    const ROW: Contract = row(Kind::FormInit, "formInit");
    type Options = lifecycle::FormInitOptions;
    type Result = String;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::FormInitOptions {
            resource: f.json("resource"),
            parent_resource: f.json("parentResource"),
            grandparent_resource: f.json("grandparentResource"),
            license: f.json("license"),
            parent_license: f.json("parentLicense"),
            context: f.context(),
        }
    }
    typed_export!(FormInit);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::value(result, texts).map(Some)
    }
}

/// preSave: the resource to save.
pub struct PreSave;
impl KindContract for PreSave {
    const ROW: Contract = row(Kind::PreSave, "preSave");
    type Options = lifecycle::PreSaveOptions;
    type Result = String;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::PreSaveOptions {
            new_resource: f.json("newResource"),
            old_resource: f.json("oldResource"),
            context: f.context(),
        }
    }
    typed_export!(PreSave);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::value(result, texts).map(Some)
    }
}

/// initChild: the child integration to create.
pub struct InitChild;
impl KindContract for InitChild {
    const ROW: Contract = row(Kind::InitChild, "initChild");
    type Options = lifecycle::InitChildOptions;
    type Result = String;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::InitChildOptions {
            parent_integration: f.json("parentIntegration"),
            parent_license: f.json("parentLicense"),
            context: f.context(),
        }
    }
    typed_export!(InitChild);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        output::value(result, texts).map(Some)
    }
}

/// update: a value or nothing.
pub struct Update;
impl KindContract for Update {
    const ROW: Contract = row(Kind::Update, "update");
    type Options = lifecycle::UpdateOptions;
    type Result = Option<String>;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::UpdateOptions {
            resource: f.json("resource"),
            license: f.json("license"),
            context: f.context(),
        }
    }
    typed_export!(Update);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        optional_value(result, texts)
    }
}

/// changeEdition: a value or nothing.
pub struct ChangeEdition;
impl KindContract for ChangeEdition {
    const ROW: Contract = row(Kind::ChangeEdition, "changeEdition");
    type Options = lifecycle::ChangeEditionOptions;
    type Result = Option<String>;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        lifecycle::ChangeEditionOptions {
            from_edition: f.json("fromEdition"),
            to_edition: f.json("toEdition"),
            integration: f.json("integration"),
            license: f.json("license"),
            context: f.context(),
        }
    }
    typed_export!(ChangeEdition);
    fn write(result: &Self::Result, texts: Texts) -> Result<Option<String>, ApiError> {
        optional_value(result, texts)
    }
}

/// The fields of a JSON object text (an object that is not one has none).
fn object(text: Option<String>) -> serde_json::Map<String, serde_json::Value> {
    match text.and_then(|t| serde_json::from_str(&t).ok()) {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn text_of(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    map.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn headers_of(map: &serde_json::Map<String, serde_json::Value>) -> String {
    map.get("headers")
        .filter(|h| h.is_object())
        .map_or_else(|| "{}".to_string(), serde_json::Value::to_string)
}

/// responseScript: `{responseCode: 0..4, message?}` for a connector's request and response.
pub struct ResponseScript;
impl KindContract for ResponseScript {
    const ROW: Contract = row(Kind::ResponseScript, "responseScript");
    type Options = scripts::ResponseScriptOptions;
    type Result = scripts::ResponseScriptResult;
    fn options(mut f: Fields<'_>, _: Option<Vec<String>>) -> Self::Options {
        let request = object(f.json("request"));
        let response = object(f.json("response"));
        scripts::ResponseScriptOptions {
            request: scripts::ScriptRequest {
                method: text_of(&request, "method"),
                url: text_of(&request, "url"),
                headers: headers_of(&request),
            },
            response: scripts::ScriptResponse {
                status: response
                    .get("status")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0),
                headers: headers_of(&response),
                body: text_of(&response, "body"),
            },
            context: f.context(),
        }
    }
    typed_export!(ResponseScript);
    fn write(result: &Self::Result, _: Texts) -> Result<Option<String>, ApiError> {
        output::response_script(result).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WIT's `enum kind` cases, in order, as the JavaScript and Python SDKs read them at
    /// build time.
    fn wit_kinds() -> Vec<String> {
        let wit = include_str!("../../../wit/types.wit");
        let body = wit
            .split("enum kind {")
            .nth(1)
            .unwrap()
            .split('}')
            .next()
            .unwrap();
        body.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| l.trim_end_matches(',').trim_start_matches('%').to_string())
            .collect()
    }

    fn camel(kebab: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in kebab.chars() {
            match c {
                '-' => upper = true,
                c if upper => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_kind_has_one_row_named_as_the_wit_case_in_camel_case() {
        let names: Vec<String> = wit_kinds().iter().map(|k| camel(k)).collect();
        let rows: Vec<&str> = CONTRACTS.iter().map(|c| c.name).collect();
        assert_eq!(rows, names);
        for row in &CONTRACTS {
            assert_eq!(contract(row.kind).name, row.name);
        }
    }
}
