//! The starter plugin: a flat module (functions at the root, requests carry no `type`).
use extension_sdk::prelude::*;

fn greet(options: Value) -> FnResult<Value> {
    let name = options["name"].as_str().unwrap_or("world");
    Ok(json!({ "greeting": format!("Hello, {name}!") }))
}

fn register(plugin: &mut Plugin) {
    plugin.root("greet", json(greet));
}

extension_sdk::plugin!(register);
