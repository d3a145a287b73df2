//! A JSON object read field by field without re-parsing: each field stays a slice of the
//! request body until a typed WIT field takes it. What no typed field takes becomes
//! `context.extra`, in the order the platform sent it.
//!
//! The body is validated once, when its envelope is read ([`RawFields::parse`]); `options`
//! is then taken apart by a scan of that validated text ([`Fields::of`], `valid_json`), not
//! parsed again. Both are linear in the text whatever the key count: keys are indexed in a
//! hash map, so a body of 80,000 distinct keys (which an unauthenticated client can send: the
//! token may sit in the body) costs one pass, not a scan of every earlier key per key.

use std::collections::HashMap;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::json_string;
use crate::runtime::bindings::Context;

/// An object's fields in order, indexed by key; a repeated key keeps its first position and
/// its last value (as `JSON.parse` does).
struct Indexed<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> Indexed<V> {
    fn new() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn insert(&mut self, key: String, value: V) {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let &i = self.index.get(key)?;
        Some(&mut self.entries[i].1)
    }
}

/// The top-level fields of a JSON object, each a validated slice of its text.
pub struct RawFields<'a>(Indexed<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Indexed::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    fields.insert(key, value);
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'a> RawFields<'a> {
    /// Parses a JSON object text in one pass, validating all of it.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The raw value of `key`.
    pub fn peek(&self, key: &str) -> Option<&'a RawValue> {
        self.0.get(key).copied()
    }
}

/// The fields of a function's `options`, taken one by one by the typed WIT fields. Every value
/// is a slice of text serde_json validated (what the `valid_json` scan requires).
pub struct Fields<'a> {
    fields: Indexed<(&'a str, bool)>,
}

impl<'a> Fields<'a> {
    /// The fields of `raw`, or `None` if it is not a JSON object (a scan, not a parse: `raw`
    /// is validated text).
    pub fn of(raw: &'a RawValue) -> Option<Self> {
        let mut fields = Indexed::new();
        for (key, value) in crate::valid_json::object_members(raw.get())? {
            fields.insert(key, (value, false));
        }
        Some(Self { fields })
    }

