//! `extension-host build DIR -o OUT.wasm`: a plugin project in Rust, JavaScript or Python,
//! built with its language's toolchain into a component, then checked the way the server
//! loads it (a file that does not implement the world is refused with the reason, and no
//! output is left behind).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::config::{BuildArgs, InspectArgs};

/// A plugin project's language, told by its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `Cargo.toml`: a crate depending on `extension-sdk`.
    Rust,
    /// `functions.js`: a Celigo-style CommonJS module.
    Js,
    /// `functions.py`.
    Python,
}

impl Language {
    /// The language of the project in `dir`.
    pub fn of(dir: &Path) -> anyhow::Result<Self> {
        if dir.join("Cargo.toml").exists() {
            Ok(Self::Rust)
        } else if dir.join("functions.js").exists() {
            Ok(Self::Js)
        } else if dir.join("functions.py").exists() {
            Ok(Self::Python)
        } else {
            bail!(
                "{} holds no Cargo.toml, functions.js or functions.py: not a plugin project",
                dir.display()
            )
        }
    }
}

/// Where this host's SDKs live: `--sdk`, `EXTENSION_SDK`, or the source tree the binary was
/// built from (the SDKs are not published; see README, "Writing a plugin").
pub fn sdk_root(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let root = flag
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EXTENSION_SDK").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    if !root.join("guest-sdk").join("Cargo.toml").exists() {
        bail!(
            "no SDK at {}: pass --sdk (or set EXTENSION_SDK to) the extension-host source tree",
            root.display()
        );
    }
    Ok(root.canonicalize()?)
}

/// Builds `args.dir` into `args.output` and checks it; returns what `inspect` shows.
pub async fn build(args: &BuildArgs) -> anyhow::Result<serde_json::Value> {
    let dir = std::path::absolute(&args.dir)?;
    let output = std::path::absolute(&args.output)?;
    let sdk = sdk_root(args.sdk.as_deref())?;
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match Language::of(&dir)? {
        Language::Rust => build_rust(&dir, &output, args.target_dir.as_deref())?,
        Language::Js => {
            // weval is installed last: its presence means every JavaScript tool is there.
            ensure_tools(&sdk, &sdk.join("target/guest-tools/weval/bin/weval"))?;
            if needs_npm_install(&dir) {
                run(Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund"])
                    .current_dir(&dir))?;
            }
            run(Command::new("node")
                .arg(sdk.join("guest-sdk/js/build.mjs"))
                .arg(dir.join("functions.js"))
                .arg("-o")
                .arg(&output))?;
        }
        Language::Python => {
            let python = sdk.join("target/guest-tools/python/bin/python");
            ensure_tools(&sdk, &python)?;
            run(Command::new(python)
                .arg(sdk.join("guest-sdk/python/build.py"))
                .arg(dir.join("functions.py"))
                .arg("-o")
                .arg(&output))?;
        }
    }
    let checked = super::inspect(&InspectArgs {
        module: output.clone(),
    })
    .await;
    if checked.is_err() {
        let _ = std::fs::remove_file(&output);
    }
    checked
}

/// `cargo build --release --target wasm32-wasip2`, then the `.wasm` cargo reports.
fn build_rust(dir: &Path, output: &Path, target_dir: Option<&Path>) -> anyhow::Result<()> {
    // RUSTUP_AUTO_INSTALL=0 machines need the target added explicitly; a no-op when present.
    let _ = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .current_dir(dir)
        .status();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    if let Some(target_dir) = target_dir {
        command.arg("--config").arg(format!(
            "build.target-dir={}",
            toml::Value::String(
                std::path::absolute(target_dir)?
                    .to_string_lossy()
                    .into_owned()
            )
        ));
    }
    let out = command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!("cargo build failed in {}", dir.display());
    }
    let wasm = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
        })
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
        .context("cargo built no .wasm: is the crate a `cdylib`?")?;
    std::fs::copy(&wasm, output)
        .with_context(|| format!("copying {} to {}", wasm.display(), output.display()))?;
    Ok(())
}

/// A `package.json` with dependencies and no `node_modules` yet.
fn needs_npm_install(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else {
        return false;
    };
    let declared = serde_json::from_str::<serde_json::Value>(&text)
        .map(|p| p["dependencies"].as_object().is_some_and(|d| !d.is_empty()))
        .unwrap_or(false);
    declared && !dir.join("node_modules").exists()
}

/// Installs the SDKs' build tools (`scripts/guest-tools.sh`) when `marker` is missing.
fn ensure_tools(sdk: &Path, marker: &Path) -> anyhow::Result<()> {
    if !marker.exists() {
        run(Command::new("bash").arg(sdk.join("scripts/guest-tools.sh")))?;
    }
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", command.get_program());
    }
    Ok(())
}
