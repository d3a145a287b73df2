#!/usr/bin/env bash
# Builds every plugin crate under plugins/ to a ready-to-serve .wasm component.
# Usage: scripts/build-plugins.sh [OUT_DIR]   (default: dist/plugins)
# Rename a module to diy.wasm or <_connectorId>.wasm when you drop it into a plugins directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist/plugins}
# RUSTUP_AUTO_INSTALL=0 machines do not install rust-toolchain.toml targets by themselves.
rustup target add wasm32-wasip2 >/dev/null
(cd "$root/plugins" && CARGO_TARGET_DIR="$root/target/guests" cargo build --release --locked --target wasm32-wasip2)
mkdir -p "$out"
for wasm in "$root"/target/guests/wasm32-wasip2/release/*.wasm; do
  cp "$wasm" "$out/$(basename "$wasm" | tr _ -)"
done
ls -l "$out"
