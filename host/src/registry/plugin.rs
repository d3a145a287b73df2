//! One loaded plugin: its compiled component, pre-linked, and the manifest it declared.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::runtime::bindings::{ExtensionPre, FunctionInfo, Group};
use crate::runtime::{CallState, Limits, Runtime, Tags};

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

/// A plugin ready to serve calls.
pub struct Plugin {
    /// `diy` or the `_connectorId`.
    pub id: Arc<str>,
    /// SHA-256 of the `.wasm` file, hex.
    pub hash: String,
    /// Size of the `.wasm` file in bytes.
    pub size: u64,
    /// The component, pre-linked: each call instantiates it afresh.
    pub pre: ExtensionPre<CallState>,
    /// The manifest, as the plugin declared it.
    pub manifest: Vec<FunctionInfo>,
    /// Group → function name → index into `manifest`.
    functions: HashMap<GroupKey, HashMap<String, usize>>,
    /// The limits every call to this plugin runs under.
    pub limits: Limits,
}

impl Plugin {
    /// Compiles `path`, links it, and reads and validates its manifest.
    pub async fn load(
        runtime: &Runtime,
        id: &str,
        path: &Path,
        limits: Limits,
    ) -> anyhow::Result<Self> {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        let engine = runtime.engine.clone();
        // Compiling is CPU-heavy: keep it off the async workers that serve requests.
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await
            .context("the compile task failed")?
            .map_err(anyhow::Error::from)
            .context("not a valid WebAssembly component")?;
        let instance_pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this host does not provide")?;
        let pre = ExtensionPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .context("the component does not implement the integrator:extension world (manifest, hooks, wrappers, lifecycle)")?;

        let tags = Tags {
            connector: id.into(),
            request_id: "load".into(),
        };
        let mut call = runtime
            .start(&pre, &limits, tags)
            .await
            .context("instantiating the plugin")?;
        let result = call
            .bindings
            .integrator_extension_plugin()
            .call_manifest(&mut call.store)
            .await;
        let manifest = call
            .finish(result)
            .context("reading the plugin's manifest")?;
        let functions = index(&manifest)?;
        Ok(Self {
            id: id.into(),
            hash,
            size,
            pre,
            manifest,
            functions,
            limits,
        })
    }

    /// Whether the module has this group (the root always exists).
    pub fn has_group(&self, group: &GroupKey) -> bool {
        group.is_none() || self.functions.contains_key(group)
    }

    /// The manifest entry of `name` in `group`, if the plugin has it.
    pub fn function(&self, group: &GroupKey, name: &str) -> Option<&FunctionInfo> {
        self.functions
            .get(group)
            .and_then(|fns| fns.get(name))
            .map(|&i| &self.manifest[i])
    }
}

fn index(manifest: &[FunctionInfo]) -> anyhow::Result<HashMap<GroupKey, HashMap<String, usize>>> {
    let mut functions: HashMap<GroupKey, HashMap<String, usize>> = HashMap::new();
    for (i, f) in manifest.iter().enumerate() {
        if f.name.is_empty() {
            bail!("the manifest lists a function with an empty name");
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
