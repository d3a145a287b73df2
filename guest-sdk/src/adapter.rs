//! Implements the component's exports on top of a [`Plugin`] table.
//!
//! [`crate::plugin!`] names `Adapter<YourPlugin>` as the type that implements every export; each
//! export looks the target function up and runs its handler. A request for a function that is
//! missing, or registered with another kind, is answered with an error rather than a trap.

use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::bindings::exports::integrator::extension::{
    hooks, lifecycle, plugin, scripts, wrappers,
};
use crate::bindings::integrator::extension::types::{
    Boundary, ErrorCode, FnError, FunctionId, FunctionInfo, Kind,
};
use crate::registry::{Function, Handler, Plugin};

/// Implemented by the type [`crate::plugin!`] defines: fills the function table.
pub trait Register {
    /// Registers every function of the plugin.
    fn register(plugin: &mut Plugin);
}

/// The type that implements the component's exports for a plugin `P`.
pub struct Adapter<P>(PhantomData<P>);

fn table<P: Register>() -> &'static Plugin {
    // One plugin per component, so one table; built on first use within an instance.
    static TABLE: OnceLock<Plugin> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut plugin = Plugin::default();
        P::register(&mut plugin);
        plugin
    })
}

fn not_found(target: &FunctionId) -> FnError {
    FnError {
        code: ErrorCode::Text("invalid_function".into()),
        message: format!(
            "The plugin has no function {:?} in group {:?}.",
            target.name, target.group
        ),
    }
}

fn wrong_kind(target: &FunctionId, kind: Kind) -> FnError {
    FnError {
        code: ErrorCode::Text("invalid_function".into()),
        message: format!("The plugin's function {:?} has kind {kind:?}.", target.name),
    }
}

macro_rules! dispatch {
    ($target:ident, $options:ident, $variant:ident) => {
        match table::<P>().find(&$target) {
            Some(Function {
                handler: Handler::$variant(handler),
                ..
            }) => handler($options),
            Some(function) => Err(wrong_kind(&$target, function.kind)),
            None => Err(not_found(&$target)),
        }
    };
}

impl<P: Register> plugin::Guest for Adapter<P> {
    fn manifest() -> Vec<FunctionInfo> {
        table::<P>()
            .entries
            .iter()
            .map(|e| FunctionInfo {
                name: e.name.clone(),
                group: e.group.clone(),
                kind: e.function.kind,
                // Rust guests take every typed kind as typed records; `json` is free-form.
                boundary: match e.function.kind {
                    Kind::Json => Boundary::Json,
                    _ => Boundary::Typed,
                },
            })
            .collect()
    }

    fn invoke(target: FunctionId, options: String) -> Result<Option<String>, FnError> {
        dispatch!(target, options, Json)
    }
}

impl<P: Register> hooks::Guest for Adapter<P> {
    fn pre_save_page(
        target: FunctionId,
        options: hooks::PreSavePageOptions,
    ) -> Result<hooks::PreSavePageResponse, FnError> {
        dispatch!(target, options, PreSavePage)
    }

    fn pre_map(
        target: FunctionId,
        options: hooks::PreMapOptions,
    ) -> Result<Vec<hooks::MapResult>, FnError> {
        dispatch!(target, options, PreMap)
    }

    fn post_map(
        target: FunctionId,
        options: hooks::PostMapOptions,
    ) -> Result<Vec<hooks::MapResult>, FnError> {
        dispatch!(target, options, PostMap)
    }

    fn post_submit(
        target: FunctionId,
        options: hooks::PostSubmitOptions,
    ) -> Result<Vec<String>, FnError> {
        dispatch!(target, options, PostSubmit)
    }

    fn post_response_map(
        target: FunctionId,
        options: hooks::PostResponseMapOptions,
    ) -> Result<Vec<String>, FnError> {
        dispatch!(target, options, PostResponseMap)
    }

    fn post_aggregate(
        target: FunctionId,
        options: hooks::PostAggregateOptions,
    ) -> Result<(), FnError> {
        dispatch!(target, options, PostAggregate)
    }
}

impl<P: Register> wrappers::Guest for Adapter<P> {
    fn ping(
        target: FunctionId,
        options: wrappers::PingOptions,
    ) -> Result<wrappers::PingResponse, FnError> {
        dispatch!(target, options, Ping)
    }

    fn export(
        target: FunctionId,
        options: wrappers::ExportOptions,
    ) -> Result<wrappers::ExportResponse, FnError> {
        dispatch!(target, options, Export)
    }

    fn import(
        target: FunctionId,
        options: wrappers::ImportOptions,
    ) -> Result<Vec<wrappers::ImportResponse>, FnError> {
        dispatch!(target, options, Import)
    }
}

impl<P: Register> lifecycle::Guest for Adapter<P> {
    fn step(
        target: FunctionId,
        options: lifecycle::StepOptions,
    ) -> Result<Option<String>, FnError> {
        dispatch!(target, options, Step)
    }

    fn form_init(
        target: FunctionId,
        options: lifecycle::FormInitOptions,
    ) -> Result<String, FnError> {
        dispatch!(target, options, FormInit)
    }

    fn pre_save(target: FunctionId, options: lifecycle::PreSaveOptions) -> Result<String, FnError> {
        dispatch!(target, options, PreSave)
    }

    fn init_child(
        target: FunctionId,
        options: lifecycle::InitChildOptions,
    ) -> Result<String, FnError> {
        dispatch!(target, options, InitChild)
    }

    fn update(
        target: FunctionId,
        options: lifecycle::UpdateOptions,
    ) -> Result<Option<String>, FnError> {
        dispatch!(target, options, Update)
    }

    fn change_edition(
        target: FunctionId,
        options: lifecycle::ChangeEditionOptions,
    ) -> Result<Option<String>, FnError> {
        dispatch!(target, options, ChangeEdition)
    }
}

impl<P: Register> scripts::Guest for Adapter<P> {
    fn response_script(
        target: FunctionId,
        options: scripts::ResponseScriptOptions,
    ) -> Result<scripts::ResponseScriptResult, FnError> {
        dispatch!(target, options, ResponseScript)
    }
}
