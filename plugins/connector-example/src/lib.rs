//! A connector's extension module: installer and uninstaller steps and settings functions.
//! Served as `<_connectorId>.wasm`.
use extension_sdk::prelude::*;

fn verify_connection(options: StepOptions) -> FnResult<Value> {
    if options.context.connection_id.is_none() {
        return Err(FnError::new(
            "missing_connection",
            "Select a connection before this step.",
        ));
    }
    Ok(json!({ "success": true, "stepCompleted": true }))
}

fn create_flows(options: StepOptions) -> FnResult<Value> {
    let edition = options
        .license
        .as_ref()
        .and_then(|l| l["edition"].as_str())
        .unwrap_or("standard");
    let flows = if edition == "premium" {
        vec!["orders", "customers", "inventory"]
    } else {
        vec!["orders"]
    };
    Ok(json!({ "success": true, "flowsCreated": flows }))
}

fn remove_flows(_options: StepOptions) -> FnResult<()> {
    Ok(())
}

/// Persists settings: validates them and answers what was saved.
fn persist_settings(options: Value) -> FnResult<Value> {
    let pending = options["pending"].as_object().cloned().unwrap_or_default();
    if let Some(bad) = pending.iter().find(|(_, v)| v.is_null()) {
        return Err(FnError::new(
            "invalid_setting",
            format!("The setting {} has no value.", bad.0),
        ));
    }
    Ok(json!({ "success": true, "saved": pending.len() }))
}

fn refresh_metadata(options: Value) -> FnResult<Value> {
    Ok(
        json!({ "fieldId": options["fieldId"], "options": [["us", "United States"], ["eu", "Europe"]] }),
    )
}

fn register(plugin: &mut Plugin) {
    plugin
        .installer("verifyConnection", step(verify_connection))
        .installer("createFlows", step(create_flows))
        .uninstaller("removeFlows", step(remove_flows))
        .setting("persistSettings", json(persist_settings))
        .setting("refreshMetadata", json(refresh_metadata));
}

extension_sdk::plugin!(register);
