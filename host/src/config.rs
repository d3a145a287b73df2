//! Configuration: the command line (each flag also readable from the environment), an optional
//! config file, and the built-in defaults. Precedence: flag/env > config file > default.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::egress::NetworkSettings;
use crate::http::server::ConnectionSettings;
use crate::registry::watcher::DEFAULT_DEBOUNCE;
use crate::runtime::engine::{DEFAULT_MAX_STACK_BYTES, GuestProfiler};
use crate::runtime::limits::{LimitOverrides, Limits};

/// Concurrent instances (and so concurrent calls) the pooling allocator is sized for; further
/// calls wait for a slot. 128 keeps the pool's virtual reservation modest while far exceeding
/// what 2–16 cores can run at once.
pub const DEFAULT_MAX_INSTANCES: u32 = 128;

/// Instances a Lambda environment is sized for: it serves one invocation at a time, so a small
/// pool (loading instantiates each module once, a few at a time) instead of the server's 128
/// keeps the process's virtual memory reservation small.
pub const LAMBDA_MAX_INSTANCES: u32 = 4;

/// How long a call to a module that is still loading (compiling at start, or newly added)
/// waits for it before answering `plugin_loading`: long enough for a typical compile on a busy
/// host, short enough that a caller's own timeout does not fire first.
pub const DEFAULT_LOAD_WAIT_MS: u64 = 10_000;

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
    /// Run one function of a `.wasm` with the server's sandbox and limits, without a server:
    /// prints the answer's body (the result or the exact wire error) and, on stderr, the
    /// status, fuel used and time.
    Call(CallArgs),
    /// List a component's functions, groups and kinds (what `GET /plugins` shows for it).
    Inspect(InspectArgs),
    /// Build a plugin project (Rust, JavaScript or Python) into a checked component.
    Build(BuildArgs),
    /// Scaffold a plugin project that builds with one command and passes its own test.
    New(NewArgs),
    /// Serve the plugins of a directory as an AWS Lambda function (custom runtime: run it as
    /// the `bootstrap` of a `provided.al2023` function).
    Lambda(LambdaArgs),
    /// Compile every module of a plugins directory ahead of time, for `serve --precompiled`
    /// or the default compile cache.
    Compile(CompileArgs),
    /// Write the deployment zip of a Lambda function: bootstrap, plugins, precompiled code.
    PackageLambda(PackageLambdaArgs),
    /// Check a host on this machine (a container's HEALTHCHECK): exits 0 only if the path
    /// answers 200.
    Probe(ProbeArgs),
}

/// `extension-host probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The host's port on 127.0.0.1.
    #[arg(long, env = "PORT", default_value_t = 80)]
    pub port: u16,
    /// The path to GET.
    #[arg(long, default_value = "/livez")]
    pub path: String,
    /// How long to wait for the answer, in ms.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// `extension-host compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The plugins directory.
    pub dir: PathBuf,
    /// Where to write the artifacts [default: `<DIR>/.cache`, the compile cache `serve` uses
    /// by default].
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// The host's config file (its `max_stack_bytes` is part of the engine configuration the
    /// artifacts are checked against).
    #[arg(long, env = "EXTENSION_HOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Wasm stack limit in bytes, as the host will run with [default: 524288].
    #[arg(long, env = "MAX_STACK_BYTES")]
    pub max_stack_bytes: Option<usize>,
}

/// `extension-host package-lambda`.
#[derive(Debug, clap::Args)]
pub struct PackageLambdaArgs {
    /// The plugins directory to deploy.
    #[arg(long)]
    pub plugins: PathBuf,
    /// The zip to write.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// A host config file to ship as `extension-host.toml` (the bootstrap reads it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The executable to ship as `bootstrap` [default: this one]. It must be the same build
    /// as this one, or the precompiled code is ignored (and compiled at cold start).
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
}

/// `extension-host lambda`.
#[derive(Debug, clap::Args)]
pub struct LambdaArgs {
    /// Directory holding `diy.wasm` or `<_connectorId>.wasm` modules (and optional
    /// `<id>.toml` settings beside them) [default: `plugins` beside the executable, as a
    /// deployment zip lays it out].
    #[arg(long, env = "PLUGINS_DIR")]
    pub plugins: Option<PathBuf>,
    /// A TOML file with host settings and default limits, as for `serve` [default:
    /// `extension-host.toml` beside the executable, if it exists].
    #[arg(long, env = "EXTENSION_HOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Compile-cache directory [default: `/tmp/extension-host-cache`: Lambda's only writable
    /// directory].
    #[arg(long, env = "CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not cache compiled plugins on disk.
    #[arg(long, env = "NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_cache: bool,
    /// Precompiled artifacts (`extension-host compile`) [default: `precompiled` beside the
    /// executable, if it exists, as `package-lambda` lays it out].
    #[arg(long, env = "PRECOMPILED_DIR")]
    pub precompiled: Option<PathBuf>,
    /// Wasm stack limit in bytes, for every plugin [default: 524288].
    #[arg(long, env = "MAX_STACK_BYTES")]
    pub max_stack_bytes: Option<usize>,
    /// Default limits of every call (a connector's settings file overrides them).
    #[command(flatten)]
    pub limits: LimitOverrides,
}

