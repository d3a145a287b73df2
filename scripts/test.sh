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
node --test guest-sdk/js/          # the JavaScript bundler and type declarations
scripts/check-deploy.sh            # Dockerfile and Kubernetes manifests, offline
cargo fmt --all -- --check
(cd guest-sdk && cargo fmt -- --check)
(cd plugins && cargo fmt --all -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Rust SDK and the example plugins: lints for wasm32-wasip2, and the SDK's unit tests
# natively (through the plugins workspace, so its lock file applies).
host_triple=$(rustc -vV | sed -n 's/^host: //p')
(cd plugins && cargo clippy --workspace --locked -- -D warnings)
(cd plugins && cargo clippy -p extension-sdk --all-targets --target "$host_triple" --locked -- -D warnings)
(cd plugins && cargo test -p extension-sdk --target "$host_triple" --locked)
cargo test --workspace --locked
