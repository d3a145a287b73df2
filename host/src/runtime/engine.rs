//! The one wasmtime engine of the process, its configuration, its linker and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy,
};

use super::bindings::Extension;
use super::call::CallState;

/// How often the epoch advances. Deadlines are counted in ticks and a running guest yields to
/// the async executor at every tick, so this is also the longest a guest holds a worker thread
/// without letting the HTTP layer run.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The default wasm stack limit (wasmtime's default). Engine-wide: wasmtime cannot set it per
/// store, so it is a host setting, not a per-connector one.
pub const DEFAULT_MAX_STACK_BYTES: usize = 512 * 1024;

/// Largest linear memory any instance may reserve (4 GiB: all of wasm32). Per-call caps are
/// enforced by the store's limiter; this only sizes the pool's virtual reservations.
const POOL_MAX_MEMORY_BYTES: usize = 4 << 30;

/// Engine-wide settings (wasmtime cannot change these per store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Concurrent instances the pooling allocator is sized for.
    pub max_instances: u32,
    /// The wasm stack limit in bytes.
    pub max_stack_bytes: usize,
    /// Meter fuel (the CPU budget). Always on in production; off only to measure its cost.
    pub fuel: bool,
    /// Epoch interruption (the wall-clock deadline and the yields that keep the HTTP layer
    /// responsive). Always on in production; off only to measure its cost.
    pub epochs: bool,
    /// Name guests' compiled code for a profiler (off by default).
    pub guest_profiler: GuestProfiler,
}

/// How guests' machine code is made visible to a profiler (`--guest-profiler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuestProfiler {
    /// Guests' code stays anonymous: `perf` shows bare addresses.
    #[default]
    Off,
    /// wasmtime writes `/tmp/perf-<pid>.map`, which `perf report` reads to name each wasm
    /// function (`<module>::<function>`) in the process's samples. Costs nothing per call; the
    /// map grows with each module compiled or loaded.
    PerfMap,
}

impl std::str::FromStr for GuestProfiler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" | "none" | "" => Ok(Self::Off),
            "perfmap" => Ok(Self::PerfMap),
            other => Err(format!(
                "unknown guest profiler `{other}` (expected `perfmap` or `off`)"
            )),
        }
    }
}

impl GuestProfiler {
    /// The environment variable naming the profiler (`serve` and the benchmarks read it).
    pub const ENV: &'static str = "GUEST_PROFILER";

    /// The profiler named by [`GuestProfiler::ENV`], for the benchmarks that build their own
    /// runtime; off when unset.
    pub fn from_env() -> anyhow::Result<Self> {
        std::env::var(Self::ENV)
            .unwrap_or_default()
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}: {e}", Self::ENV))
    }
}

impl EngineOptions {
    /// Production options: fuel and epochs on.
    pub fn new(max_instances: u32, max_stack_bytes: usize) -> Self {
        Self {
            max_instances,
            max_stack_bytes,
            fuel: true,
            epochs: true,
            guest_profiler: GuestProfiler::Off,
        }
    }
}

/// Builds the engine configuration: component model, fuel, epochs, pooling allocator sized for
/// `max_instances` concurrent instances.
pub fn engine(options: &EngineOptions) -> anyhow::Result<Engine> {
    let EngineOptions {
        max_instances,
        max_stack_bytes,
        ..
    } = *options;
    let max_instances = max_instances + super::nested_instances(max_instances);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        // JS and Python components hold up to ~40 core instances and a few memories each.
        .max_core_instances_per_component(64)
        .total_core_instances(max_instances * 16)
        .max_memories_per_component(8)
        .total_memories(max_instances * 4)
        .max_tables_per_component(16)
        .total_tables(max_instances * 8)
        .total_stacks(max_instances)
        .max_memory_size(POOL_MAX_MEMORY_BYTES)
        .table_elements(DEFAULT_POOL_TABLE_ELEMENTS)
        .max_core_instance_size(1 << 20)
        .max_component_instance_size(1 << 20)
        // Reset a used memory by zeroing only its dirty pages (found with PAGEMAP_SCAN on
        // Linux ≥ 6.7) and keep them mapped, instead of madvise: madvise on every call costs
        // page faults on the next call and TLB-shootdown IPIs to every core, which cut
        // throughput by more than half under concurrent load (BENCHMARKS.md).
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto)
        // What is still decommitted with madvise is batched, amortising the IPIs.
        .decommit_batch_size(8);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(options.fuel)
        .epoch_interruption(options.epochs)
        .max_wasm_stack(max_stack_bytes)
        // Fiber stacks must hold the wasm stack plus host frames.
        .async_stack_size(max_stack_bytes + 2 * 1024 * 1024)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .profiler(match options.guest_profiler {
            GuestProfiler::Off => ProfilingStrategy::None,
            GuestProfiler::PerfMap => ProfilingStrategy::PerfMap,
        });
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("configuring the wasmtime engine")
}

/// Bytes of each linear memory reset in place rather than decommitted. Small calls (the ones
/// where the madvise cost dominates) touch well under 2 MiB; bigger calls pay one madvise for
/// the rest, amortised over their work. Resident memory grows by at most this much per pooled
/// slot in use (BENCHMARKS.md: 2 MiB and 16 MiB gave the same throughput).
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// Bytes of each table reset in place (JS guests have ~10k-element tables: 80 KiB).
const TABLE_KEEP_RESIDENT: usize = 128 << 10;

/// Table elements each pooled table slot can hold (per-call caps are lower).
const DEFAULT_POOL_TABLE_ELEMENTS: usize = 100_000;

/// The linker every plugin is instantiated with: WASI p2 with no preopens, env or sockets
/// (granted by the empty `WasiCtx` of each call), `wasi:http` (every request checked by the
/// call's egress policy, `crate::egress`), plus the `log` import.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("linking WASI")?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("linking wasi:http")?;
    Extension::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("linking the log import")?;
    Ok(linker)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread; stops when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` (held weakly, so the ticker never keeps an engine alive).
    pub fn start(engine: &Engine) -> Self {
        let weak = engine.weak();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
