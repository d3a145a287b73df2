//! Builds every guest crate of `plugins/` to a `.wasm` component and writes their paths as
//! constants (`<CRATE>_WASM`) plus a `foreach_plugin!` macro, so no `.wasm` is ever checked in
//! and no plugin lands without a test; likewise every `plugins-js/<name>/functions.js` and
//! `plugins-py/<name>/functions.py` (`JS_<NAME>_WASM`, `PY_<NAME>_WASM`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let plugins = root.join("plugins");
    for watched in [
        "plugins",
        "plugins-js",
        "plugins-py",
        "guest-sdk",
        "wit",
        "benchmarks/node/functions.js",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins).args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
    ]);
    // Flags and wrappers meant for the host build (e.g. clippy's) must not leak into the guest
    // build.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", root.join("target").join("guests"));
    let status = cmd
        .status()
        .expect("running cargo to build the guest plugins");
    assert!(
        status.success(),
        "building plugins/ for wasm32-wasip2 failed; is the target installed? (`rustup target add wasm32-wasip2`)"
    );

    let out_dir = root
        .join("target")
        .join("guests")
        .join("wasm32-wasip2")
        .join("release");
    let metadata = std::fs::read_to_string(plugins.join("Cargo.toml")).expect("plugins/Cargo.toml");
    let members = metadata
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("plugins/Cargo.toml lists its members");
    let names: Vec<String> = members
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();

    let mut generated = String::new();
    for name in &names {
        let file = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
        assert!(
            file.exists(),
            "expected {} after the guest build",
            file.display()
        );
        let constant = format!("{}_WASM", name.replace('-', "_").to_uppercase());
        generated.push_str(&format!(
            "/// `plugins/{name}` built to a component.\npub const {constant}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    generated.push_str(&build_language_plugins(&root));
    generated.push_str("/// Calls `$mac!(crate_name, CONSTANT)` for every plugin crate.\n#[macro_export]\nmacro_rules! foreach_plugin {\n    ($mac:ident) => {\n");
    for name in &names {
        let ident = name.replace('-', "_");
        generated.push_str(&format!(
            "        $mac!({ident}, {}_WASM);\n",
            ident.to_uppercase()
        ));
    }
    generated.push_str("    };\n}\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("plugins.rs");
    std::fs::write(dest, generated).expect("writing plugins.rs");
}

/// A guest language whose plugins are built by an SDK build tool from
/// `<dir>/<name>/<entry>`.
struct Language {
    dir: &'static str,
    entry: &'static str,
    prefix: &'static str,
    /// The build command (program and leading arguments); the entry and `-o <out>` follow.
    tool: fn(&Path) -> Vec<PathBuf>,
}

const LANGUAGES: [Language; 2] = [
    Language {
        dir: "plugins-js",
        entry: "functions.js",
        prefix: "JS",
        tool: |root| {
            vec![
                "node".into(),
                root.join("guest-sdk").join("js").join("build.mjs"),
            ]
        },
    },
    Language {
        dir: "plugins-py",
        entry: "functions.py",
        prefix: "PY",
        tool: |root| {
            vec![
                python_tools(root).join("bin").join("python"),
                root.join("guest-sdk").join("python").join("build.py"),
            ]
        },
    },
];

fn python_tools(root: &Path) -> PathBuf {
    root.join("target").join("guest-tools").join("python")
}

/// Builds every JavaScript and Python plugin (all at once: each build is mostly one
/// single-threaded compiler) and returns their constants (`JS_<NAME>_WASM`, `PY_<NAME>_WASM`).
/// Installs the SDKs' build tools first when they are missing.
fn build_language_plugins(root: &Path) -> String {
    let js_plugins_installed = std::fs::read_dir(root.join("plugins-js"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("package.json").exists())
                .all(|e| e.path().join("node_modules").exists())
        })
        .unwrap_or(false);
    let installed = root
        .join("guest-sdk/js/node_modules/@bytecodealliance/componentize-js")
        .exists()
        && root.join("guest-sdk/js/node_modules/esbuild").exists()
        && js_plugins_installed
        && python_tools(root)
            .join("bin")
            .join("componentize-py")
            .exists();
    if !installed {
        let status = Command::new("bash")
            .arg(root.join("scripts").join("guest-tools.sh"))
            .status()
            .expect("running scripts/guest-tools.sh (needs Node.js/npm and Python 3)");
        assert!(status.success(), "scripts/guest-tools.sh failed");
    }
    let mut builds = Vec::new();
    for language in &LANGUAGES {
        let out_dir = root.join("target").join("guests").join(language.dir);
        std::fs::create_dir_all(&out_dir).expect("creating the guest output directory");
        let mut names: Vec<String> = std::fs::read_dir(root.join(language.dir))
            .unwrap_or_else(|e| panic!("{}/: {e}", language.dir))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(language.entry).exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        for name in names {
            let out = out_dir.join(format!("{name}.wasm"));
            let tool = (language.tool)(root);
            let child = Command::new(&tool[0])
                .args(&tool[1..])
                .arg(root.join(language.dir).join(&name).join(language.entry))
                .arg("-o")
                .arg(&out)
                .spawn()
                .unwrap_or_else(|e| panic!("running {}: {e}", tool[0].display()));
            builds.push((language, name, out, child));
        }
    }
    let mut generated = String::new();
    for (language, name, out, mut child) in builds {
        let status = child.wait().expect("waiting for a guest build");
        assert!(status.success(), "building {}/{name} failed", language.dir);
        let constant = format!(
            "{}_{}_WASM",
            language.prefix,
            name.replace('-', "_").to_uppercase()
        );
        generated.push_str(&format!(
            "/// `{}/{name}/{}` built to a component.\npub const {constant}: &str = {:?};\n",
            language.dir,
            language.entry,
            out.display().to_string()
        ));
    }
    generated
}
