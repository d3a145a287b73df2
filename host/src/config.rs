//! Configuration: the command line (each flag also readable from the environment) and the
//! defaults it falls back to.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::runtime::Limits;
use crate::runtime::limits::{DEFAULT_FUEL, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_TIMEOUT_MS};

/// Concurrent instances (and so concurrent calls) the pooling allocator is sized for; further
/// calls wait for a slot.
pub const DEFAULT_MAX_INSTANCES: u32 = 128;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "extension-host",
    version,
    about = "Serve integrator.io extension functions compiled to WebAssembly"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the plugins of a directory over HTTP.
    Serve(ServeArgs),
}

/// `extension-host serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory holding `diy.wasm` or `<_connectorId>.wasm` modules.
    #[arg(long, env = "PLUGINS_DIR", default_value = "plugins-dir")]
    pub plugins: PathBuf,
    /// TCP port (the original's default is 80).
    #[arg(long, env = "PORT", default_value_t = 80)]
    pub port: u16,
    /// Address to bind (the original binds every interface).
    #[arg(long, env = "BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// The system token callers must present.
    #[arg(long, env = "SYSTEM_TOKEN", hide_env_values = true)]
    pub system_token: String,
    /// Concurrent plugin instances.
    #[arg(long, env = "MAX_INSTANCES", default_value_t = DEFAULT_MAX_INSTANCES)]
    pub max_instances: u32,
    /// Default fuel (CPU budget) per call.
    #[arg(long, env = "FUEL", default_value_t = DEFAULT_FUEL)]
    pub fuel: u64,
    /// Default wall-clock limit per call, in milliseconds.
    #[arg(long, env = "TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// Default linear-memory cap per call, in bytes.
    #[arg(long, env = "MAX_MEMORY_BYTES", default_value_t = DEFAULT_MAX_MEMORY_BYTES)]
    pub max_memory_bytes: u64,
}

/// Everything [`crate::serve`] needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The plugins directory.
    pub plugins_dir: PathBuf,
    /// The system token.
    pub system_token: String,
    /// Concurrent instances.
    pub max_instances: u32,
    /// Default limits of every call.
    pub limits: Limits,
}

impl ServeConfig {
    /// A configuration with default limits.
    pub fn new(plugins_dir: impl Into<PathBuf>, system_token: impl Into<String>) -> Self {
        Self {
            plugins_dir: plugins_dir.into(),
            system_token: system_token.into(),
            max_instances: DEFAULT_MAX_INSTANCES,
            limits: Limits::default(),
        }
    }
}

impl From<&ServeArgs> for ServeConfig {
    fn from(args: &ServeArgs) -> Self {
        Self {
            plugins_dir: args.plugins.clone(),
            system_token: args.system_token.clone(),
            max_instances: args.max_instances,
            limits: Limits {
                fuel: args.fuel,
                timeout_ms: args.timeout_ms,
                max_memory_bytes: args.max_memory_bytes,
                ..Limits::default()
            },
        }
    }
}
