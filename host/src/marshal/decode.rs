//! Results of typed kinds on the JSON boundary ([`Boundary::Json`]): the one JSON value a guest
//! returned through `plugin.invoke`, decoded into the kind's typed result, so the same contract
//! checks and the same output apply as on the typed boundary.
//!
//! The shapes are the WIT records with integrator.io's field names. Fields the WIT marks
//! optional or as lists may be left out (`{}` is an ignored record, `{data}` a preSavePage page
//! without new errors); a field the contract does not name is refused rather than dropped, so a
//! hook that returns the bare record instead of `{data: record}` is caught, not silently
//! ignored.
//!
//! [`Boundary::Json`]: crate::runtime::bindings::Boundary::Json

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::value::RawValue;

use crate::runtime::bindings::{RecordError, hooks, scripts, wrappers};

/// A typed result decoded from a guest's JSON; the error says what does not fit.
pub trait FromGuestJson: Sized {
    /// Decodes `text` (`None`: the function returned nothing).
    fn from_guest_json(text: Option<&str>) -> Result<Self, String>;
}

fn required<'t>(text: Option<&'t str>, what: &str) -> Result<&'t str, String> {
    text.ok_or_else(|| format!("it returned nothing where {what} is required"))
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|err| err.to_string())
}

/// An array of entries, decoded in one pass; when that fails, again entry by entry, so the
/// error names the entry.
fn list<T: DeserializeOwned>(text: Option<&str>) -> Result<Vec<T>, String> {
    let text = required(text, "an array")?;
    if let Ok(all) = parse(text) {
        return Ok(all);
    }
    let entries: Vec<Box<RawValue>> =
        parse(text).map_err(|err| format!("it must return an array ({err})"))?;
    entries
        .iter()
        .enumerate()
        .map(|(i, raw)| parse(raw.get()).map_err(|err| format!("entry {i}: {err}")))
        .collect()
}

