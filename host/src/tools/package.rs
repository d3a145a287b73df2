//! `extension-host compile DIR` (ahead-of-time compilation of a plugins directory) and
//! `extension-host package-lambda` (the deployment zip of a Lambda function).
//!
//! Artifacts are wasmtime's precompiled components, named `<sha256 of the .wasm>-<engine
//! key>.cwasm` as the compile cache names them: a host uses one only for the exact bytes it was
//! compiled from and only under the engine configuration it was compiled for (wasmtime also
//! checks its header at load); anything else is compiled at load, with a warning.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::ServeConfig;
use crate::config::{CompileArgs, FileConfig, PackageLambdaArgs};
use crate::registry::CompileCache;

/// The name of the config file a Lambda bootstrap reads from beside itself.
pub const LAMBDA_CONFIG_FILE: &str = "extension-host.toml";

/// One compiled module.
#[derive(Debug)]
pub struct Compiled {
    /// Its id (`diy` or the `_connectorId`).
    pub id: String,
    /// The artifact written.
    pub artifact: PathBuf,
}

/// Compiles and validates every module of `args.dir` under the engine configuration `args`
/// describes, and writes the artifacts to `args.out` (default: `<DIR>/.cache`, where `serve`
/// looks by default). Any module that would not load is an error naming it.
pub async fn compile(args: &CompileArgs) -> anyhow::Result<Vec<Compiled>> {
    let out = args.out.clone().unwrap_or_else(|| args.dir.join(".cache"));
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let mut config = ServeConfig::new(&args.dir, "");
    config.apply_call_settings(&file, &Default::default(), args.max_stack_bytes);
    compile_into(&config, &out).await
}

async fn compile_into(config: &ServeConfig, out: &Path) -> anyhow::Result<Vec<Compiled>> {
    let mut config = config.clone();
    config.reload_debounce = None;
    // Compile every module here and now: no earlier artifact stands in for it.
    config.cache_dir = None;
    config.precompiled_dir = None;
    let started = Instant::now();
    let state = crate::load(&config).await?;
    let snapshot = state.registry.current();
    if !snapshot.failures.is_empty() {
        let reasons: Vec<String> = snapshot
            .failures
            .iter()
            .map(|(file, f)| format!("{file}: {}", f.reason))
            .collect();
        bail!("not every module loads:\n{}", reasons.join("\n"));
    }
    let artifacts = CompileCache::open(out, &state.runtime.engine)?;
    let mut compiled = Vec::new();
    for plugin in snapshot.plugins() {
        let component = plugin.pre().instance_pre().component();
        let artifact = artifacts.write(&plugin.module.hash, component)?;
        compiled.push(Compiled {
            id: plugin.id.to_string(),
            artifact,
        });
    }
    tracing::info!(
        modules = compiled.len(),
        ms = started.elapsed().as_millis() as u64,
        out = %out.display(),
        "compiled"
    );
    Ok(compiled)
}

/// What went into a deployment zip.
#[derive(Debug)]
pub struct Package {
    /// The zip's entries, in order.
    pub entries: Vec<String>,
}

/// Writes the deployment zip of a `provided.al2023` Lambda function: `bootstrap` (this
/// executable, or `args.bootstrap`), `plugins/` (modules and settings), `precompiled/` (their
/// artifacts, compiled by this executable for the configuration the function will run with),
/// and `extension-host.toml` when a config file is given.
pub async fn package_lambda(args: &PackageLambdaArgs) -> anyhow::Result<Package> {
    let bootstrap = match &args.bootstrap {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("locating this executable")?,
    };
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let mut config = ServeConfig::new(&args.plugins, "");
    config.apply_call_settings(&file, &Default::default(), None);
    let staging = tempfile::tempdir().context("creating a staging directory")?;
    let compiled = compile_into(&config, staging.path()).await?;

    let out = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut zip = zip::ZipWriter::new(out);
    let mut entries = Vec::new();
    let mut add = |name: String, path: &Path, mode: u32| -> anyhow::Result<()> {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode)
            .large_file(std::fs::metadata(path)?.len() >= u64::from(u32::MAX));
        zip.start_file(name.as_str(), options)?;
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        zip.write_all(&bytes)?;
        entries.push(name);
        Ok(())
    };
    add("bootstrap".into(), &bootstrap, 0o755)?;
    if let Some(path) = &args.config {
        add(LAMBDA_CONFIG_FILE.into(), path, 0o644)?;
    }
    for path in plugin_files(&args.plugins)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        add(
            format!("plugins/{}", name.unwrap_or_default()),
            &path,
            0o644,
        )?;
    }
    for c in &compiled {
        let name = c
            .artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        add(
            format!("precompiled/{}", name.unwrap_or_default()),
            &c.artifact,
            0o644,
        )?;
    }
    zip.finish().context("writing the zip")?;
    Ok(Package { entries })
}

/// The modules and their settings files, sorted; hidden files and directories skipped.
fn plugin_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        let wanted = path.extension().is_some_and(|e| e == "wasm" || e == "toml");
        if wanted && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
