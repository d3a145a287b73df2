//! One call into a plugin: a fresh store and instance, limits armed, and the outcome
//! classified in one place ([`Call::classify`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{ComponentNamedList, Instance, Lift, Lower, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{log, types};
use super::engine::EngineOptions;
use super::exports::{ExportFn, Linked};
use super::limits::{INSTANTIATE_FUEL, INSTANTIATE_TIMEOUT_MS, Limiter, Limits};
use super::pool::LaneSeat;
use super::wasi::{self, GuestOutput};
use crate::egress::Egress;
use crate::egress::scripts::Verdict;
use crate::error::{ApiError, SandboxError};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

/// Most guest output kept per call, for each of stdout, stderr and the log import; beyond it,
/// output is dropped (and counted) so a chatty plugin cannot flood the host log.
pub const MAX_GUEST_OUTPUT_BYTES: usize = 64 * 1024;

/// Most `log` lines kept per call, however short: an empty line still costs the host a whole
/// log record (~300 bytes of tags and timestamp), so lines are counted as well as bytes.
pub const MAX_GUEST_LOG_LINES: usize = 1_000;

/// Bytes the guest may copy to the host in one host call or one return beyond the response
/// cap: room for the canonical ABI's per-element overhead of record lists. Past it, wasmtime
/// refuses to lift the data (its "hostcall fuel"), which is reported as an oversized response.
const HOSTCALL_SLACK_BYTES: u64 = 16 << 20;

/// Who a call runs for; every guest log line carries these.
#[derive(Debug, Clone)]
pub struct Tags {
    /// `diy` or the `_connectorId`.
    pub connector: Arc<str>,
    /// The request's id.
    pub request_id: Arc<str>,
}

/// The store data of one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    deadline: Instant,
    tags: Tags,
    stdout: GuestOutput,
    stderr: GuestOutput,
    logged_bytes: usize,
    logged_lines: usize,
    log_dropped: usize,
    max_stack_bytes: usize,
    seat: LaneSeat,
    http: WasiHttpCtx,
    egress: Egress,
    verdict: Option<Arc<Verdict>>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl types::Host for CallState {}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.logged_bytes + message.len() > MAX_GUEST_OUTPUT_BYTES
            || self.logged_lines >= MAX_GUEST_LOG_LINES
        {
            self.log_dropped += 1;
            return;
        }
        self.logged_bytes += message.len();
        self.logged_lines += 1;
        let message = escape_controls(&message);
        let (connector, request_id) = (&*self.tags.connector, &*self.tags.request_id);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "plugin", connector, request_id, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "plugin", connector, request_id, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "plugin", connector, request_id, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "plugin", connector, request_id, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "plugin", connector, request_id, "{message}")
            }
        }
    }
}

/// A live instance, ready for one call.
pub struct Call {
    /// The store (pass `&mut call.store` to the export).
    pub store: Store<CallState>,
    /// The instance.
    pub instance: Instance,
    linked: Arc<Linked>,
    limits: Limits,
    deadline: Instant,
    _permits: Vec<OwnedSemaphorePermit>,
}

