//! A JSON object read field by field without re-parsing: each field stays a slice of the
//! request body (`RawValue`) until a typed WIT field takes it. What no typed field takes
//! becomes `context.extra`, in the order the platform sent it.
//!
//! Parsing is linear in the text whatever the key count: keys are indexed in a hash map, so
//! a body of 80,000 distinct keys (which an unauthenticated client can send: the token may sit
//! in the body) costs one pass, not a scan of every earlier key per key.

use std::collections::HashMap;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::json_string;
use crate::runtime::bindings::Context;

/// The fields of a JSON object, in order; a repeated key keeps its first position and its last
/// value (as `JSON.parse` does).
pub struct Fields<'a> {
    entries: Vec<(String, &'a RawValue, bool)>,
    index: HashMap<String, usize>,
}

struct Entries<'a> {
    entries: Vec<(String, &'a RawValue)>,
    index: HashMap<String, usize>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries: Vec<(String, &'de RawValue)> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    match index.get(&key) {
                        Some(&i) => entries[i].1 = value,
                        None => {
                            index.insert(key.clone(), entries.len());
                            entries.push((key, value));
                        }
                    }
                }
                Ok(Entries { entries, index })
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'a> Fields<'a> {
    /// The fields of `raw`, or `None` if it is not a JSON object.
    pub fn of(raw: &'a RawValue) -> Option<Self> {
        Self::parse(raw.get()).ok()
    }

    /// Parses a JSON object text in one pass (validating all of it, keeping each value as a
    /// slice of `text`).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let Entries { entries, index } = serde_json::from_str(text)?;
        Ok(Self {
            entries: entries.into_iter().map(|(k, v)| (k, v, false)).collect(),
            index,
        })
    }

    /// The raw value of `key`, not marking it taken.
    pub fn peek(&self, key: &str) -> Option<&'a RawValue> {
        self.index.get(key).map(|&i| self.entries[i].1)
    }

    /// Takes `key` if `convert` accepts its raw value; a value that does not fit stays for
    /// `extra`, so nothing is lost.
    fn take<T>(&mut self, key: &str, convert: impl FnOnce(&'a RawValue) -> Option<T>) -> Option<T> {
        let &i = self.index.get(key)?;
        let entry = self.entries.get_mut(i).filter(|(_, _, taken)| !taken)?;
        let value = convert(entry.1)?;
        entry.2 = true;
        Some(value)
    }

    /// A string field.
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.take(key, |raw| serde_json::from_str::<String>(raw.get()).ok())
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.take(key, |raw| serde_json::from_str::<bool>(raw.get()).ok())
    }

    /// A non-negative integer field.
    pub fn u64(&mut self, key: &str) -> Option<u64> {
        self.take(key, |raw| serde_json::from_str::<u64>(raw.get()).ok())
    }

    /// Any JSON value, as its text.
    pub fn json(&mut self, key: &str) -> Option<String> {
        self.take(key, |raw| Some(raw.get().to_string()))
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
        for (key, value, _) in self.entries.iter().filter(|(_, _, taken)| !taken) {
            if extra.len() > 1 {
                extra.push(',');
            }
            extra.push_str(&json_string(key));
            extra.push(':');
            extra.push_str(value.get());
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
        let fields = Fields::parse(&text).unwrap();
        assert_eq!(fields.entries.len(), 80_000);
        assert_eq!(fields.peek("k0").unwrap().get(), "\"last\"");
        assert_eq!(fields.peek("k79999").unwrap().get(), "79999");
    }

    proptest::proptest! {
        /// Whatever the keys (repeated or not) and values, the fields read as `JSON.parse`
        /// (serde_json with preserved order) reads the object: first position, last value.
        #[test]
        fn fields_agree_with_a_full_parse(
            pairs in proptest::collection::vec(("[a-e]{0,2}", any_json()), 0..40)
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
            let fields = Fields::parse(&text).unwrap();
            for (key, value) in &expected {
                let raw = fields.peek(key).unwrap();
                proptest::prop_assert_eq!(
                    &serde_json::from_str::<serde_json::Value>(raw.get()).unwrap(), value
                );
            }
            // No generated key is a typed context field, so every field reaches `extra`.
            let extra: serde_json::Value = serde_json::from_str(&fields.context().extra).unwrap();
            proptest::prop_assert_eq!(extra, serde_json::Value::Object(expected));
        }

        /// Arbitrary text never panics the parser: it is an object's fields or an error.
        #[test]
        fn arbitrary_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
            let _ = Fields::parse(&text);
        }
    }

    #[test]
    fn non_objects_have_no_fields() {
        assert!(Fields::of(&raw("[1,2]")).is_none());
        assert!(Fields::of(&raw("\"x\"")).is_none());
    }
}