    /// The JSON text of `key`, not marking it taken.
    pub fn peek(&self, key: &str) -> Option<&'a str> {
        self.fields.get(key).map(|(value, _)| *value)
    }

    /// Takes `key` if `convert` accepts its raw value; a value that does not fit stays for
    /// `extra`, so nothing is lost.
    fn take<T>(&mut self, key: &str, convert: impl FnOnce(&'a str) -> Option<T>) -> Option<T> {
        let (value, taken) = self.fields.get_mut(key)?;
        if *taken {
            return None;
        }
        let converted = convert(value)?;
        *taken = true;
        Some(converted)
    }

    /// A string field.
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.take(key, |raw| serde_json::from_str::<String>(raw).ok())
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.take(key, |raw| serde_json::from_str::<bool>(raw).ok())
    }

    /// A non-negative integer field.
    pub fn u64(&mut self, key: &str) -> Option<u64> {
        self.take(key, |raw| serde_json::from_str::<u64>(raw).ok())
    }

    /// Any JSON value, as its text.
    pub fn json(&mut self, key: &str) -> Option<String> {
        self.take(key, |raw| Some(raw.to_string()))
    }

    /// An array, as the text of each element (split without a second validating parse).
    pub fn list(&mut self, key: &str) -> Option<Vec<String>> {
        self.take(key, |raw| {
            let items = crate::valid_json::array_elements(raw)?;
            Some(items.into_iter().map(str::to_string).collect())
        })
    }

    /// The common context; every field not taken so far goes to `extra`.
    pub fn context(mut self) -> Context {
        let bearer_token = self.string("bearerToken");
        let integration_id = self.string("_integrationId");
        let parent_integration_id = self.string("_parentIntegrationId");
        let flow_id = self.string("_flowId");
        let export_id = self.string("_exportId");
        let import_id = self.string("_importId");
        let connection_id = self.string("_connectionId");
        let settings = self.json("settings");
        let configuration = self.json("configuration");
        let mut extra = String::from("{");
        for (key, (value, _)) in self.fields.entries.iter().filter(|(_, (_, taken))| !taken) {
            if extra.len() > 1 {
                extra.push(',');
            }
            extra.push_str(&json_string(key));
            extra.push(':');
            extra.push_str(value);
        }
        extra.push('}');
        Context {
            bearer_token,
            integration_id,
            parent_integration_id,
            flow_id,
            export_id,
            import_id,
            connection_id,
            settings,
            configuration,
            extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::valid_json::any_json;

    fn raw(s: &str) -> Box<RawValue> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn untyped_and_mistyped_fields_reach_extra_in_order() {
        let options = raw(
            r#"{"zeta":1,"bearerToken":7,"data":[{"a":1}, [2]],"_flowId":"f1","alpha":{"x":null}}"#,
        );
        let mut fields = Fields::of(&options).unwrap();
        assert_eq!(
            fields.list("data").unwrap(),
            vec![r#"{"a":1}"#.to_string(), "[2]".to_string()]
        );
        let context = fields.context();
        assert_eq!(context.flow_id.as_deref(), Some("f1"));
        assert_eq!(context.bearer_token, None);
        assert_eq!(
            context.extra,
            r#"{"zeta":1,"bearerToken":7,"alpha":{"x":null}}"#
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let options = raw(r#"{"a":1,"b":2,"a":3}"#);
        let context = Fields::of(&options).unwrap().context();
        assert_eq!(context.extra, r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn eighty_thousand_distinct_keys_parse_and_resolve() {
        let mut text = String::from("{");
        for i in 0..80_000 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k0\":\"last\"}");
        let envelope = RawFields::parse(&text).unwrap();
        assert_eq!(envelope.0.entries.len(), 80_000);
        assert_eq!(envelope.peek("k0").unwrap().get(), "\"last\"");
        assert_eq!(envelope.peek("k79999").unwrap().get(), "79999");
        let options = raw(&text);
        let fields = Fields::of(&options).unwrap();
        assert_eq!(fields.fields.entries.len(), 80_000);
        assert_eq!(fields.peek("k0"), Some("\"last\""));
        assert_eq!(fields.peek("k79999"), Some("79999"));
    }

    proptest::proptest! {
        /// Whatever the keys (repeated or not) and values, the fields read as `JSON.parse`
        /// (serde_json with preserved order) reads the object: first position, last value.
        #[test]
        fn fields_agree_with_a_full_parse(
            pairs in proptest::collection::vec(("[a-e\"\\\\é]{0,2}", any_json()), 0..40)
        ) {
            let mut text = String::from("{");
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 { text.push(','); }
                text.push_str(&json_string(key));
                text.push(':');
                text.push_str(&value.to_string());
            }
            text.push('}');
            let expected: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap();
            let envelope = RawFields::parse(&text).unwrap();
            let options = raw(&text);
            let fields = Fields::of(&options).unwrap();
            for (key, value) in &expected {
                let parsed = envelope.peek(key).unwrap().get();
                let scanned = fields.peek(key).unwrap();
                proptest::prop_assert_eq!(parsed, scanned);
                proptest::prop_assert_eq!(
                    &serde_json::from_str::<serde_json::Value>(scanned).unwrap(), value
                );
            }
            // No generated key is a typed context field, so every field reaches `extra`.
            let extra: serde_json::Value = serde_json::from_str(&fields.context().extra).unwrap();
            proptest::prop_assert_eq!(extra, serde_json::Value::Object(expected));
        }

        /// Arbitrary text never panics the parser: it is an object's fields or an error.
        #[test]
        fn arbitrary_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
            let _ = RawFields::parse(&text);
        }
    }

    #[test]
    fn non_objects_have_no_fields() {
        assert!(Fields::of(&raw("[1,2]")).is_none());
        assert!(Fields::of(&raw("\"x\"")).is_none());
    }
}
