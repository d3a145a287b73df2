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
    for watched in ["plugins", "guest-sdk", "wit"] {
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
