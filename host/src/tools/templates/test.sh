#!/usr/bin/env bash
# Builds the plugin and calls preMapUpper in the sandbox, as the server would; the answer must
# be test/expected.json.
set -euo pipefail
cd "$(dirname "$0")"
host=${EXTENSION_HOST:-__EXTENSION_HOST__}
"$host" build . -o target/plugin.wasm
answer=$("$host" call target/plugin.wasm preMapUpper --type hook --options test/options.json)
expected=$(tr -d ' \n' < test/expected.json)
if [ "$answer" != "$expected" ]; then
  echo "expected $expected" >&2
  echo "answered $answer" >&2
  exit 1
fi
echo "ok: preMapUpper answers test/expected.json"
