//! Typed results written back as the JSON the caller expects, checking every JSON text a
//! guest returned. The shapes follow the contracts' stubs.

use serde::de::IgnoredAny;

use crate::error::{ApiError, json_string};
use crate::runtime::bindings::{RecordError, hooks, scripts, wrappers};

/// Whether the guest JSON texts inside a result still need checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texts {
    /// Typed boundary: each text is as the guest wrote it; check it is valid JSON.
    Unchecked,
    /// JSON boundary: the texts are slices the decoder already parsed; write them as they are.
    Checked,
}

/// Builds one JSON response text.
pub struct Writer {
    out: String,
    texts: Texts,
}

impl Writer {
    /// A writer for a result whose guest texts are `texts`.
    pub fn new(texts: Texts) -> Self {
        Self {
            out: String::new(),
            texts,
        }
    }

    /// A writer for a result whose guest texts are `texts`, with room for `capacity` bytes.
    pub fn with_capacity(texts: Texts, capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
            texts,
        }
    }

    /// The text written.
    pub fn finish(self) -> String {
        self.out
    }

    /// Appends literal JSON syntax written by the host.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self
    }

    /// Appends a JSON text the guest returned, after checking it is valid JSON unless it was.
    pub fn raw(&mut self, text: &str) -> Result<&mut Self, ApiError> {
        if self.texts == Texts::Unchecked {
            check_json(text)?;
        }
        self.out.push_str(text.trim());
        Ok(self)
    }

    /// Appends a string literal.
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.out.push_str(&json_string(s));
        self
    }

    /// `"key":` with a leading comma unless it opens the object. Keys are the host's own
    /// field names (plain ASCII letters), written without an escaping pass.
    pub fn key(&mut self, key: &'static str) -> &mut Self {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        if !self.out.ends_with('{') {
            self.out.push(',');
        }
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self
    }

    /// An array of guest JSON texts.
    pub fn raw_list(&mut self, items: &[String]) -> Result<&mut Self, ApiError> {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.raw(item)?;
        }
        self.out.push(']');
        Ok(self)
    }

    /// `[{code, message, source}]`.
    pub fn record_errors(&mut self, errors: &[RecordError]) -> &mut Self {
        self.out.push('[');
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.push("{")
                .key("code")
                .string(&e.code)
                .key("message")
                .string(&e.message);
            if let Some(source) = &e.source {
                self.key("source").string(source);
            }
            self.out.push('}');
        }
        self.out.push(']');
        self
    }
}

/// Fails with the original's "not serializable" error unless `text` is one valid JSON value.
pub fn check_json(text: &str) -> Result<(), ApiError> {
    serde_json::from_str::<IgnoredAny>(text)
        .map(drop)
        .map_err(|err| {
            ApiError::NotSerializable(format!("the plugin returned invalid JSON: {err}"))
        })
}

/// preMap/postMap results: `[{data, errors}…]`, `{}` for an ignored record.
pub fn map_results(results: &[hooks::MapResult], texts: Texts) -> Result<String, ApiError> {
    // The records' own texts plus `{"data":},` around each: one allocation, no regrowth.
    let texts_len: usize = results
        .iter()
        .filter_map(|r| r.data.as_ref())
        .map(String::len)
        .sum();
    let mut w = Writer::with_capacity(texts, texts_len + results.len() * 12 + 2);
    w.push("[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            w.push(",");
        }
        w.push("{");
        if let Some(data) = &r.data {
            w.key("data").raw(data)?;
        }
        if !r.errors.is_empty() {
            w.key("errors").record_errors(&r.errors);
        }
        w.push("}");
    }
    w.push("]");
    Ok(w.finish())
}

/// preSavePage result: `{data, errors, abort, newErrorsAndRetryData}`.
pub fn pre_save_page(r: &hooks::PreSavePageResponse, texts: Texts) -> Result<String, ApiError> {
    let mut w = Writer::new(texts);
    w.push("{").key("data").raw_list(&r.data)?;
    w.key("errors").raw_list(&r.errors)?;
    w.key("abort").push(if r.abort { "true" } else { "false" });
    w.key("newErrorsAndRetryData")
        .raw_list(&r.new_errors_and_retry_data)?;
    w.push("}");
    Ok(w.finish())
}

/// The codes a response script may answer: 0 continue, 1 fail the step and retry it, 2 fail
/// the flow and queue it for a retry, 3 fail the flow without retry, 4 re-authenticate and
/// retry.
pub const RESPONSE_CODES: std::ops::RangeInclusive<u8> = 0..=4;

/// responseScript result: `{responseCode, message?}`, the code one of [`RESPONSE_CODES`].
pub fn response_script(r: &scripts::ResponseScriptResult) -> Result<String, ApiError> {
    if !RESPONSE_CODES.contains(&r.response_code) {
        return Err(ApiError::ContractBroken(format!(
            "The responseScript function returned responseCode {}; it must be 0 (continue), 1 (retry the step), 2 (fail the flow, retry later), 3 (fail the flow) or 4 (re-authenticate).",
            r.response_code
        )));
    }
    let mut w = Writer::new(Texts::Checked);
    w.push("{")
        .key("responseCode")
        .push(&r.response_code.to_string());
    if let Some(message) = &r.message {
        w.key("message").string(message);
    }
    w.push("}");
    Ok(w.finish())
}

