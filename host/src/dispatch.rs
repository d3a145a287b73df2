//! From a request envelope to the function to call: `(diy | _connectorId, type, function)` →
//! plugin + manifest entry, with the original's validation order and messages.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::envelope::Envelope;
use crate::error::{ApiError, Violation};
use crate::js;
use crate::registry::{Plugin, Snapshot};
use crate::runtime::bindings::{Boundary, Group, Kind};

/// The function a request resolved to.
pub struct Target {
    /// The plugin serving it.
    pub plugin: Arc<Plugin>,
    /// Its group, as the manifest declared it.
    pub group: Group,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// How its options and result cross into the guest.
    pub boundary: Boundary,
}

/// `type` → group name, as the original's `getObjectName`.
pub fn group_name(ty: &Value) -> String {
    match ty.as_str() {
        Some("hook") => "hooks".into(),
        Some("wrapper") => "wrappers".into(),
        Some("setting") => "settings".into(),
        Some("utility") => "utilities".into(),
        _ => js::to_js_string(ty),
    }
}

/// The plugin id the envelope asks for (`diy` or its `_connectorId`), as [`resolve`] reads it.
pub fn requested_id(envelope: &Envelope<'_>) -> Option<String> {
    if js::truthy(envelope.value("diy").as_ref()) {
        return Some("diy".into());
    }
    envelope
        .value("_connectorId")
        .filter(|v| js::truthy(Some(v)))
        .map(|id| js::to_js_string(&id))
}

/// Validates the envelope and finds the function. Validation collects every violation that
/// applies, in the original's order; group and function lookups follow.
pub fn resolve<'a>(
    snapshot: &Snapshot,
    envelope: &Envelope<'a>,
) -> Result<(Target, &'a RawValue), ApiError> {
    let mut violations = Vec::new();
    let diy = envelope.value("diy");
    let connector_id = envelope.value("_connectorId");
    let plugin = if js::truthy(diy.as_ref()) {
        let plugin = snapshot.diy.clone();
        if plugin.is_none() {
            violations.push(Violation::DiyNotConfigured);
        }
        plugin
    } else if let Some(id) = connector_id.as_ref().filter(|v| js::truthy(Some(v))) {
        // A plain map lookup: unlike the original's object property lookup, names such as
        // "constructor" or "toString" match nothing.
        let plugin = snapshot.connectors.get(&js::to_js_string(id)).cloned();
        if plugin.is_none() {
            violations.push(Violation::UnknownConnector);
        }
        plugin
    } else {
        violations.push(Violation::MissingDiyOrConnector);
        None
    };

    let function = envelope.value("function");
    let name = match &function {
        f if !js::truthy(f.as_ref()) => {
            violations.push(Violation::MissingFunction);
            None
        }
        Some(Value::String(name)) => Some(name.clone()),
        _ => {
            violations.push(Violation::FunctionNotString);
            None
        }
    };

    let options = envelope.raw("options");
    if !js::raw_truthy(options) {
        violations.push(Violation::MissingOptions);
    }

    let (Some(plugin), Some(name), Some(options), true) =
        (plugin, name, options, violations.is_empty())
    else {
        return Err(ApiError::Invalid(violations));
    };

    let ty = envelope.value("type");
    let group = match ty.as_ref().filter(|t| js::truthy(Some(t))) {
        Some(ty) => {
            let key = Some(group_name(ty));
            if !plugin.has_group(&key) {
                return Err(ApiError::ObjectNotFound(js::to_js_string(ty)));
            }
            key
        }
        None => None,
    };
    let info = plugin
        .function(&group, &name)
        .ok_or(ApiError::InvalidFunction)?;
    let (group, kind, boundary) = (info.group.clone(), info.kind, info.boundary);
    Ok((
        Target {
            plugin,
            group,
            name,
            kind,
            boundary,
        },
        options,
    ))
}
