//! Per-call limits: the one config struct, its defaults and why, per-connector overrides, and
//! the store's resource limiter that records which cap a guest hit.

use serde::{Deserialize, Serialize};

/// Fuel for one call. About 10× what a JavaScript guest needs for a 1000-record hook (~1 G
/// units measured): a CPU bound well above honest work, far below "forever".
pub const DEFAULT_FUEL: u64 = 10_000_000_000;
/// Wall-clock limit for one call. Integration hooks answer in milliseconds; 30 s leaves room
/// for big pages while keeping a runaway from holding a core for long.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Linear memory per instance. JS and Python guests need 16–32 MiB before any data; 256 MiB
/// leaves room for a 50 MB request body parsed inside the guest.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Table elements per table. JS guests need ≥ 10k.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 20_000;
/// Time allowed for instantiation (JS and Python guests run start code), separate from the
/// call's own deadline so instantiation never eats the call's budget.
pub const INSTANTIATE_TIMEOUT_MS: u64 = 10_000;
/// Fuel allowed for instantiation, separate from the call's budget.
pub const INSTANTIATE_FUEL: u64 = 2_000_000_000;

/// The limits of one call. Every field can be overridden per connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// CPU budget in fuel units (≈ wasm instructions).
    pub fuel: u64,
    /// Wall-clock deadline in milliseconds.
    pub timeout_ms: u64,
    /// Linear-memory cap in bytes.
    pub max_memory_bytes: u64,
    /// Table-elements cap.
    pub max_table_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
        }
    }
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
