//! A loaded plugin: a compiled, pre-linked, validated [`Module`] (shared by every id that holds
//! the same bytes) under an id, with that id's limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::compile::Compiler;
use crate::egress::{NetworkPolicy, ResponseScripts};
use crate::runtime::bindings::{Boundary, ExtensionPre, FunctionInfo, Group, Kind};
use crate::runtime::exports::{ExportFn, Linked};
use crate::runtime::limits::INSTANTIATE_TIMEOUT_MS;
use crate::runtime::share::Share;
use crate::runtime::{Call, Grants, Limits, Runtime, Tags};

/// A group's key: `None` for the module root, else the group's name (`hooks`, `wrappers`, …).
pub type GroupKey = Option<String>;

/// The key of a manifest group.
pub fn group_key(group: &Group) -> GroupKey {
    Some(
        match group {
            Group::Root => return None,
            Group::Hooks => "hooks",
            Group::Wrappers => "wrappers",
            Group::Installer => "installer",
            Group::Uninstaller => "uninstaller",
            Group::Settings => "settings",
            Group::Utilities => "utilities",
            Group::Other(name) => name,
        }
        .to_string(),
    )
}

/// Where a module's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Compiled from the `.wasm` now.
    Compiled,
    /// Read from the on-disk compile cache.
    Cache,
    /// Read from the operator's precompiled artifacts (`extension-host compile`).
    Precompiled,
}

/// A compiled, linked and validated component, identified by the SHA-256 of its bytes.
pub struct Module {
    /// SHA-256 of the `.wasm` bytes, hex.
    pub hash: String,
    /// Size of the `.wasm` in bytes.
    pub size: u64,
    /// The component, pre-linked: each call instantiates it afresh.
    pub pre: Arc<Linked>,
    /// The manifest, as the plugin declared it.
    pub manifest: Vec<FunctionInfo>,
    /// Where the compiled code came from.
    pub source: Source,
    /// Group → function name → index into `manifest`.
    functions: HashMap<GroupKey, HashMap<String, usize>>,
}

impl Module {
    /// Compiles (or reads from `cache`) and links `bytes`, then reads and validates the
    /// manifest by instantiating it once under `limits`.
    pub async fn load(
        runtime: &Runtime,
        id: &str,
        bytes: Vec<u8>,
        hash: String,
        limits: &Limits,
        compiler: &Compiler,
    ) -> anyhow::Result<Self> {
        let size = bytes.len() as u64;
        let (component, source) = compiler.component(&runtime.engine, &hash, bytes).await?;
        let instance_pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this host does not provide")?;
        let pre = ExtensionPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .and_then(Linked::new)
            .map(Arc::new)
            .context(
                "the component does not implement the integrator:extension world \
             (manifest, hooks, wrappers, lifecycle)",
            )?;

        let tags = Tags {
            connector: id.into(),
            request_id: "load".into(),
        };
        // Loading has its own deadline, whatever the connector's call limits say, and it
        // covers host calls too: a module that sleeps at load is refused, not waited for.
        let load_limits = Limits {
            timeout_ms: INSTANTIATE_TIMEOUT_MS,
            ..limits.clone()
        };
        // No network at load: the manifest is data, not a conversation.
        let mut call = runtime
            .start(&pre, &load_limits, tags, Grants::default())
            .await
            .context("instantiating the plugin")?;
        call.check_exports().context(
            "the component's exports do not have the integrator:extension world's types",
        )?;
        let manifest = call
            .within_deadline(async |call: &mut Call| {
                let result = call
                    .call_export::<(), (Vec<FunctionInfo>,)>(ExportFn::Manifest, ())
                    .await
                    .map(|(manifest,)| manifest);
                call.finish(result)
            })
            .await
            .context("reading the plugin's manifest")?;
        let functions = index(&manifest)?;
        // Only a module that validated is worth caching.
        compiler.keep(&hash, &component, source);
        Ok(Self {
            hash,
            size,
            pre,
            manifest,
            source,
            functions,
        })
    }
}

