#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests (which build
# every plugin from source, Rust, JavaScript and Python, and start the real server). Works on a
# fresh machine with Rust (rustup), Node.js and Python 3 (with venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# RUSTUP_AUTO_INSTALL=0 machines do not install rust-toolchain.toml targets by themselves.
rustup target add wasm32-wasip2 >/dev/null
# componentize-js and componentize-py, for the JavaScript and Python plugins the tests build.
scripts/guest-tools.sh
node --test guest-sdk/js/          # the JavaScript bundler
cargo fmt --all -- --check
(cd guest-sdk && cargo fmt -- --check)
(cd plugins && cargo fmt --all -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