impl Call {
    /// Instantiates `pre` in a fresh store under `limits`, then arms the call's own budget.
    /// `engine` says which meters are on and the stack limit to report on overflow.
    pub async fn start(
        pre: &Arc<Linked>,
        limits: &Limits,
        tags: Tags,
        permits: Vec<OwnedSemaphorePermit>,
        engine_options: &EngineOptions,
        seat: LaneSeat,
        egress: Egress,
    ) -> Result<Self, SandboxError> {
        let engine = pre.engine();
        let stdout = GuestOutput::new(MAX_GUEST_OUTPUT_BYTES);
        let stderr = GuestOutput::new(MAX_GUEST_OUTPUT_BYTES);
        let wasi = wasi::context(&stdout, &stderr);
        let instantiate_deadline = Instant::now() + Duration::from_millis(INSTANTIATE_TIMEOUT_MS);
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits),
            deadline: instantiate_deadline,
            verdict: egress.verdict(),
            egress,
            http: WasiHttpCtx::new(),
            tags,
            stdout,
            stderr,
            logged_bytes: 0,
            logged_lines: 0,
            log_dropped: 0,
            max_stack_bytes: engine_options.max_stack_bytes,
            seat,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(
            usize::try_from(
                limits
                    .max_response_bytes
                    .saturating_add(HOSTCALL_SLACK_BYTES),
            )
            .unwrap_or(usize::MAX),
        );
        // Every tick: interrupt once the deadline (instantiation's, then the call's) has
        // passed; else yield to the executor (where a long call moves to the lane).
        if engine_options.epochs {
            store.epoch_deadline_callback(|mut ctx| {
                let state = ctx.data_mut();
                if Instant::now() >= state.deadline
                    || state.verdict.as_ref().is_some_and(|v| v.ended())
                {
                    return Ok(UpdateDeadline::Interrupt);
                }
                state.seat.tick();
                Ok(UpdateDeadline::Yield(1))
            });
            store.set_epoch_deadline(1);
        }
        if engine_options.fuel {
            store.set_fuel(INSTANTIATE_FUEL).map_err(unavailable)?;
        }
        // The epoch deadline stops running wasm; this one also stops a guest waiting in a
        // host call (a WASI sleep, a poll, an outbound request).
        let instantiated = tokio::time::timeout_at(
            instantiate_deadline.into(),
            pre.instance_pre().instantiate_async(&mut store),
        )
        .await
        .unwrap_or_else(|_| Err(wasmtime::Error::from(Trap::Interrupt)));
        let instance = match instantiated {
            Ok(instance) => instance,
            Err(err) => {
                // Instantiation runs under its own budget, so name that budget, not the call's.
                return Err(match classify(&err, &store, limits) {
                    SandboxError::Trap { message } => SandboxError::Unavailable { message },
                    SandboxError::FuelExhausted { .. } => SandboxError::Unavailable {
                        message: format!(
                            "its start-up code used all {INSTANTIATE_FUEL} fuel units allowed for instantiation"
                        ),
                    },
                    SandboxError::Timeout { .. } => SandboxError::Unavailable {
                        message: format!(
                            "its start-up code ran longer than the {INSTANTIATE_TIMEOUT_MS} ms allowed for instantiation"
                        ),
                    },
                    other => other,
                });
            }
        };
        if engine_options.fuel {
            store.set_fuel(limits.fuel).map_err(unavailable)?;
        }
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        store.data_mut().deadline = deadline;
        Ok(Self {
            store,
            instance,
            linked: pre.clone(),
            limits: limits.clone(),
            deadline,
            _permits: permits,
        })
    }

    /// Runs `work` (an export call on this instance, and whatever the host does around it)
    /// under the call's deadline, host calls included: a guest waiting in a WASI sleep, a poll
    /// or an outbound request is stopped at the deadline exactly as a running one is.
    pub async fn within_deadline<T, E: From<SandboxError>>(
        &mut self,
        work: impl AsyncFnOnce(&mut Call) -> Result<T, E>,
    ) -> Result<T, E> {
        let deadline = self.deadline;
        match tokio::time::timeout_at(deadline.into(), work(self)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.forward_output();
                Err(SandboxError::Timeout {
                    limit_ms: self.limits.timeout_ms,
                }
                .into())
            }
        }
    }

    /// Calls `export` with `params` (typed as the WIT declares it: see [`Linked::func`]).
    pub async fn call_export<Params, Results>(
        &mut self,
        export: ExportFn,
        params: Params,
    ) -> wasmtime::Result<Results>
    where
        Params: ComponentNamedList + Lower + Send + Sync,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let func = self
            .linked
            .func::<Params, Results>(&mut self.store, &self.instance, export)?;
        func.call_async(&mut self.store, params).await
    }

    /// Whether the module has `export` (only an optional one can be missing).
    pub fn has_export(&self, export: ExportFn) -> bool {
        self.linked.has(export)
    }

    /// Type-checks every export of the instance against the world (once per module).
    pub fn check_exports(&mut self) -> anyhow::Result<()> {
        let linked = self.linked.clone();
        linked.check(&mut self.store, &self.instance)
    }

    /// The error a response script ended the call with, if one did: the call's answer,
    /// whatever the guest made of its failed request.
    pub fn take_verdict(&self) -> Option<ApiError> {
        self.store.data().verdict.as_ref()?.take()
    }

    /// When the call's deadline passes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fuel used so far by the call (not counting instantiation).
    pub fn fuel_used(&self) -> u64 {
        // Without fuel metering (benchmarks only) there is nothing to report.
        self.store
            .get_fuel()
            .map(|left| self.limits.fuel.saturating_sub(left))
            .unwrap_or(0)
    }

    /// Turns the export's wasmtime result into the function's outcome, and forwards guest
    /// stdout/stderr to the host log.
    pub fn finish<T>(&mut self, result: wasmtime::Result<T>) -> Result<T, SandboxError> {
        let outcome = result.map_err(|err| classify(&err, &self.store, &self.limits));
        self.forward_output();
        outcome
    }

    fn forward_output(&mut self) {
        let data = self.store.data();
        let (connector, request_id) = (&*data.tags.connector, &*data.tags.request_id);
        for (stream, pipe) in [("stdout", &data.stdout), ("stderr", &data.stderr)] {
            let (bytes, dropped) = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                let line = escape_controls(line);
                tracing::info!(target: "plugin", connector, request_id, stream, "{line}");
            }
            if dropped > 0 {
                tracing::warn!(
                    target: "plugin",
                    connector,
                    request_id,
                    stream,
                    dropped,
                    "guest output over the per-call cap was dropped"
                );
            }
        }
        if data.log_dropped > 0 {
            tracing::warn!(
                target: "plugin",
                connector,
                request_id,
                dropped_lines = data.log_dropped,
                "guest log lines over the per-call cap ({MAX_GUEST_LOG_LINES} lines, {MAX_GUEST_OUTPUT_BYTES} bytes) were dropped"
            );
        }
    }
}