/// ping result: `{statusCode, errors?}`.
pub fn ping(r: &wrappers::PingResponse) -> String {
    let mut w = Writer::new(Texts::Checked);
    w.push("{")
        .key("statusCode")
        .push(&r.status_code.to_string());
    if !r.errors.is_empty() {
        w.key("errors").record_errors(&r.errors);
    }
    w.push("}");
    w.finish()
}

/// export result: `{connectionOffline?, data, errors?, lastPage, state?}`.
pub fn export(r: &wrappers::ExportResponse, texts: Texts) -> Result<String, ApiError> {
    let mut w = Writer::new(texts);
    w.push("{");
    if let Some(offline) = r.connection_offline {
        w.key("connectionOffline")
            .push(if offline { "true" } else { "false" });
    }
    w.key("data").raw_list(&r.data)?;
    if !r.errors.is_empty() {
        w.key("errors").record_errors(&r.errors);
    }
    w.key("lastPage")
        .push(if r.last_page { "true" } else { "false" });
    if let Some(state) = &r.state {
        w.key("state").raw(state)?;
    }
    w.push("}");
    Ok(w.finish())
}

/// import result: `[{statusCode, id?, ignored?, errors?}…]`.
pub fn import(responses: &[wrappers::ImportResponse]) -> String {
    let mut w = Writer::new(Texts::Checked);
    w.push("[");
    for (i, r) in responses.iter().enumerate() {
        if i > 0 {
            w.push(",");
        }
        w.push("{")
            .key("statusCode")
            .push(&r.status_code.to_string());
        if let Some(id) = &r.id {
            w.key("id").string(id);
        }
        if let Some(ignored) = r.ignored {
            w.key("ignored")
                .push(if ignored { "true" } else { "false" });
        }
        if !r.errors.is_empty() {
            w.key("errors").record_errors(&r.errors);
        }
        w.push("}");
    }
    w.push("]");
    w.finish()
}

/// A list of guest JSON texts as one array.
pub fn list(items: &[String], texts: Texts) -> Result<String, ApiError> {
    let mut w = Writer::new(texts);
    w.raw_list(items)?;
    Ok(w.finish())
}

/// One guest JSON text.
pub fn value(text: &str, texts: Texts) -> Result<String, ApiError> {
    if texts == Texts::Unchecked {
        check_json(text)?;
    }
    Ok(text.trim().to_string())
}

/// `maxResponseSize` as the original applies it: `JSON.stringify(result).length` (UTF-16 code
/// units) must not exceed the limit; 0, absent or otherwise falsy means the 5 MiB default.
pub fn check_size(text: &str, limit: &MaxSize) -> Result<(), ApiError> {
    let MaxSize::Limit { bytes, display } = limit else {
        return Ok(());
    };
    // UTF-16 length ≤ UTF-8 length, so the cheap check settles most responses.
    if (text.len() as f64) <= *bytes {
        return Ok(());
    }
    let utf16_len: usize = text.chars().map(char::len_utf16).sum();
    if utf16_len as f64 > *bytes {
        return Err(ApiError::ResponseTooLarge(display.clone()));
    }
    Ok(())
}

/// The response-size limit a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum MaxSize {
    /// Results longer than `bytes` are refused; `display` is the limit as the message prints it.
    Limit {
        /// The limit.
        bytes: f64,
        /// The limit as JavaScript prints it.
        display: String,
    },
    /// A limit JavaScript compares as NaN (e.g. a non-numeric string): never exceeded.
    Unlimited,
}

impl MaxSize {
    /// From the request's `maxResponseSize` field.
    pub fn from_request(value: Option<&serde_json::Value>) -> Self {
        use serde_json::Value;
        if !crate::js::truthy(value) {
            let bytes = crate::error::DEFAULT_MAX_RESPONSE_SIZE;
            return MaxSize::Limit {
                bytes: bytes as f64,
                display: bytes.to_string(),
            };
        }
        let display = value.map(crate::js::to_js_string).unwrap_or_default();
        let bytes = match value {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.trim().is_empty() => Some(0.0),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(Value::Bool(true)) => Some(1.0),
            _ => None,
        };
        match bytes {
            Some(bytes) => MaxSize::Limit { bytes, display },
            None => MaxSize::Unlimited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_is_counted_in_utf16_units_and_the_limit_itself_passes() {
        let limit = MaxSize::from_request(Some(&json!(4)));
        assert!(
            check_size("\"é\"", &limit).is_ok(),
            "3 UTF-16 units, 4 UTF-8 bytes"
        );
        assert!(check_size("\"ab\"", &limit).is_ok(), "exactly the limit");
        assert!(check_size("\"abc\"", &limit).is_err());
        assert!(
            check_size("\"😀😀\"", &limit).is_err(),
            "a surrogate pair counts twice"
        );
    }

    #[test]
    fn falsy_limits_mean_the_default() {
        for v in [json!(0), json!(null), json!(""), json!(false)] {
            assert_eq!(
                MaxSize::from_request(Some(&v)),
                MaxSize::Limit {
                    bytes: 5242880.0,
                    display: "5242880".into()
                }
            );
        }
        assert_eq!(
            MaxSize::from_request(Some(&json!("abc"))),
            MaxSize::Unlimited
        );
    }

    #[test]
    fn invalid_guest_json_is_not_serializable() {
        assert!(matches!(
            value("{\"a\":", Texts::Unchecked),
            Err(ApiError::NotSerializable(_))
        ));
        assert!(matches!(
            value("1 2", Texts::Unchecked),
            Err(ApiError::NotSerializable(_))
        ));
        assert_eq!(value(" [1] ", Texts::Unchecked).unwrap(), "[1]");
    }
}
