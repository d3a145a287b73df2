//! `extension-host new DIR --lang rust|js|python`: a plugin project outside this repository
//! that builds with one command (`extension-host build . -o plugin.wasm`) and passes its own
//! test: `./test.sh` builds it and calls its function in the sandbox against an expected
//! answer; JavaScript and Python projects also get a test of the module under Node or Python.
//!
//! Rust projects depend on the SDK by path (the `guest-sdk` of the source tree this host was
//! built from): the SDK is not published, a git dependency would need the repository's host
//! reachable, and a path keeps the SDK and the host's WIT in step. They also get this repo's
//! toolchain pin, release profile and lock file, so they build with the versions the SDK is
//! tested with.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::build::sdk_root;
use crate::config::NewArgs;

/// The languages a project can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A crate on `extension-sdk`.
    Rust,
    /// A Celigo-style `functions.js`.
    #[value(alias = "javascript")]
    Js,
    /// A `functions.py`.
    #[value(alias = "py")]
    Python,
}

const OPTIONS: &str =
    "{\"data\": [{\"name\": \"ada\", \"id\": 1}, {\"name\": \"grace\", \"id\": 2}]}\n";
const EXPECTED: &str =
    "[{\"data\": {\"name\": \"ADA\", \"id\": 1}}, {\"data\": {\"name\": \"GRACE\", \"id\": 2}}]\n";

/// Creates the project; returns the files written, relative to `args.dir`.
pub fn new(args: &NewArgs) -> anyhow::Result<Vec<String>> {
    let dir = std::path::absolute(&args.dir)?;
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = sdk_root(args.sdk.as_deref())?;
    let name = package_name(&dir);
    let host = std::env::current_exe().context("locating this extension-host binary")?;
    let test_sh = include_str!("templates/test.sh")
        .replace("__EXTENSION_HOST__", &shell_quote(&host.to_string_lossy()));
    let mut files: Vec<(String, String)> = vec![
        ("test/options.json".into(), OPTIONS.into()),
        ("test/expected.json".into(), EXPECTED.into()),
        ("test.sh".into(), test_sh),
        (
            ".gitignore".into(),
            "target/\nnode_modules/\n__pycache__/\n*.wasm\n".into(),
        ),
    ];
    match args.lang {
        Lang::Rust => {
            let manifest = rust_manifest(&name, &sdk)?;
            files.push(("Cargo.toml".into(), manifest));
            files.push((
                "src/lib.rs".into(),
                include_str!("templates/rust_lib.rs").into(),
            ));
            let toolchain = sdk.join("rust-toolchain.toml");
            if toolchain.exists() {
                files.push((
                    "rust-toolchain.toml".into(),
                    std::fs::read_to_string(toolchain)?,
                ));
            }
            let lock = sdk.join("plugins/Cargo.lock");
            if lock.exists() {
                files.push(("Cargo.lock".into(), std::fs::read_to_string(lock)?));
            }
        }
        Lang::Js => {
            files.push((
                "functions.js".into(),
                include_str!("templates/functions.js").into(),
            ));
            files.push((
                "test/functions.test.js".into(),
                include_str!("templates/functions_test.js").into(),
            ));
            let types = sdk.join("guest-sdk/js/types/index.d.ts");
            files.push((
                "jsconfig.json".into(),
                format!(
                    "{{\n  \"compilerOptions\": {{\n    \"allowJs\": true,\n    \"checkJs\": true,\n    \"noEmit\": true,\n    \"strict\": true,\n    \"target\": \"ES2022\",\n    \"module\": \"commonjs\",\n    \"types\": [],\n    \"paths\": {{ \"extension-sdk\": [{}] }}\n  }},\n  \"include\": [\"functions.js\", \"lib/**/*.js\"]\n}}\n",
                    serde_json::Value::from(types.to_string_lossy().as_ref())
                ),
            ));
            files.push((
                "package.json".into(),
                format!(
                    "{{\n  \"name\": {},\n  \"private\": true,\n  \"main\": \"functions.js\",\n  \"scripts\": {{\n    \"build\": \"extension-host build . -o plugin.wasm\",\n    \"test\": \"node --test test/\"\n  }}\n}}\n",
                    serde_json::Value::from(name.as_str())
                ),
            ));
        }
        Lang::Python => {
            files.push((
                "functions.py".into(),
                include_str!("templates/functions.py").into(),
            ));
            files.push((
                "test_functions.py".into(),
                include_str!("templates/test_functions.py").into(),
            ));
        }
    }
    for (path, text) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    make_executable(&dir.join("test.sh"))?;
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The crate manifest: the SDK by path, its own workspace, the release profile plugins use.
fn rust_manifest(name: &str, sdk: &Path) -> anyhow::Result<String> {
    let sdk_path = sdk.join("guest-sdk");
    Ok(format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
extension-sdk = {{ path = {sdk_path} }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = {{ version = "1", features = ["preserve_order", "raw_value"] }}

# A workspace of its own: the project builds wherever it lives.
[workspace]

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
# Keep the name section so traps carry a wasm backtrace with function names.
strip = "debuginfo"
debug = false
panic = "abort"
"#,
        sdk_path = toml::Value::String(sdk_path.to_string_lossy().into_owned()),
    ))
}

/// A crate name from the folder's: lowercase ASCII letters, digits, `-`.
fn package_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("plugin-{name}").trim_end_matches('-').to_string(),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_valid_crate_names() {
        assert_eq!(package_name(Path::new("/tmp/My Plugin")), "my-plugin");
        assert_eq!(package_name(Path::new("/tmp/2fast")), "plugin-2fast");
        assert_eq!(package_name(Path::new("/tmp/_")), "plugin");
    }
}
