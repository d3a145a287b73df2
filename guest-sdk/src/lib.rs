//! The Rust SDK for integrator.io extension plugins.
//!
//! A plugin is plain functions over typed options. Register each one under its name and group
//! (its kind follows from its options type, see [`IntoFunction`]), then export the plugin
//! with [`plugin!`]:
//!
//! ```ignore
//! use extension_sdk::prelude::*;
//!
//! fn upper(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
//!     Ok(options.data.into_iter().map(MapResult::data).collect())
//! }
//!
//! fn register(plugin: &mut Plugin) {
//!     plugin.hook("upper", upper);
//! }
//!
//! extension_sdk::plugin!(register);
//! ```
//!
//! Layout:
//! - [`types`]: the options and results authors see (records as `serde_json::Value` or any
//!   serde type), [`FnError`] and [`FnResult`].
//! - [`registry`]: [`Plugin`] (name + group → function) and the constructors that give a
//!   function its kind ([`pre_map`], [`ping`], [`json`], …).
//! - `adapter`: converts between the WIT types and the author's types; implements the exports.
//! - [`log`]: write to the host log.
//! - [`http`]: outbound HTTP(S) requests (where the operator's network policy allows).
//! - [`bindings`]: the generated WIT bindings (from `../wit`, never copied).

#![deny(missing_docs)]

/// Bindings generated from the WIT package in `../wit`.
#[allow(missing_docs, unsafe_code, unreachable_pub)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "extension",
        pub_export_macro: true,
        export_macro_name: "__export_extension",
        default_bindings_module: "extension_sdk::bindings",
        generate_all,
    });
}

#[doc(hidden)]
pub mod adapter;
mod convert;
pub mod http;
pub mod log;
pub mod registry;
pub mod types;

pub use registry::*;
pub use types::*;

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::registry::*;
    pub use crate::types::*;
    pub use serde_json::{Map, Value, json};
}

/// Exports a plugin: `plugin!(register)` where `register: fn(&mut Plugin)` registers every
/// function of the module. Expands to the component exports; no other boilerplate is needed.
#[macro_export]
macro_rules! plugin {
    ($register:path) => {
        #[doc(hidden)]
        pub struct __ExtensionPlugin;
        impl $crate::adapter::Register for __ExtensionPlugin {
            fn register(plugin: &mut $crate::Plugin) {
                $register(plugin)
            }
        }
        #[doc(hidden)]
        type __ExtensionAdapter = $crate::adapter::Adapter<__ExtensionPlugin>;
        $crate::bindings::__export_extension!(__ExtensionAdapter with_types_in $crate::bindings);
    };
}