fn unavailable(err: wasmtime::Error) -> SandboxError {
    SandboxError::Unavailable {
        message: format!("{err:#}"),
    }
}

/// Guest text with its control characters escaped (`\n` → `\\n`, ESC → `\\u{1b}`), so a
/// guest can neither forge a host log line nor send terminal escapes to an operator's screen.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Classifies a failed call: which limit stopped it, or what trap it hit.
fn classify(err: &wasmtime::Error, store: &Store<CallState>, limits: &Limits) -> SandboxError {
    if let Some((limit, requested)) = store.data().limiter.memory_denied {
        return SandboxError::MemoryLimit { limit, requested };
    }
    // wasmtime refused to copy more than the store's hostcall fuel out of the guest: a
    // result (or a host-call argument) over the response cap.
    if format!("{err:#}").contains("fuel allocated for hostcalls has been exhausted") {
        return SandboxError::OutputTooLarge {
            limit: limits.max_response_bytes,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => SandboxError::FuelExhausted {
            budget: limits.fuel,
        },
        Some(Trap::Interrupt) => SandboxError::Timeout {
            limit_ms: limits.timeout_ms,
        },
        Some(Trap::StackOverflow) => SandboxError::StackOverflow {
            limit: store.data().max_stack_bytes,
        },
        Some(trap) => SandboxError::Trap {
            message: describe_trap(&trap.to_string(), err, store),
        },
        // Not a trap: the host refused to lift what the guest returned (a string that is not
        // UTF-8, an out-of-range value, ...).
        None if format!("{err:#}").to_ascii_lowercase().contains("utf-8") => {
            SandboxError::InvalidOutput {
                message: format!("{err:#}"),
            }
        }
        None => SandboxError::Trap {
            message: describe_trap(&format!("{err:#}"), err, store),
        },
    }
}

/// One line that leads with the cause, then the wasm backtrace once: the guest's exit status
/// (`exit(3)`), or the guest's own last words on stderr (a Rust panic message, an uncaught
/// JavaScript exception) followed by the trap in parentheses, or the trap alone; then the
/// backtrace with demangled function names when the module has a name section, frames of the
/// guest's panic and abort machinery skipped so the first frame shown is the author's.
fn describe_trap(what: &str, err: &wasmtime::Error, store: &Store<CallState>) -> String {
    // wasmtime's own rendering may append a backtrace; ours comes once, at the end.
    let what = what
        .split("\nwasm backtrace:")
        .next()
        .unwrap_or(what)
        .split("error while executing at wasm backtrace")
        .next()
        .unwrap_or(what)
        .trim()
        .trim_end_matches(':')
        .replace('\n', " / ");
    let (stderr, _) = store.data().stderr.contents();
    let stderr = String::from_utf8_lossy(&stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    // componentize-js prints an uncaught JavaScript exception as `<message>`, `Stack:`, one
    // line per frame: keep the message and the innermost frame.
    let lines = match lines.iter().rposition(|l| *l == "Stack:") {
        Some(pos) if pos > 0 => {
            let mut kept = vec![lines[pos - 1]];
            kept.extend(lines.get(pos + 1).copied());
            kept
        }
        _ => lines,
    };
    // Rust's panic line starts `thread '<unnamed>' (1) panicked at …`: the thread is noise.
    let lines: Vec<&str> = lines
        .into_iter()
        .map(|l| match l.find(" panicked at ") {
            Some(at) if l.starts_with("thread '") => &l[at + 1..],
            _ => l,
        })
        .collect();
    let said = (!lines.is_empty()).then(|| {
        let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
        escape_controls(truncate(&tail, 1024)).into_owned()
    });
    let exit = err
        .downcast_ref::<wasmtime_wasi::I32Exit>()
        .map(|exit| format!("the guest exited with status {}", exit.0));
    let mut message = match (exit, said) {
        (Some(exit), Some(said)) => format!("{exit}; guest stderr: {said}"),
        (Some(exit), None) => exit,
        (None, Some(said)) => format!("{said} ({what})"),
        (None, None) => what,
    };
    if let Some(backtrace) = err.downcast_ref::<WasmBacktrace>() {
        let names: Vec<String> = backtrace
            .frames()
            .iter()
            .map(|f| match f.func_name() {
                Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
                None => format!("func[{}]", f.func_index()),
            })
            .skip_while(|name| is_runtime_frame(name))
            .take(8)
            .collect();
        if !names.is_empty() {
            message.push_str(&format!("; wasm backtrace: {}", names.join(" <- ")));
        }
    }
    message
}

/// Frames of the guest's standard library panic/abort path, not the author's code.
fn is_runtime_frame(name: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "std::",
        "core::",
        "__rust",
        "rust_panic",
        "abort",
        "__wasi",
        "<std",
        "exit",
        "_Exit",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
