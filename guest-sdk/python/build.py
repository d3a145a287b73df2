#!/usr/bin/env python3
"""Builds a Python extension module into a component for extension-host.

    target/guest-tools/python/bin/python guest-sdk/python/build.py functions.py -o functions.wasm

Run it with the Python that has componentize-py (scripts/guest-tools.sh installs it into
target/guest-tools/python). Modules and packages next to functions.py can be imported (the
folder is copied into the component); the module is imported once at build time, so import
errors and unknown kinds fail the build.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
WIT = HERE.parent.parent / "wit"
# wasi:http and what it uses, as the WASI 0.2.12 release publishes them (vendored: the build
# runs offline).
WASI_DEPS = HERE / "wit-deps"
# The world Python plugins are built for: the extension world plus outbound HTTP, which
# `extension.http` uses. (JavaScript gets wasi:http from componentize-js, Rust from `wasip2`.)
PYTHON_WORLD = """package integrator:extension-python;

world extension-python {
  include integrator:extension/extension@0.1.0;
  import wasi:http/outgoing-handler@0.2.12;
}
"""


def assemble_wit(work):
    """A WIT directory with the Python world, our package and the WASI packages as deps."""
    wit = pathlib.Path(work, "wit")
    shutil.copytree(WIT, wit / "deps" / "integrator-extension")
    for dep in sorted(WASI_DEPS.glob("*.wit")):
        target = wit / "deps" / f"wasi-{dep.stem}"
        target.mkdir(parents=True)
        shutil.copy(dep, target)
    (wit / "world.wit").write_text(PYTHON_WORLD)
    return wit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the extension module, e.g. functions.py")
    parser.add_argument("-o", "--output", required=True, help="the .wasm component to write")
    args = parser.parse_args()
    source = pathlib.Path(args.module).resolve()
    if source.suffix != ".py" or not source.is_file():
        sys.exit(f"build.py: {args.module} is not a .py file")
    tool = pathlib.Path(sys.executable).parent / "componentize-py"
    if not tool.exists():
        tool = shutil.which("componentize-py")
    if not tool:
        sys.exit("build.py: componentize-py not found; run scripts/guest-tools.sh and use target/guest-tools/python/bin/python")
    output = pathlib.Path(args.output).resolve()
    with tempfile.TemporaryDirectory(prefix="extension-py-") as work:
        # Build from copies: the interpreter componentize-py runs writes __pycache__ next to
        # every module it imports, and those must not land in the author's (or the SDK's) tree.
        sdk = pathlib.Path(work, "sdk")
        app = pathlib.Path(work, "app")
        skip = shutil.ignore_patterns("__pycache__", ".*", "*.wasm", "node_modules")
        shutil.copytree(HERE, sdk, ignore=shutil.ignore_patterns(
            "__pycache__", ".*", "*.wasm", "node_modules", "wit-deps"))
        wit = assemble_wit(work)
        shutil.copytree(source.parent, app, ignore=skip)
        pathlib.Path(sdk, "extension_entry.py").write_text(f"MODULE = {source.stem!r}\n")
        started = time.monotonic()
        built = subprocess.run(
            [str(tool), "-d", str(wit), "-w", "extension-python", "componentize", "extension_runtime",
             "-p", str(sdk), "-p", str(app), "-o", str(output)],
            env={**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"},
        )
        if built.returncode != 0:
            sys.exit(f"build.py: building {args.module} failed (componentize-py's message is above)")
    size = output.stat().st_size
    print(f"built {output} ({size} bytes) in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
