//! Nested calls: a function of a plugin run in a fresh instance of the same module while one
//! of its calls waits in a host call (a response script judging the call's outbound response,
//! a re-authentication). See `egress::scripts`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;

use crate::dispatch::Target;
use crate::egress::ScriptHook;
use crate::egress::scripts::{FunctionRef, NestedCalls, Verdict};
use crate::error::{ApiError, SandboxError};
use crate::marshal;
use crate::registry::Plugin;
use crate::runtime::{Call, Limits, Runtime, Tags};

/// The nested calls of one call of `plugin`.
struct PluginCalls {
    runtime: Arc<Runtime>,
    plugin: Arc<Plugin>,
    tags: Tags,
    limits: Limits,
    /// The calling call's deadline: a nested call never outlives it.
    deadline: Instant,
}

/// The hook that applies `plugin`'s response scripts to one of its calls (none when it has
/// no scripts). `limits` are the call's, `deadline` when it ends.
pub fn script_hook(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    tags: &Tags,
    limits: &Limits,
    deadline: Instant,
) -> Option<ScriptHook> {
    if plugin.scripts.is_empty() {
        return None;
    }
    Some(ScriptHook {
        scripts: plugin.scripts.clone(),
        calls: Arc::new(PluginCalls {
            runtime: runtime.clone(),
            plugin: plugin.clone(),
            tags: tags.clone(),
            limits: limits.clone(),
            deadline,
        }),
        verdict: Arc::new(Verdict::default()),
        resent: Default::default(),
    })
}

impl NestedCalls for PluginCalls {
    fn call(
        &self,
        function: &FunctionRef,
        options: String,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, ApiError>> + Send>> {
        let (runtime, plugin, tags) =
            (self.runtime.clone(), self.plugin.clone(), self.tags.clone());
        let function = function.clone();
        let mut limits = self.limits.clone();
        let left = self.deadline.saturating_duration_since(Instant::now());
        limits.timeout_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        Box::pin(async move {
            let info = plugin
                .function(&function.group, &function.name)
                .ok_or(ApiError::InvalidFunction)?;
            let target = Target {
                plugin: plugin.clone(),
                group: info.group.clone(),
                name: function.name.clone(),
                kind: info.kind,
                boundary: info.boundary,
            };
            let options = RawValue::from_string(options).map_err(|err| {
                ApiError::Sandbox(SandboxError::Unavailable {
                    message: format!("the nested call's options: {err}"),
                })
            })?;
            let mut call = runtime
                .start_nested(plugin.pre(), &limits, tags, plugin.network.clone())
                .await?;
            call.within_deadline(async |call: &mut Call| {
                marshal::invoke(call, &target, &options).await
            })
            .await
        })
    }
}