/// `extension-host build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The project: a crate (`Cargo.toml`), or a folder with `functions.js` or `functions.py`.
    pub dir: PathBuf,
    /// The component to write.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Rust: cargo's target directory (shared between projects, dependencies compile once)
    /// [default: cargo's, `<DIR>/target` or CARGO_TARGET_DIR].
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// The extension-host source tree holding the SDKs [default: the one this binary was
    /// built from; env EXTENSION_SDK].
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// `extension-host new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The folder to create (must not exist, or be empty).
    pub dir: PathBuf,
    /// The plugin's language.
    #[arg(long, value_enum)]
    pub lang: crate::tools::scaffold::Lang,
    /// The extension-host source tree holding the SDKs [default: the one this binary was
    /// built from; env EXTENSION_SDK].
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// `extension-host call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The component.
    pub module: PathBuf,
    /// The function's name.
    pub function: String,
    /// The function's group (`hook`, `wrapper`, `setting`, `installer`, `uninstaller`,
    /// `utility`, or another export name), as the envelope's `type`; none: the module root.
    #[arg(long = "type")]
    pub group: Option<String>,
    /// The function's `options`: a JSON file, or `-` for stdin [default: `{}`].
    #[arg(long)]
    pub options: Option<PathBuf>,
    /// The module's settings (`[limits]`, `[network]`, as `<id>.toml` beside a served module)
    /// [default: the module's path with `.toml`, if it exists].
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Call it as this `_connectorId` instead of as the diy module.
    #[arg(long)]
    pub connector: Option<String>,
    /// The envelope's `maxResponseSize`.
    #[arg(long)]
    pub max_response_size: Option<u64>,
    /// A TOML file with host settings and default limits, as for `serve`.
    #[arg(long, env = "EXTENSION_HOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Default limits of the call (the settings file overrides them, as when served).
    #[command(flatten)]
    pub limits: LimitOverrides,
}

/// `extension-host inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The component.
    pub module: PathBuf,
}

/// `extension-host serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory holding `diy.wasm` or `<_connectorId>.wasm` modules (and optional
    /// `<id>.toml` settings beside them).
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
    /// A TOML file with host settings and default limits (see README).
    #[arg(long, env = "EXTENSION_HOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Concurrent plugin instances [default: 128].
    #[arg(long, env = "MAX_INSTANCES")]
    pub max_instances: Option<u32>,
    /// Wasm stack limit in bytes, for every plugin [default: 524288].
    #[arg(long, env = "MAX_STACK_BYTES")]
    pub max_stack_bytes: Option<usize>,
    /// Compile-cache directory [default: `<plugins>/.cache`].
    #[arg(long, env = "CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not cache compiled plugins on disk.
    #[arg(long, env = "NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_cache: bool,
    /// Quiet period before a change in the plugins directory is loaded, in ms [default: 100].
    #[arg(long, env = "RELOAD_DEBOUNCE_MS")]
    pub reload_debounce_ms: Option<u64>,
    /// Watch the plugins directory by polling it every this many ms instead of with inotify:
    /// for network file systems (NFS, EFS), which notify no one of other machines' changes.
    #[arg(long, env = "POLL_INTERVAL_MS")]
    pub poll_interval_ms: Option<u64>,
    /// Load the plugins directory once at startup and never watch it.
    #[arg(long, env = "NO_WATCH", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_watch: bool,
    /// Open connections at most [default: 4096].
    #[arg(long, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
    /// Time a request head may take from its first byte, in ms [default: 10000].
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Time a request body may take after its head, in ms [default: 60000].
    #[arg(long, env = "BODY_READ_TIMEOUT_MS")]
    pub body_read_timeout_ms: Option<u64>,
    /// Time a connection may stay open with no request in progress, in ms [default: 65000].
    #[arg(long, env = "IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Memory for results in flight, shared by all calls, in bytes [default: 1073741824].
    #[arg(long, env = "MAX_RESULT_MEMORY_BYTES")]
    pub max_result_memory_bytes: Option<u64>,
    /// A directory of precompiled artifacts written by `extension-host compile` with this
    /// host's settings; trusted like the host's own binary (its machine code runs unsandboxed).
    #[arg(long, env = "PRECOMPILED_DIR")]
    pub precompiled: Option<PathBuf>,
    /// How long a call to a module still loading waits for it, in ms [default: 10000].
    #[arg(long, env = "LOAD_WAIT_MS")]
    pub load_wait_ms: Option<u64>,
    /// Integration steps: where the job store lives [default: `<plugins>/.state`].
    #[arg(long, env = "STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Integration steps: how long a step request waits for its function before answering 202,
    /// in ms, below 5000 [default: 4500].
    #[arg(long, env = "STEP_ANSWER_MS")]
    pub step_answer_ms: Option<u64>,
    /// Integration steps: how long a callback is retried before the job is kept as failed, in
    /// ms [default: 86400000].
    #[arg(long, env = "STEP_RETRY_MAX_AGE_MS")]
    pub step_retry_max_age_ms: Option<u64>,
    /// Name guests' compiled functions for `perf` (`perfmap`: wasmtime writes
    /// `/tmp/perf-<pid>.map`), for profiling the host under load [default: off].
    #[arg(long, env = GuestProfiler::ENV)]
    pub guest_profiler: Option<GuestProfiler>,
    /// Default limits of every call (a connector's `<id>.toml` overrides them).
    #[command(flatten)]
    pub limits: LimitOverrides,
}

