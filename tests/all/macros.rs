//! Assertions that print expected and actual side by side.

/// Asserts two JSON values are equal, printing both pretty when they are not.
#[macro_export]
macro_rules! eqjson {
    ($actual:expr, $expected:expr $(,)?) => {{
        let actual: serde_json::Value = $actual;
        let expected: serde_json::Value = $expected;
        if actual != expected {
            panic!(
                "JSON differs\n--- expected\n{}\n--- actual\n{}\n",
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&actual).unwrap()
            );
        }
    }};
}