fn texts(values: Vec<Box<RawValue>>) -> Vec<String> {
    values.into_iter().map(|v| v.get().to_string()).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordErrorJson {
    code: String,
    message: String,
    #[serde(default)]
    source: Option<String>,
}

fn record_errors(errors: Vec<RecordErrorJson>) -> Vec<RecordError> {
    errors
        .into_iter()
        .map(|e| RecordError {
            code: e.code,
            message: e.message,
            source: e.source,
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapResultJson {
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    errors: Vec<RecordErrorJson>,
}

impl FromGuestJson for Vec<hooks::MapResult> {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        Ok(list::<MapResultJson>(text)?
            .into_iter()
            .map(|r| hooks::MapResult {
                data: r.data.map(|d| d.get().to_string()),
                errors: record_errors(r.errors),
            })
            .collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PreSavePageJson {
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    errors: Vec<Box<RawValue>>,
    #[serde(default)]
    abort: bool,
    #[serde(default)]
    new_errors_and_retry_data: Vec<Box<RawValue>>,
}

impl FromGuestJson for hooks::PreSavePageResponse {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        let r: PreSavePageJson = parse(required(text, "{data, errors, abort}")?)?;
        Ok(hooks::PreSavePageResponse {
            data: texts(r.data),
            errors: texts(r.errors),
            abort: r.abort,
            new_errors_and_retry_data: texts(r.new_errors_and_retry_data),
        })
    }
}

/// postSubmit / postResponseMap: an array of any JSON values.
impl FromGuestJson for Vec<String> {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        Ok(texts(list::<Box<RawValue>>(text)?))
    }
}

/// postAggregate: whatever the function returns is not part of the contract.
impl FromGuestJson for () {
    fn from_guest_json(_: Option<&str>) -> Result<Self, String> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PingJson {
    status_code: u16,
    #[serde(default)]
    errors: Vec<RecordErrorJson>,
}

impl FromGuestJson for wrappers::PingResponse {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        let r: PingJson = parse(required(text, "{statusCode, errors}")?)?;
        Ok(wrappers::PingResponse {
            status_code: r.status_code,
            errors: record_errors(r.errors),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExportJson {
    #[serde(default)]
    connection_offline: Option<bool>,
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    errors: Vec<RecordErrorJson>,
    #[serde(default)]
    last_page: bool,
    #[serde(default)]
    state: Option<Box<RawValue>>,
}

impl FromGuestJson for wrappers::ExportResponse {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        let r: ExportJson = parse(required(text, "{data, lastPage, state}")?)?;
        Ok(wrappers::ExportResponse {
            connection_offline: r.connection_offline,
            data: texts(r.data),
            errors: record_errors(r.errors),
            last_page: r.last_page,
            state: r.state.map(|s| s.get().to_string()),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImportJson {
    status_code: u16,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ignored: Option<bool>,
    #[serde(default)]
    errors: Vec<RecordErrorJson>,
}

impl FromGuestJson for Vec<wrappers::ImportResponse> {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        Ok(list::<ImportJson>(text)?
            .into_iter()
            .map(|r| wrappers::ImportResponse {
                status_code: r.status_code,
                id: r.id,
                ignored: r.ignored,
                errors: record_errors(r.errors),
            })
            .collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResponseScriptJson {
    response_code: u8,
    #[serde(default)]
    message: Option<String>,
}

impl FromGuestJson for scripts::ResponseScriptResult {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        let r: ResponseScriptJson = parse(required(text, "{responseCode, message?}")?)?;
        Ok(scripts::ResponseScriptResult {
            response_code: r.response_code,
            message: r.message,
        })
    }
}

/// One JSON value, checked, as its text.
fn value(text: &str) -> Result<String, String> {
    parse::<IgnoredAny>(text)?;
    Ok(text.trim().to_string())
}

/// formInit / preSave / initChild: one JSON value.
impl FromGuestJson for String {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        value(required(text, "a JSON value")?)
    }
}

/// step / update / changeEdition: a JSON value or nothing.
impl FromGuestJson for Option<String> {
    fn from_guest_json(text: Option<&str>) -> Result<Self, String> {
        text.map(value).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_results_accept_the_documented_shapes_and_name_the_bad_entry() {
        let ok = Vec::<hooks::MapResult>::from_guest_json(Some(
            r#"[{"data":{"a":1}},{},{"errors":[{"code":"c","message":"m","source":"s"}]},{"data":null}]"#,
        ))
        .unwrap();
        assert_eq!(ok[0].data.as_deref(), Some(r#"{"a":1}"#));
        assert!(ok[1].data.is_none() && ok[1].errors.is_empty());
        assert_eq!(ok[2].errors[0].source.as_deref(), Some("s"));
        assert!(ok[3].data.is_none());

        let err = Vec::<hooks::MapResult>::from_guest_json(Some(r#"[{"data":{}},{"id":7}]"#))
            .unwrap_err();
        assert!(err.starts_with("entry 1: unknown field `id`"), "{err}");
        let err = Vec::<hooks::MapResult>::from_guest_json(Some(r#"{"data":[]}"#)).unwrap_err();
        assert!(err.starts_with("it must return an array"), "{err}");
        let err = Vec::<hooks::MapResult>::from_guest_json(None).unwrap_err();
        assert_eq!(err, "it returned nothing where an array is required");
    }

    #[test]
    fn optional_fields_default_and_required_ones_are_required() {
        let page =
            hooks::PreSavePageResponse::from_guest_json(Some(r#"{"data":[1,{"b":2}]}"#)).unwrap();
        assert_eq!(page.data, vec!["1".to_string(), r#"{"b":2}"#.to_string()]);
        assert!(!page.abort && page.errors.is_empty());
        let err = wrappers::PingResponse::from_guest_json(Some("{}")).unwrap_err();
        assert!(err.contains("missing field `statusCode`"), "{err}");
        let import = Vec::<wrappers::ImportResponse>::from_guest_json(Some(
            r#"[{"statusCode":200,"id":"x"}]"#,
        ))
        .unwrap();
        assert_eq!(import[0].id.as_deref(), Some("x"));
    }

    proptest::proptest! {
        /// Any text a guest returns decodes or is refused with a reason; never a panic.
        #[test]
        fn any_guest_text_decodes_or_is_refused(
            text in proptest::option::of(
                "[\\[\\]{}:,\"a-z0-9 ]{0,80}|\\{\"(data|errors|statusCode|id|abort|lastPage)\":.{0,20}\\}"
            )
        ) {
            let t = text.as_deref();
            let _ = Vec::<hooks::MapResult>::from_guest_json(t);
            let _ = hooks::PreSavePageResponse::from_guest_json(t);
            let _ = wrappers::PingResponse::from_guest_json(t);
            let _ = wrappers::ExportResponse::from_guest_json(t);
            let _ = Vec::<wrappers::ImportResponse>::from_guest_json(t);
            let _ = Vec::<String>::from_guest_json(t);
            let _ = String::from_guest_json(t);
            let _ = Option::<String>::from_guest_json(t);
        }
    }
}