/// The config file (`--config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Concurrent plugin instances.
    pub max_instances: Option<u32>,
    /// Wasm stack limit in bytes.
    pub max_stack_bytes: Option<usize>,
    /// Open connections at most.
    pub max_connections: Option<u64>,
    /// Time a request head may take, in ms.
    pub header_read_timeout_ms: Option<u64>,
    /// Time a request body may take, in ms.
    pub body_read_timeout_ms: Option<u64>,
    /// Idle keep-alive timeout, in ms.
    pub idle_timeout_ms: Option<u64>,
    /// Memory for results in flight, in bytes.
    pub max_result_memory_bytes: Option<u64>,
    /// How long a call to a module still loading waits for it, in ms.
    pub load_wait_ms: Option<u64>,
    /// Poll the plugins directory every this many ms instead of using inotify.
    pub poll_interval_ms: Option<u64>,
    /// Integration steps.
    #[serde(default)]
    pub steps: StepsFileConfig,
    /// Default limits of every call.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Default egress policy (a connector's `[network]` overrides it key by key).
    #[serde(default)]
    pub network: NetworkSettings,
}

impl FileConfig {
    /// Reads and checks a config file; unknown keys are an error. Relative paths in it are
    /// relative to the file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let mut file: Self =
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        file.network = file.network.anchored(dir);
        // A bad global policy fails startup, not every module load.
        crate::egress::NetworkPolicy::compile(&file.network)
            .with_context(|| format!("config file {}", path.display()))?;
        Ok(file)
    }
}

/// The config file's `[steps]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsFileConfig {
    /// Where the job store lives.
    pub state_dir: Option<PathBuf>,
    /// The default answer budget, in ms (below 5000).
    pub answer_budget_ms: Option<u64>,
    /// How long a callback is retried, in ms.
    pub retry_max_age_ms: Option<u64>,
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
    /// Wasm stack limit in bytes.
    pub max_stack_bytes: usize,
    /// Default limits of every call.
    pub limits: Limits,
    /// The compile-cache directory; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Quiet period before reloading after a change; `None` disables watching.
    pub reload_debounce: Option<Duration>,
    /// Connection cap and timeouts.
    pub connections: ConnectionSettings,
    /// Default egress policy (none: no network).
    pub network: NetworkSettings,
    /// Memory for results in flight, shared by all calls.
    pub max_result_memory_bytes: u64,
    /// Operator-supplied precompiled artifacts (`extension-host compile`), read only.
    pub precompiled_dir: Option<PathBuf>,
    /// How long a call to a module that is still loading waits for it.
    pub load_wait: Duration,
    /// Watch the plugins directory by polling it this often instead of with inotify.
    pub poll_interval: Option<Duration>,
    /// Integration steps: the job store's directory, the answer budget, the retry age.
    pub steps: crate::steps::StepsConfig,
    /// Whether guests' compiled code is named for a profiler.
    pub guest_profiler: GuestProfiler,
}

impl ServeConfig {
    /// A configuration with default settings and limits.
    pub fn new(plugins_dir: impl Into<PathBuf>, system_token: impl Into<String>) -> Self {
        let plugins_dir: PathBuf = plugins_dir.into();
        Self {
            steps: crate::steps::StepsConfig::new(plugins_dir.join(".state")),
            cache_dir: Some(plugins_dir.join(".cache")),
            reload_debounce: Some(DEFAULT_DEBOUNCE),
            plugins_dir,
            system_token: system_token.into(),
            max_instances: DEFAULT_MAX_INSTANCES,
            max_stack_bytes: DEFAULT_MAX_STACK_BYTES,
            limits: Limits::default(),
            connections: ConnectionSettings::default(),
            network: NetworkSettings::default(),
            max_result_memory_bytes: crate::http::results::DEFAULT_MAX_RESULT_MEMORY_BYTES,
            precompiled_dir: None,
            load_wait: Duration::from_millis(DEFAULT_LOAD_WAIT_MS),
            poll_interval: None,
            guest_profiler: GuestProfiler::Off,
        }
    }

