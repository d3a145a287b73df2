//! A module's exports, found and type-checked once per module instead of at every call.
//!
//! The bindings wasmtime generates (`Extension`) look up and type-check every export of the
//! world each time an instance is made: ~40 functions whose records are compared field by
//! field, a third of a trivial call's CPU (BENCHMARKS.md, "Per-call overhead"). A call uses
//! one export. So a call instantiates the bare component and [`Linked::func`] finds only the
//! export it calls, by an index computed once per module, and types it without checking again:
//! the first call of each export with each Rust signature checks it in full (the check the
//! bindings would do), and the component's types cannot change between its instances.

use std::sync::OnceLock;

use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower, TypedFunc,
};
use wasmtime::{AsContextMut, Store};

use super::bindings::{ExtensionIndices, ExtensionPre, FnError, FunctionId};
use super::call::CallState;

/// The world's package, as its interfaces are exported.
const PACKAGE: &str = "integrator:extension";
/// Its version.
const VERSION: &str = "0.1.0";

/// `plugin.invoke`'s and `plugin-bytes.invoke`'s parameters.
pub type InvokeParams<'a> = (&'a FunctionId, &'a str);
/// `plugin.invoke`'s results: JSON text.
pub type InvokeResults = (Result<Option<String>, FnError>,);
/// `plugin-bytes.invoke`'s results: JSON as UTF-8 bytes.
pub type InvokeBytesResults = (Result<Option<Vec<u8>>, FnError>,);

/// Every exported function a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "each is the WIT function of the same name")]
pub enum ExportFn {
    Manifest,
    Invoke,
    PreSavePage,
    PreMap,
    PostMap,
    PostSubmit,
    PostResponseMap,
    PostAggregate,
    Ping,
    Export,
    Import,
    Step,
    FormInit,
    PreSave,
    InitChild,
    Update,
    ChangeEdition,
    ResponseScript,
    /// `plugin-bytes.invoke`: optional (see [`ExportFn::optional`]).
    InvokeBytes,
}

impl ExportFn {
    /// Every export, in declaration order (the index of each in [`Linked`]'s tables).
    pub const ALL: [ExportFn; 19] = [
        ExportFn::Manifest,
        ExportFn::Invoke,
        ExportFn::PreSavePage,
        ExportFn::PreMap,
        ExportFn::PostMap,
        ExportFn::PostSubmit,
        ExportFn::PostResponseMap,
        ExportFn::PostAggregate,
        ExportFn::Ping,
        ExportFn::Export,
        ExportFn::Import,
        ExportFn::Step,
        ExportFn::FormInit,
        ExportFn::PreSave,
        ExportFn::InitChild,
        ExportFn::Update,
        ExportFn::ChangeEdition,
        ExportFn::ResponseScript,
        ExportFn::InvokeBytes,
    ];

    /// Exports outside the `extension` world that a component may add: `plugin-bytes` (the
    /// `extension-bytes` world, which the JavaScript SDK builds) answers `plugin.invoke`'s
    /// calls with the result as bytes.
    pub fn optional(self) -> bool {
        self == ExportFn::InvokeBytes
    }

    /// (interface, function) as the WIT names them.
    pub fn wit_name(self) -> (&'static str, &'static str) {
        match self {
            ExportFn::Manifest => ("plugin", "manifest"),
            ExportFn::Invoke => ("plugin", "invoke"),
            ExportFn::PreSavePage => ("hooks", "pre-save-page"),
            ExportFn::PreMap => ("hooks", "pre-map"),
            ExportFn::PostMap => ("hooks", "post-map"),
            ExportFn::PostSubmit => ("hooks", "post-submit"),
            ExportFn::PostResponseMap => ("hooks", "post-response-map"),
            ExportFn::PostAggregate => ("hooks", "post-aggregate"),
            ExportFn::Ping => ("wrappers", "ping"),
            ExportFn::Export => ("wrappers", "export"),
            ExportFn::Import => ("wrappers", "import"),
            ExportFn::Step => ("lifecycle", "step"),
            ExportFn::FormInit => ("lifecycle", "form-init"),
            ExportFn::PreSave => ("lifecycle", "pre-save"),
            ExportFn::InitChild => ("lifecycle", "init-child"),
            ExportFn::Update => ("lifecycle", "update"),
            ExportFn::ChangeEdition => ("lifecycle", "change-edition"),
            ExportFn::ResponseScript => ("scripts", "response-script"),
            ExportFn::InvokeBytes => ("plugin-bytes", "invoke"),
        }
    }
}

