#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests (which build
# every plugin from source, Rust and JavaScript, and start the real server). Works on a fresh
# machine with Rust (rustup) and Node.js.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# RUSTUP_AUTO_INSTALL=0 machines do not install rust-toolchain.toml targets by themselves.
rustup target add wasm32-wasip2 >/dev/null
# The JavaScript SDK's packages (componentize-js), for the JavaScript plugins the tests build.
(cd guest-sdk/js && npm ci --no-audit --no-fund --silent)
cargo fmt --all -- --check
(cd guest-sdk && cargo fmt -- --check)
(cd plugins && # The JavaScript SDK's packages (componentize-js), for the JavaScript plugins the tests build.
(cd guest-sdk/js && npm ci --no-audit --no-fund --silent)
cargo fmt --all -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
