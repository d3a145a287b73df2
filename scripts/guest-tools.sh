#!/usr/bin/env bash
# Installs what the JavaScript and Python SDKs build with, at pinned versions:
#   guest-sdk/js/node_modules       componentize-js, esbuild, node-stdlib-browser (npm, committed lock)
#   plugins-js/*/node_modules       the npm packages of JavaScript plugins that have a package.json
#   target/guest-tools/python       a virtualenv with componentize-py (guest-sdk/python/requirements.txt)
#   target/guest-tools/weval        weval, built from crates.io: the JavaScript SDK's AOT compiler
#                                   (componentize-js's npm package would download it from GitHub)
# and the Node reference (benchmarks/node: integrator-extension behind express), which the
# differential tests run the JavaScript example against.
# Safe to rerun; scripts/test.sh, scripts/run-examples.sh and the test build call it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# `npm install`, not `npm ci`: npm 11 writes this lock without the other platforms' optional
# binaries and `npm ci` then refuses it; `npm install` keeps the locked versions.
(cd guest-sdk/js && npm install --no-audit --no-fund --loglevel=error)
(cd benchmarks/node && npm ci --no-audit --no-fund --loglevel=error)
# JavaScript plugins that bring npm packages (their own locks).
for manifest in plugins-js/*/package.json; do
  (cd "$(dirname "$manifest")" && npm ci --no-audit --no-fund --loglevel=error)
done
venv=target/guest-tools/python
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check --quiet -r guest-sdk/python/requirements.txt
# weval's version is the one componentize-js 0.23 expects (its @bytecodealliance/weval 0.5.0);
# its own lock file pins its dependencies. A cold build takes ~5-10 minutes on 2 cores.
weval_version=0.5.0
weval=target/guest-tools/weval
if [ "$("$weval/bin/weval" --version 2>/dev/null)" != "weval $weval_version" ]; then
  cargo install weval --version "=$weval_version" --locked --quiet --root "$weval"
fi