/// A component linked with the host, and where its exports are.
pub struct Linked {
    /// The generated bindings' pre-instance: validates the world's exports when built, and
    /// type-checks them all on [`Linked::check`].
    pub pre: ExtensionPre<CallState>,
    /// Where each export is; `None` for an optional export the component does not have.
    indices: Vec<Option<ComponentExportIndex>>,
    /// For each export, the Rust signature (type name) it was checked against first.
    checked: Vec<OnceLock<&'static str>>,
}

impl Linked {
    /// Finds every export's index (an error names a missing one that is not optional).
    pub fn new(pre: ExtensionPre<CallState>) -> anyhow::Result<Self> {
        let component = pre.instance_pre().component();
        let mut indices = Vec::with_capacity(ExportFn::ALL.len());
        for export in ExportFn::ALL {
            let (interface, name) = export.wit_name();
            let instance = format!("{PACKAGE}/{interface}@{VERSION}");
            let index = component
                .get_export_index(None, &instance)
                .and_then(|i| component.get_export_index(Some(&i), name));
            anyhow::ensure!(
                index.is_some() || export.optional(),
                "the component does not export {instance}#{name}"
            );
            indices.push(index);
        }
        Ok(Self {
            pre,
            checked: ExportFn::ALL.iter().map(|_| OnceLock::new()).collect(),
            indices,
        })
    }

    /// The pre-instance to instantiate.
    pub fn instance_pre(&self) -> &InstancePre<CallState> {
        self.pre.instance_pre()
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &wasmtime::Engine {
        self.pre.engine()
    }

    /// Whether the component has `export` (only an optional one can be missing).
    pub fn has(&self, export: ExportFn) -> bool {
        self.indices[export as usize].is_some()
    }

    /// Type-checks every export of `instance` against the whole world, as the generated
    /// bindings do, and the optional exports it has (run once, when the module loads).
    pub fn check(&self, store: &mut Store<CallState>, instance: &Instance) -> anyhow::Result<()> {
        ExtensionIndices::new(self.pre.instance_pre())
            .and_then(|indices| indices.load(&mut *store, instance))
            .map_err(anyhow::Error::from)?;
        if self.has(ExportFn::InvokeBytes) {
            self.func::<InvokeParams<'_>, InvokeBytesResults>(
                store,
                instance,
                ExportFn::InvokeBytes,
            )
            .map_err(|err| anyhow::anyhow!("plugin-bytes.invoke: {err}"))?;
        }
        Ok(())
    }

    /// `export` of `instance`, typed as `Params -> Results`: checked in full the first time
    /// this signature is used with this module, then taken as checked (no lock per call).
    pub fn func<Params, Results>(
        &self,
        mut store: impl AsContextMut<Data = CallState>,
        instance: &Instance,
        export: ExportFn,
    ) -> wasmtime::Result<TypedFunc<Params, Results>>
    where
        Params: ComponentNamedList + Lower,
        Results: ComponentNamedList + Lift,
    {
        let at = export as usize;
        let func = self.indices[at]
            .and_then(|index| instance.get_func(&mut store, index))
            .ok_or_else(|| wasmtime::format_err!("export {export:?} is missing"))?;
        let signature = std::any::type_name::<(Params, Results)>();
        if self.checked[at].get() == Some(&signature) {
            // SAFETY: `func` is this module's `export` (the index was found in this component)
            // and was type-checked against exactly this signature by an earlier call: the
            // types of a component's exports are the same in all of its instances.
            #[allow(unsafe_code)]
            return Ok(unsafe { TypedFunc::new_unchecked(func) });
        }
        // A signature other than the first recorded one is checked at every call.
        let typed = func.typed::<Params, Results>(&store)?;
        let _ = self.checked[at].set(signature);
        Ok(typed)
    }
}
