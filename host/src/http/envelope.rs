//! The request body as body-parser's `json({limit: '50mb'})` would see it, without parsing
//! `options` (which can be 50 MB): each top-level field stays a slice of the body.

use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::marshal::fields::Fields;

/// The top-level fields of the request body.
pub struct Envelope<'a> {
    fields: Option<Fields<'a>>,
}

impl<'a> Envelope<'a> {
    /// Parses a body. As body-parser: a non-JSON content type or an empty body reads as `{}`;
    /// strict mode accepts only an object or an array (an array has no fields).
    pub fn parse(body: &'a [u8], is_json: bool) -> Result<Self, ApiError> {
        let empty = Self::empty();
        if !is_json {
            return Ok(empty);
        }
        let text = std::str::from_utf8(body)
            .map_err(|err| ApiError::MalformedJson(format!("the body is not UTF-8 ({err})")))?;
        let malformed = |err: serde_json::Error| ApiError::MalformedJson(err.to_string());
        match text.trim_start().as_bytes().first() {
            None => Ok(empty),
            Some(b'{') => Ok(Self {
                fields: Some(Fields::parse(text).map_err(malformed)?),
            }),
            Some(b'[') => {
                serde_json::from_str::<IgnoredAny>(text).map_err(malformed)?;
                Ok(empty)
            }
            Some(_) => Err(ApiError::MalformedJson(
                "the body must be a JSON object or array".to_string(),
            )),
        }
    }

    /// An envelope with no fields (what a body that is not JSON reads as).
    pub fn empty() -> Self {
        Self { fields: None }
    }

    /// A field's raw JSON text.
    pub fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.as_ref()?.peek(key)
    }

    /// A field's value (for the small envelope fields, never `options`).
    pub fn value(&self, key: &str) -> Option<Value> {
        self.raw(key)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

/// Whether a `Content-Type` is JSON, as body-parser's default `type: 'application/json'`.
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_like_body_parser() {
        assert!(Envelope::parse(b"", true).unwrap().raw("diy").is_none());
        assert!(
            Envelope::parse(b"[1,2]", true)
                .unwrap()
                .raw("diy")
                .is_none()
        );
        assert!(
            Envelope::parse(b"{\"diy\":true}", false)
                .unwrap()
                .raw("diy")
                .is_none()
        );
        assert_eq!(
            Envelope::parse(b" {\"diy\":true}", true)
                .unwrap()
                .value("diy"),
            Some(Value::Bool(true))
        );
        assert!(matches!(
            Envelope::parse(b"{\"diy\":", true),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"\"text\"", true),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"5", true),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn only_application_json_is_parsed() {
        assert!(is_json_content_type(Some(
            "application/json; charset=utf-8"
        )));
        assert!(is_json_content_type(Some("Application/JSON")));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(None));
    }
}
