#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md on this machine, in one go.
# Usage: scripts/bench.sh [--duration SECONDS] [--quick]
# Installs what it needs: the wasm32-wasip2 target, wrk (apt), the Node reference's packages,
# the JavaScript and Python SDKs' build tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rustup target add wasm32-wasip2 >/dev/null
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
(cd benchmarks/node && npm ci --no-audit --no-fund --silent)
scripts/guest-tools.sh
cargo build --release --locked -p extension-host -p benchmarks
echo "## HTTP: host vs Node reference vs native ceiling"
target/release/bench-http "$@"
echo "## Isolation and egress"
target/release/bench-isolation
echo "## Start-up: Lambda cold start, compile storm (pass --before OLD-BINARY to compare)"
target/release/bench-startup
echo "## Per-call overhead"
cargo bench --locked -p integration-tests --bench percall
echo "## Sandbox meters"
cargo bench --locked -p integration-tests --bench sandbox_overhead
echo "## Hot reload and restart"
cargo bench --locked -p integration-tests --bench reload
echo "## Integration step job store"
cargo bench --locked -p integration-tests --bench steps
echo "## Languages: Rust, JavaScript, Python, Node"
cargo bench --locked -p integration-tests --bench languages
target/release/bench-http --languages --duration 5
