//! Builds every guest crate of `plugins/` to a `.wasm` component and writes their paths as
//! constants (`<CRATE>_WASM`) plus a `foreach_plugin!` macro, so no `.wasm` is ever checked in
//! and no plugin lands without a test.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let plugins = root.join("plugins");
    for watched in ["plugins", "plugins-js", "guest-sdk", "wit"] {
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
    generated.push_str(&build_js_plugins(&root));
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

/// Builds every `plugins-js/<name>/functions.js` with the JavaScript SDK (`guest-sdk/js`) and
/// returns the constants (`JS_<NAME>_WASM`). Installs the SDK's npm packages when missing.
fn build_js_plugins(root: &std::path::Path) -> String {
    let sdk = root.join("guest-sdk").join("js");
    if !sdk
        .join("node_modules")
        .join("@bytecodealliance")
        .join("componentize-js")
        .exists()
    {
        let status = Command::new("npm")
            .current_dir(&sdk)
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .status()
            .expect("running npm install in guest-sdk/js (is Node.js installed?)");
        assert!(status.success(), "npm install in guest-sdk/js failed");
    }
    let out_dir = root.join("target").join("guests").join("js");
    std::fs::create_dir_all(&out_dir).expect("creating target/guests/js");
    let mut names: Vec<String> = std::fs::read_dir(root.join("plugins-js"))
        .expect("plugins-js/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("functions.js").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    let mut generated = String::new();
    for name in names {
        let out = out_dir.join(format!("{name}.wasm"));
        let status = Command::new("node")
            .arg(sdk.join("build.mjs"))
            .arg(root.join("plugins-js").join(&name).join("functions.js"))
            .arg("-o")
            .arg(&out)
            .status()
            .expect("running node guest-sdk/js/build.mjs");
        assert!(status.success(), "building plugins-js/{name} failed");
        let constant = format!("JS_{}_WASM", name.replace('-', "_").to_uppercase());
        generated.push_str(&format!(
            "/// `plugins-js/{name}/functions.js` built to a component.\npub const {constant}: &str = {:?};\n",
            out.display().to_string()
        ));
    }
    generated
}
