//! The few JavaScript semantics the original protocol leaks: truthiness of request fields and
//! how a value prints when concatenated into a string or used as a property key.

use serde_json::Value;
use serde_json::value::RawValue;

/// JavaScript truthiness of a JSON value (`undefined` is `None`).
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => true,
    }
}

/// JavaScript truthiness of a raw JSON text, without parsing objects or arrays (which are
/// always truthy): `options` can be 50 MB.
pub fn raw_truthy(raw: Option<&RawValue>) -> bool {
    let Some(raw) = raw else { return false };
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') | Some(b'[') => true,
        _ => truthy(serde_json::from_str::<Value>(text).ok().as_ref()),
    }
}

/// `String(value)` in JavaScript: how the original prints `type` in `object_not_found` and how
/// it turns `_connectorId` into a property key.
pub fn to_js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                if v.is_null() {
                    String::new()
                } else {
                    to_js_string(v)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    n.as_f64().map_or_else(|| n.to_string(), number_string)
}

/// `String(n)` for a number: integral values print without a fraction, `-0` as `0`.
pub fn number_string(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f == 0.0 {
            return "0".into();
        }
        return format!("{f:.0}");
    }
    f.to_string()
}

/// `JSON.stringify(n)` for a number: as [`number_string`], except that a non-finite number
/// (which JSON cannot hold) is `null`.
pub fn json_number(f: f64) -> String {
    if f.is_finite() {
        number_string(f)
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_follows_javascript() {
        for falsy in [json!(null), json!(false), json!(0), json!(0.0), json!("")] {
            assert!(!truthy(Some(&falsy)), "{falsy} should be falsy");
        }
        for truthy_value in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(
                truthy(Some(&truthy_value)),
                "{truthy_value} should be truthy"
            );
        }
        assert!(!truthy(None));
    }

    #[test]
    fn raw_truthiness_skips_containers() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert!(raw_truthy(Some(&raw("{}"))));
        assert!(raw_truthy(Some(&raw("[]"))));
        assert!(!raw_truthy(Some(&raw("0"))));
        assert!(!raw_truthy(Some(&raw("\"\""))));
        assert!(raw_truthy(Some(&raw("\"a\""))));
        assert!(!raw_truthy(None));
    }

    #[test]
    fn strings_print_like_javascript() {
        assert_eq!(to_js_string(&json!(5)), "5");
        assert_eq!(to_js_string(&json!(2.0)), "2");
        assert_eq!(to_js_string(&json!(2.5)), "2.5");
        assert_eq!(to_js_string(&json!(["a", null, 1])), "a,,1");
        assert_eq!(to_js_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(to_js_string(&json!(true)), "true");
    }

    #[test]
    fn numbers_stringify_like_json_stringify() {
        assert_eq!(json_number(5.0), "5");
        assert_eq!(json_number(-0.0), "0");
        assert_eq!(json_number(-12.0), "-12");
        assert_eq!(json_number(2.5), "2.5");
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(f64::INFINITY), "null");
    }
}
