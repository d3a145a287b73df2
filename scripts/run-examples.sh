#!/usr/bin/env bash
# Builds the host and the example plugins, then serves them.
# Usage: SYSTEM_TOKEN=secret scripts/run-examples.sh [--port 8080]
#   EXAMPLES=diy (default): serves plugins/diy-example as diy.wasm
#   EXAMPLES=connectors:    serves plugins/connector-example as 5a1b2c3d4e5f60718293a4b5.wasm
#                           and plugins/flat-example as flat-example.wasm
#   EXAMPLES=js:            serves plugins-js/diy-example/functions.js (built with guest-sdk/js)
#   EXAMPLES=python:        serves plugins-py/diy-example/functions.py (built with guest-sdk/python)
# (a host serves either diy or connectors, as the original configuration does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build-plugins.sh" "$root/dist/plugins" >/dev/null
dir="$root/dist/serve-${EXAMPLES:-diy}"
rm -rf "$dir" && mkdir -p "$dir"
case "${EXAMPLES:-diy}" in
  diy) cp "$root/dist/plugins/diy-example.wasm" "$dir/diy.wasm" ;;
  connectors)
    cp "$root/dist/plugins/connector-example.wasm" "$dir/5a1b2c3d4e5f60718293a4b5.wasm"
    cp "$root/dist/plugins/flat-example.wasm" "$dir/flat-example.wasm" ;;
  js)
    "$root/scripts/guest-tools.sh"
    node "$root/guest-sdk/js/build.mjs" "$root/plugins-js/diy-example/functions.js" -o "$dir/diy.wasm" ;;
  python)
    "$root/scripts/guest-tools.sh"
    "$root/target/guest-tools/python/bin/python" "$root/guest-sdk/python/build.py" \
      "$root/plugins-py/diy-example/functions.py" -o "$dir/diy.wasm" ;;
  *) echo "EXAMPLES must be diy, connectors, js or python" >&2; exit 2 ;;
esac
export SYSTEM_TOKEN=${SYSTEM_TOKEN:-change-me}
cd "$root"
exec cargo run --release -p extension-host -- serve --plugins "$dir" --port "${PORT:-8080}" "$@"
