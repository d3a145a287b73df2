#!/usr/bin/env node
// Builds a Celigo-style JavaScript extension module into a component for extension-host.
//
//   node guest-sdk/js/build.mjs functions.js -o functions.wasm [--interpreter]
//
// By default the module and the engine are compiled ahead of time with weval (componentize-js's
// `enableAot`): scripts/guest-tools.sh builds weval from crates.io into target/guest-tools/weval
// (or set WEVAL_BIN). `--interpreter` builds the plain interpreter instead: smaller and faster
// to build, slower to run JavaScript-heavy code (BENCHMARKS.md, "Languages").
//
// The module is used as it is (CommonJS `exports`/`module.exports`, callbacks or promises).
// Files and npm packages it requires are bundled in with esbuild (see bundle.mjs): Node's
// `http`/`https` and the other built-ins Node libraries need map to browser polyfills over
// `fetch`, which goes out within the network policy the operator gives the module; `fs`,
// `net`, `tls` and the like load as stubs that throw when called.
import { componentize } from '@bytecodealliance/componentize-js';
import { bundle } from './bundle.mjs';
import { witKinds } from './wit-kinds.mjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const valueOf = (flag) => { const i = args.indexOf(flag); return i < 0 ? undefined : args[i + 1]; };
const input = args.find((a, i) => !a.startsWith('-') && !['-o', '--runtime'].includes(args[i - 1]));
if (!input || !valueOf('-o')) {
  process.stderr.write('usage: build.mjs <functions.js> -o <out.wasm> [--interpreter]\n');
  process.exit(2);
}
const aot = !args.includes('--interpreter');
const wevalBin = process.env.WEVAL_BIN || join(here, '..', '..', 'target', 'guest-tools', 'weval', 'bin', 'weval');
if (aot && !existsSync(wevalBin)) {
  process.stderr.write(`weval not found at ${wevalBin}: run scripts/guest-tools.sh (or set WEVAL_BIN), or build with --interpreter\n`);
  process.exit(2);
}
const output = resolve(valueOf('-o'));
// For experiments only (BENCHMARKS.md): another runtime around the same module.
const runtimePath = valueOf('--runtime') ? resolve(valueOf('--runtime')) : join(here, 'runtime.js');

const witPath = join(here, '..', '..', 'wit');
const { source, lines, files } = await bundle(input);
const runtime = (await readFile(runtimePath, 'utf8'))
  .split('/*__EXTENSION_KINDS__*/').join(JSON.stringify(await witKinds(witPath)));
const [before, after] = runtime.split('/*__EXTENSION_MODULE__*/');
// Stack traces name the author's files and lines: runtime.js maps the bundle's lines back.
const table = { ...lines, offset: before.split('\n').length - 1 };
const wrapped = before + source + after.split('/*__EXTENSION_SOURCE_LINES__*/').join(JSON.stringify(table));
const work = await mkdtemp(join(tmpdir(), 'extension-js-'));
try {
  const sourcePath = join(work, 'extension-module.js');
  await writeFile(sourcePath, wrapped);
  const started = Date.now();
  const { component } = await componentize({
    sourcePath,
    witPath,
    worldName: 'extension-bytes',
    // `fetch` goes out through wasi:http (the host checks every request against the
    // connector's network policy); modules export no HTTP handler, so no fetch-event.
    disableFeatures: ['fetch-event'],
    // componentize-js passes wevalBin on only when the file exists, else downloads weval:
    // checked above, so a build never reaches for the network.
    ...(aot ? { enableAot: true, wevalBin } : {})
  });
  await writeFile(output, component);
  process.stderr.write(`built ${output} (${aot ? 'AOT' : 'interpreter'}) from ${files.length} file(s) (${component.length} bytes) in ${Date.now() - started} ms\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
