//! Outbound network for guests: `wasi:http/outgoing-handler`, governed by the operator.
//!
//! Every plugin links wasi:http, and every request goes through [`send::Egress`], which
//! checks it against the plugin's [`policy::NetworkPolicy`] (the `[network]` table of its
//! settings file over the config file's). With no policy every request is denied. See
//! `send` for the order of decisions and `address` for what "not public" means.

pub mod address;
pub mod policy;
pub mod rate;
pub mod scripts;
pub mod send;
pub mod tls;

pub use policy::{NetworkPolicy, NetworkSettings};
pub use scripts::{ResponseScripts, ScriptHook};
pub use send::Egress;