    /// What every call runs under, flags over the config file over the defaults: the stack
    /// limit, the default limits and the default network policy (`serve` and `call` alike).
    pub fn apply_call_settings(
        &mut self,
        file: &FileConfig,
        limit_flags: &LimitOverrides,
        max_stack_flag: Option<usize>,
    ) {
        self.max_stack_bytes = max_stack_flag
            .or(file.max_stack_bytes)
            .unwrap_or(self.max_stack_bytes);
        self.limits = self.limits.with(&file.limits).with(limit_flags);
        self.network = file.network.clone();
    }

    /// The configuration of `extension-host lambda`: no token (IAM guards the invoke), no
    /// watching (a deployment never changes), the cache in `/tmp`.
    pub fn for_lambda(args: &LambdaArgs) -> anyhow::Result<Self> {
        let beside_exe = |name: &str| {
            std::env::current_exe()
                .context("locating the executable")
                .map(|exe| exe.with_file_name(name))
        };
        let config_file = match &args.config {
            Some(path) => Some(path.clone()),
            None => Some(beside_exe(crate::tools::package::LAMBDA_CONFIG_FILE)?)
                .filter(|path| path.is_file()),
        };
        let file = match &config_file {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let plugins = match &args.plugins {
            Some(dir) => dir.clone(),
            None => beside_exe("plugins")?,
        };
        let mut config = Self::new(plugins, "");
        config.max_instances = LAMBDA_MAX_INSTANCES;
        config.precompiled_dir = match &args.precompiled {
            Some(dir) => Some(dir.clone()),
            None => Some(beside_exe("precompiled")?).filter(|dir| dir.is_dir()),
        };
        config.apply_call_settings(&file, &args.limits, args.max_stack_bytes);
        config.reload_debounce = None;
        config.cache_dir = match (&args.cache_dir, args.no_cache) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => Some(PathBuf::from("/tmp/extension-host-cache")),
        };
        Ok(config)
    }

    /// From the command line, over the config file, over the defaults.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let mut config = Self::new(&args.plugins, &args.system_token);
        config.max_instances = args
            .max_instances
            .or(file.max_instances)
            .unwrap_or(config.max_instances);
        config.apply_call_settings(&file, &args.limits, args.max_stack_bytes);
        config.guest_profiler = args.guest_profiler.unwrap_or_default();
        config.max_result_memory_bytes = args
            .max_result_memory_bytes
            .or(file.max_result_memory_bytes)
            .unwrap_or(config.max_result_memory_bytes);
        let c = &mut config.connections;
        let ms = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(Duration::from_millis).unwrap_or(default)
        };
        c.max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(c.max_connections);
        c.header_read_timeout = ms(
            args.header_read_timeout_ms,
            file.header_read_timeout_ms,
            c.header_read_timeout,
        );
        c.body_read_timeout = ms(
            args.body_read_timeout_ms,
            file.body_read_timeout_ms,
            c.body_read_timeout,
        );
        c.idle_timeout = ms(args.idle_timeout_ms, file.idle_timeout_ms, c.idle_timeout);
        if let Some(dir) = &args.cache_dir {
            config.cache_dir = Some(dir.clone());
        }
        if args.no_cache {
            config.cache_dir = None;
        }
        if let Some(ms) = args.reload_debounce_ms {
            config.reload_debounce = Some(Duration::from_millis(ms));
        }
        if args.no_watch {
            config.reload_debounce = None;
        }
        config.precompiled_dir = args.precompiled.clone();
        config.load_wait = ms(args.load_wait_ms, file.load_wait_ms, config.load_wait);
        config.poll_interval = args
            .poll_interval_ms
            .or(file.poll_interval_ms)
            .map(Duration::from_millis);
        let steps = &mut config.steps;
        if let Some(dir) = args.state_dir.clone().or(file.steps.state_dir.clone()) {
            steps.state_dir = dir;
        }
        let budget = args.step_answer_ms.or(file.steps.answer_budget_ms);
        if let Some(ms) = budget {
            if ms > crate::steps::MAX_ANSWER_BUDGET_MS {
                anyhow::bail!("the step answer budget ({ms} ms) must stay below 5000 ms");
            }
            steps.answer_budget = Duration::from_millis(ms);
        }
        steps.retry_max_age = ms(
            args.step_retry_max_age_ms,
            file.steps.retry_max_age_ms,
            steps.retry_max_age,
        );
        Ok(config)
    }
}
