//! Log output: one subscriber, installed by `main` only.

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber. `RUST_LOG` overrides the default filter.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("host=info,plugin=info,extension_host=info,wasmtime=warn,cranelift=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
