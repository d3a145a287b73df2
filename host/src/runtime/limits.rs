//! Per-call limits: the one config struct, its defaults and why, the per-connector override
//! (same fields, all optional, unknown keys refused), and the store's resource limiter that
//! records which cap a guest hit.

use serde::{Deserialize, Serialize};

/// Fuel for one call: about 1–1.7 s of CPU in every guest language (measured fuel per
/// CPU-second: Rust 8.4 G, JavaScript ~10 G, Python ~6 G), so one default fits all of them.
/// A 1000-record hook uses 50 M (Rust) to 200 M (JavaScript): a CPU bound well above honest
/// work, far below "forever". The wall clock is the primary limit; fuel bounds CPU when a
/// guest is descheduled.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;
/// Wall-clock limit for one call. Integration hooks answer in milliseconds; 30 s leaves room
/// for big pages while keeping a runaway from holding a core for long.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Linear memory per instance. JS and Python guests need 16–32 MiB before any data; 256 MiB
/// leaves room for a 50 MB request parsed inside the guest.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Table elements per table. JS guests need ≥ 10k.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 20_000;
/// Largest response a plugin may produce, whatever `maxResponseSize` the caller sends: the
/// host holds a response in memory, so an operator bounds it. 64 MiB is above any realistic
/// page (the protocol's default `maxResponseSize` is 5 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest request body: the protocol's 50 MB (body-parser's `limit: '50mb'`).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 50 * 1024 * 1024;
/// Calls of one connector that may hold an instance at once. A tenant's fair share: with the
/// default 128 instances, eight connectors at their cap still leave room for the others; and
/// a connector never holds more than half the pool (`Runtime::share_of`), whatever this says.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u64 = 16;
/// Calls of one connector that may wait for an instance; more are refused at once with
/// `connector_busy` (429) rather than queue without bound.
pub const DEFAULT_MAX_QUEUED_CALLS: u64 = 64;
/// Time allowed for instantiation (JS and Python guests run start code), separate from the
/// call's own deadline so instantiation never eats the call's budget.
pub const INSTANTIATE_TIMEOUT_MS: u64 = 10_000;
/// Fuel allowed for instantiation, separate from the call's budget.
pub const INSTANTIATE_FUEL: u64 = 2_000_000_000;

macro_rules! limits {
    ($($(#[doc = $doc:literal])* $field:ident = $default:expr;)*) => {
        /// The limits of one call. Every field can be overridden per connector.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Limits {
            $($(#[doc = $doc])* pub $field: u64,)*
        }

        impl Default for Limits {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        /// Overrides of some limits (a settings file, the command line, the environment);
        /// unset fields keep the value they are applied to.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct LimitOverrides {
            $($(#[doc = $doc])* #[arg(long, env)] pub $field: Option<u64>,)*
        }

        impl Limits {
            /// These limits with `overrides` applied.
            pub fn with(&self, overrides: &LimitOverrides) -> Self {
                Self { $($field: overrides.$field.unwrap_or(self.$field),)* }
            }
        }
    };
}

limits! {
    /// CPU budget in fuel units (≈ wasm instructions).
    fuel = DEFAULT_FUEL;
    /// Wall-clock deadline in milliseconds.
    timeout_ms = DEFAULT_TIMEOUT_MS;
    /// Linear-memory cap in bytes.
    max_memory_bytes = DEFAULT_MAX_MEMORY_BYTES;
    /// Table-elements cap.
    max_table_elements = DEFAULT_MAX_TABLE_ELEMENTS;
    /// Response-size cap in bytes, on top of the request's `maxResponseSize`.
    max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES;
    /// Request-body cap in bytes (never above the protocol's 50 MB).
    max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
    /// Calls of this connector running at once (its share of the instances).
    max_concurrent_calls = DEFAULT_MAX_CONCURRENT_CALLS;
    /// Calls of this connector waiting for an instance before new ones are refused.
    max_queued_calls = DEFAULT_MAX_QUEUED_CALLS;
}

/// The settings file beside a module (`<id>.toml`, `diy.toml`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// Limit overrides for this module's calls.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Egress policy overrides for this module's calls.
    #[serde(default)]
    pub network: crate::egress::NetworkSettings,
    /// Integration-step settings (`POST /steps/…`).
    #[serde(default)]
    pub steps: crate::steps::StepSettings,
    /// Response scripts applied to this module's outbound responses.
    #[serde(default)]
    pub response_scripts: Vec<crate::egress::scripts::ResponseScriptSettings>,
}

/// The store's limiter: enforces the caps and remembers the first refusal so the outcome is
/// reported as a memory-limit hit rather than as the guest's generic abort.
#[derive(Debug)]
pub struct Limiter {
    max_memory_bytes: u64,
    max_table_elements: u64,
    /// Set when a memory growth was refused: (limit, requested).
    pub memory_denied: Option<(u64, u64)>,
}

impl Limiter {
    /// A limiter for the given limits.
    pub fn new(limits: &Limits) -> Self {
        Self {
            max_memory_bytes: limits.max_memory_bytes,
            max_table_elements: limits.max_table_elements,
            memory_denied: None,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.max_memory_bytes {
            self.memory_denied
                .get_or_insert((self.max_memory_bytes, desired as u64));
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired as u64 <= self.max_table_elements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_field_by_field() {
        let overrides: PluginSettings =
            toml::from_str("[limits]\nfuel = 5\ntimeout_ms = 7\n").unwrap();
        let limits = Limits::default().with(&overrides.limits);
        assert_eq!((limits.fuel, limits.timeout_ms), (5, 7));
        assert_eq!(limits.max_memory_bytes, DEFAULT_MAX_MEMORY_BYTES);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<PluginSettings>("[limits]\nfuell = 5\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `fuell`"), "{err}");
        assert!(toml::from_str::<PluginSettings>("other = 1\n").is_err());
    }
}
