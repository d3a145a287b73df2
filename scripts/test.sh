#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests (which build
# every plugin from source, Rust and JavaScript, and start the real server). Works on a fresh
# machine with Rust (rustup) and Node.js.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# RUSTUP_AUTO_INSTALL=0 machines do not install rust-toolchain.toml targets by themselves.
rustup target add wasm32-wasip2 >/dev/null
# The JavaScript SDK's packages (componentize-js, at the locked versions), for the JavaScript
# plugins the tests build. `npm install`, not `npm ci`: npm 11 writes this lock without the
# other platforms' optional binaries and `npm ci` then refuses it.
(cd guest-sdk/js && npm install --no-audit --no-fund --loglevel=error)
cargo fmt --all -- --check
(cd guest-sdk && cargo fmt -- --check)
(cd plugins && cargo fmt --all -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
