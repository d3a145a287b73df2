//! The request body as body-parser's `json({limit: '50mb'})` would see it, without parsing
//! `options` (which can be 50 MB): each top-level field stays a slice of the body.
//!
//! Before the caller is authenticated, only [`Envelope::access_token`] runs: one validating
//! pass that allocates nothing per key and keeps only `access_token`, so an unauthenticated
//! body of millions of keys costs a scan, not a parse into fields.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::fields::RawFields;

/// The top-level fields of the request body.
pub struct Envelope<'a> {
    fields: Option<RawFields<'a>>,
}

/// What a body is, as body-parser reads it: no fields, or an object's text.
enum Shape<'a> {
    NoFields,
    Object(&'a str),
}

fn malformed(err: serde_json::Error) -> ApiError {
    ApiError::MalformedJson(err.to_string())
}

/// As body-parser: a non-JSON content type or an empty body reads as `{}`; strict mode
/// accepts only an object or an array (an array has no fields, but must be valid).
fn shape(body: &[u8], is_json: bool) -> Result<Shape<'_>, ApiError> {
    if !is_json {
        return Ok(Shape::NoFields);
    }
    let text = std::str::from_utf8(body)
        .map_err(|err| ApiError::MalformedJson(format!("the body is not UTF-8 ({err})")))?;
    match text.trim_start().as_bytes().first() {
        None => Ok(Shape::NoFields),
        Some(b'{') => Ok(Shape::Object(text)),
        Some(b'[') => {
            serde_json::from_str::<IgnoredAny>(text).map_err(malformed)?;
            Ok(Shape::NoFields)
        }
        Some(_) => Err(ApiError::MalformedJson(
            "the body must be a JSON object or array".to_string(),
        )),
    }
}

impl<'a> Envelope<'a> {
    /// Parses a body into its fields (see [`shape`] for what counts as fields).
    pub fn parse(body: &'a [u8], is_json: bool) -> Result<Self, ApiError> {
        match shape(body, is_json)? {
            Shape::NoFields => Ok(Self::empty()),
            Shape::Object(text) => Ok(Self {
                fields: Some(RawFields::parse(text).map_err(malformed)?),
            }),
        }
    }

    /// Validates a body as [`Envelope::parse`] does (same errors) and returns only its
    /// top-level `access_token` (the last one, as `JSON.parse` keeps), in one pass that
    /// allocates nothing per key: what may run before the caller is authenticated.
    pub fn access_token(body: &[u8], is_json: bool) -> Result<Option<Value>, ApiError> {
        let Shape::Object(text) = shape(body, is_json)? else {
            return Ok(None);
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let raw = TokenScan.deserialize(&mut de).map_err(malformed)?;
        de.end().map_err(malformed)?;
        Ok(raw.and_then(|raw| serde_json::from_str(raw.get()).ok()))
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

/// Scans an object for `access_token`, skipping every other value.
struct TokenScan;

impl<'de> DeserializeSeed<'de> for TokenScan {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TokenScan {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut token = None;
        while let Some(is_token) = map.next_key_seed(IsAccessToken)? {
            if is_token {
                token = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(token)
    }
}

/// A key, compared with `access_token` without being copied (unless it has escapes).
struct IsAccessToken;

impl<'de> DeserializeSeed<'de> for IsAccessToken {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsAccessToken {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == "access_token")
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
    fn the_token_scan_validates_like_the_parse_and_keeps_the_last_token() {
        let scan = |b: &[u8]| Envelope::access_token(b, true);
        assert_eq!(
            scan(br#"{"a":{"access_token":"inner"},"access_token":"x","access_token":"y"}"#)
                .unwrap(),
            Some(Value::String("y".into()))
        );
        assert_eq!(
            scan(br#"{"acc\u0065ss_token":"esc"}"#).unwrap(),
            Some(Value::String("esc".into()))
        );
        assert_eq!(scan(b"[1]").unwrap(), None);
        assert_eq!(scan(b"").unwrap(), None);
        for bad in [&b"{\"a\":"[..], b"{} x", b"5", b"[1,"] {
            assert!(
                matches!(scan(bad), Err(ApiError::MalformedJson(_))),
                "{bad:?}"
            );
            assert!(matches!(
                Envelope::parse(bad, true),
                Err(ApiError::MalformedJson(_))
            ));
        }
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
