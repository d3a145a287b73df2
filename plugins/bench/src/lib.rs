//! The benchmark workload (BENCHMARKS.md), served as diy, group hooks. The same three functions
//! exist in JavaScript for the Node reference (`benchmarks/node/functions.js`) and natively in
//! Rust for the ceiling (`benchmarks/src/bin/native-ceiling.rs`).
use extension_sdk::prelude::*;

/// Each record with its `name` upper-cased and `processed: true` added.
fn pre_map_upper(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
    Ok(options
        .data
        .into_iter()
        .map(|mut record| {
            if let Some(obj) = record.as_object_mut() {
                if let Some(Value::String(name)) = obj.get_mut("name") {
                    *name = name.to_uppercase();
                }
                obj.insert("processed".into(), Value::Bool(true));
            }
            MapResult::data(record)
        })
        .collect())
}

/// The only field `echo` reads; the records stay raw JSON text, never parsed into values.
#[derive(serde::Deserialize)]
struct EchoOptions {
    data: Option<Box<serde_json::value::RawValue>>,
}

/// `options.data`, unchanged (as text: no parse, no re-serialisation).
fn echo(options: EchoOptions) -> FnResult<RawJson> {
    Ok(RawJson(options.data.map_or_else(
        || "null".to_string(),
        |d| d.get().to_string(),
    )))
}

/// `responseData` with each element's `id` prefixed `ok-`.
fn post_submit_ids(options: PostSubmitOptions) -> FnResult<Vec<Value>> {
    let mut responses = options.response_data;
    for response in &mut responses {
        if let Some(Value::String(id)) = response.get_mut("id") {
            id.insert_str(0, "ok-");
        }
    }
    Ok(responses)
}

fn register(plugin: &mut Plugin) {
    plugin
        .hook("preMapUpper", pre_map(pre_map_upper))
        .hook("echo", json(echo))
        .hook("postSubmitIds", post_submit(post_submit_ids));
}

extension_sdk::plugin!(register);