/// A plugin serving calls under an id.
pub struct Plugin {
    /// `diy` or the `_connectorId`.
    pub id: Arc<str>,
    /// The `.wasm` file it was loaded from.
    pub file: PathBuf,
    /// The compiled module.
    pub module: Arc<Module>,
    /// The limits every call to this plugin runs under.
    pub limits: Limits,
    /// This connector's share of the instances.
    pub share: Share,
    /// Where its guests may send requests.
    pub network: Arc<NetworkPolicy>,
    /// Its integration-step settings (token, callback hosts, answer budget).
    pub steps: Arc<crate::steps::StepPolicy>,
    /// Its response scripts (`[[response_scripts]]`).
    pub scripts: Arc<ResponseScripts>,
    /// The settings file's text when it was loaded (to notice changes).
    pub settings: Option<String>,
    /// When this version started serving.
    pub loaded_at: SystemTime,
}

impl Plugin {
    /// The component, pre-linked.
    pub fn pre(&self) -> &Arc<Linked> {
        &self.module.pre
    }

    /// What a call of this plugin is granted: its share of instances, its network policy.
    pub fn grants(&self) -> Grants<'_> {
        Grants {
            share: Some(&self.share),
            network: Some(self.network.clone()),
            scripts: None,
        }
    }

    /// Whether the module has this group (the root always exists).
    pub fn has_group(&self, group: &GroupKey) -> bool {
        group.is_none() || self.module.functions.contains_key(group)
    }

    /// The manifest entry of `name` in `group`, if the plugin has it.
    pub fn function(&self, group: &GroupKey, name: &str) -> Option<&FunctionInfo> {
        self.module.function(group, name)
    }
}

impl Module {
    /// The manifest entry of `name` in `group`, if the module has it.
    pub fn function(&self, group: &GroupKey, name: &str) -> Option<&FunctionInfo> {
        let index = *self.functions.get(group)?.get(name)?;
        self.manifest.get(index)
    }

    /// Checks that `scripts` name functions this module has, of the kinds they need: a
    /// `responseScript` to judge, a free-form (`json`) function to re-authenticate.
    pub fn check_scripts(&self, scripts: &ResponseScripts) -> anyhow::Result<()> {
        for (i, rule) in scripts.rules().iter().enumerate() {
            let needs = [(Some(&rule.script), Kind::ResponseScript, "function")]
                .into_iter()
                .chain([(rule.reauthenticate.as_ref(), Kind::Json, "reauthenticate")]);
            for (function, kind, key) in needs {
                let Some(function) = function else { continue };
                let group = function.group.as_deref().unwrap_or("the module root");
                let Some(info) = self.function(&function.group, &function.name) else {
                    bail!(
                        "response_scripts[{i}].{key}: the module has no function {:?} in {group}",
                        function.name
                    );
                };
                if info.kind != kind {
                    bail!(
                        "response_scripts[{i}].{key}: {:?} is a {} function; it must be {}",
                        function.name,
                        crate::marshal::kind_name(info.kind),
                        crate::marshal::kind_name(kind)
                    );
                }
            }
        }
        Ok(())
    }
}

fn index(manifest: &[FunctionInfo]) -> anyhow::Result<HashMap<GroupKey, HashMap<String, usize>>> {
    let mut functions: HashMap<GroupKey, HashMap<String, usize>> = HashMap::new();
    for (i, f) in manifest.iter().enumerate() {
        if f.name.is_empty() {
            bail!("the manifest lists a function with an empty name");
        }
        if f.kind == Kind::Json && f.boundary == Boundary::Typed {
            bail!(
                "the manifest lists free-form function {:?} with the typed boundary; kind json has no typed export",
                f.name
            );
        }
        let key = group_key(&f.group);
        if key.as_deref() == Some("") {
            bail!(
                "the manifest lists function {:?} in a group with an empty name",
                f.name
            );
        }
        if functions
            .entry(key.clone())
            .or_default()
            .insert(f.name.clone(), i)
            .is_some()
        {
            bail!(
                "the manifest lists function {:?} twice in group {:?}",
                f.name,
                key
            );
        }
    }
    Ok(functions)
}
