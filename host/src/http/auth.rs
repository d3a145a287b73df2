//! The system token, found where the original looks for it: the `Authorization` header
//! (`Bearer <token>`, scheme case-insensitive, exactly two space-separated parts); only when
//! there is no such header, `access_token` in the JSON body, then in the query string.

use axum::http::{HeaderMap, header};
use serde_json::Value;

/// The token a request presents, if any. A token that is not a string (possible in a JSON
/// body, or a repeated query parameter) is presented but never matches. `body_token` is the
/// body's top-level `access_token`.
pub fn find_token(
    headers: &HeaderMap,
    body_token: Option<Value>,
    query: Option<&str>,
) -> Option<String> {
    match header_token(headers) {
        Some(token) => token,
        None => body_or_query_token(body_token, query),
    }
}

/// `Some(token)` when an `Authorization` header decides (its token, or `None` when it is not
/// `Bearer <token>`); `None` when there is no such header and the body or query decides.
pub fn header_token(headers: &HeaderMap) -> Option<Option<String>> {
    let value = headers
        .get(header::AUTHORIZATION)
        .filter(|v| !v.is_empty())?;
    let Ok(value) = value.to_str() else {
        return Some(None);
    };
    let parts: Vec<&str> = value.split(' ').collect();
    Some(match parts.as_slice() {
        [scheme, credentials] if scheme.eq_ignore_ascii_case("bearer") => {
            Some(credentials.to_string())
        }
        _ => None,
    })
}

/// The token from the body's `access_token`, else from the query string.
pub fn body_or_query_token(body_token: Option<Value>, query: Option<&str>) -> Option<String> {
    match body_token {
        Some(Value::String(token)) if !token.is_empty() => return Some(token),
        Some(v) if crate::js::truthy(Some(&v)) => return None,
        _ => {}
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let mut tokens = pairs
        .into_iter()
        .filter(|(k, _)| k == "access_token" || k.starts_with("access_token["));
    match (tokens.next(), tokens.next()) {
        (Some((key, token)), None) if key == "access_token" && !token.is_empty() => Some(token),
        _ => None,
    }
}

/// Compares tokens in time independent of where they differ.
pub fn token_matches(presented: Option<&str>, expected: &str) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn header_wins_even_when_malformed() {
        let body = br#"{"access_token":"body"}"#;
        let env = || Envelope::access_token(body, true).unwrap();
        assert_eq!(
            find_token(&headers(Some("bearer abc")), env(), None).as_deref(),
            Some("abc")
        );
        assert_eq!(find_token(&headers(Some("Bearer  abc")), env(), None), None);
        assert_eq!(find_token(&headers(Some("Basic abc")), env(), None), None);
        assert_eq!(
            find_token(&headers(None), env(), Some("access_token=q")).as_deref(),
            Some("body")
        );
    }

    #[test]
    fn query_is_last_and_must_be_single() {
        assert_eq!(
            find_token(&headers(None), None, Some("access_token=a%20b")).as_deref(),
            Some("a b")
        );
        assert_eq!(
            find_token(&headers(None), None, Some("access_token=a&access_token=a")),
            None
        );
        let token = Envelope::access_token(br#"{"access_token":123}"#, true).unwrap();
        assert_eq!(
            find_token(&headers(None), token, Some("access_token=123")),
            None
        );
    }

    #[test]
    fn comparison_is_exact() {
        assert!(token_matches(Some("secret"), "secret"));
        assert!(!token_matches(Some("secreT"), "secret"));
        assert!(!token_matches(Some("secret1"), "secret"));
        assert!(!token_matches(None, "secret"));
    }
}
