//! Splitting JSON text that is already known to be valid without validating it again.
//!
//! The request body is validated once, when its envelope is read; taking `options` apart into
//! its fields and a records list into one text per record then only needs to find where each
//! value ends: a byte scan for the structural characters, skipping strings with `memchr`,
//! several times faster than another validating parse (BENCHMARKS.md, "Per-call overhead").
//!
//! Every function here requires text serde_json validated (a `RawValue`'s, or a slice of one
//! these functions returned). On other text they return `None` or wrong slices, never panic.

/// The elements of an array's text, in order, or `None` if it is not an array.
pub(crate) fn array_elements(text: &str) -> Option<Vec<&str>> {
    let mut elements = Vec::new();
    each_entry(text, b'[', b']', |i| {
        let end = value_end(text.as_bytes(), i)?;
        elements.push(text.get(i..end)?);
        Some(end)
    })?;
    Some(elements)
}

/// The members of an object's text, in order (repeated keys included), each key decoded and
/// each value a slice of `text`; `None` if it is not an object.
pub(crate) fn object_members(text: &str) -> Option<Vec<(String, &str)>> {
    let bytes = text.as_bytes();
    let mut members = Vec::new();
    each_entry(text, b'{', b'}', |i| {
        let key_end = string_end(bytes, i)?;
        let key = decode_key(text.get(i..key_end)?)?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_whitespace(bytes, colon + 1);
        let end = value_end(bytes, start)?;
        members.push((key, text.get(start..end)?));
        Some(end)
    })?;
    Some(members)
}

/// Walks the comma-separated entries of the container `open … close` that `text` holds:
/// `entry` reads the entry starting at its argument and returns where it ends. `None` if
/// `text` does not open with `open` (or an entry fails).
fn each_entry(
    text: &str,
    open: u8,
    close: u8,
    mut entry: impl FnMut(usize) -> Option<usize>,
) -> Option<()> {
    let bytes = text.as_bytes();
    let mut i = skip_whitespace(bytes, 0);
    if bytes.get(i) != Some(&open) {
        return None;
    }
    i = skip_whitespace(bytes, i + 1);
    if bytes.get(i) == Some(&close) {
        return Some(());
    }
    loop {
        i = skip_whitespace(bytes, entry(i)?);
        match bytes.get(i)? {
            b',' => i = skip_whitespace(bytes, i + 1),
            _ => return Some(()),
        }
    }
}

/// A key's text (with its quotes) as the string it stands for.
fn decode_key(quoted: &str) -> Option<String> {
    if quoted.contains('\\') {
        serde_json::from_str(quoted).ok()
    } else {
        quoted.get(1..quoted.len() - 1).map(str::to_string)
    }
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Where the value starting at `start` ends (one past its last byte).
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        // A number, `true`, `false` or `null`: up to the next delimiter.
        _ => Some(
            bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(bytes.len(), |n| start + n),
        ),
    }
}

/// Where the string whose opening quote is at `start` ends (one past its closing quote).
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i + 1);
        }
        // A backslash escapes the next byte (`\"`, `\\`, `\u…` all continue the string).
        i += 2;
    }
}

/// Any JSON value, with the characters that matter to a scanner in its strings and keys
/// (quotes, backslashes, brackets, commas, control and non-ASCII characters).
#[cfg(test)]
pub(crate) fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "(\\PC|[\"\\\\\\]\\[{},\\n\\u{7f}])*".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-c\"\\]]{0,2}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_slices_of_the_text_whatever_the_spacing() {
        let text = r#" [ 1 ,"a,]\"" , {"k":[2,{"x":"}"}]},[] ,null, -1.5e3 ,true ] "#;
        assert_eq!(
            array_elements(text).unwrap(),
            vec![
                "1",
                r#""a,]\"""#,
                r#"{"k":[2,{"x":"}"}]}"#,
                "[]",
                "null",
                "-1.5e3",
                "true"
            ]
        );
        assert_eq!(array_elements("[]").unwrap(), Vec::<&str>::new());
        assert_eq!(array_elements(" [\n] ").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn members_are_decoded_keys_and_slices_of_the_text() {
        let text = r#" { "a" : [1,"}"] ,"b\"\u00e9":{"c":"\\"},"a": null } "#;
        assert_eq!(
            object_members(text).unwrap(),
            vec![
                ("a".to_string(), r#"[1,"}"]"#),
                ("b\"é".to_string(), r#"{"c":"\\"}"#),
                ("a".to_string(), "null"),
            ]
        );
        assert_eq!(object_members(" {\n} ").unwrap(), vec![]);
        for text in ["[]", "1", r#""{}""#, "null"] {
            assert_eq!(object_members(text), None, "{text}");
        }
    }

    #[test]
    fn non_arrays_have_no_elements() {
        for text in ["{}", r#"{"a":[1]}"#, r#""[1]""#, "1", "null", "true"] {
            assert_eq!(array_elements(text), None, "{text}");
        }
    }

    proptest::proptest! {
        /// Compact or pretty, the elements are exactly the texts a validating parse finds.
        #[test]
        fn elements_agree_with_a_validating_parse(
            items in proptest::collection::vec(any_json(), 0..8),
            pretty in proptest::bool::ANY,
        ) {
            let value = serde_json::Value::from(items);
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let expected: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
            let expected: Vec<&str> = expected.iter().map(|r| r.get()).collect();
            proptest::prop_assert_eq!(array_elements(&text).unwrap(), expected);
        }
    }
}
