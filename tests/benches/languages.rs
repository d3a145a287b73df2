//! Call latency of the same hook in every guest language, in process (no HTTP), in one run:
//! the Rust guest (typed boundary), the JavaScript SDK (JSON boundary, as shipped), the same
//! JavaScript module behind the typed boundary (an experiment: `benchmarks/js-experiments`), the
//! Python SDK (JSON boundary), the least a componentize-js component can do per call (the
//! floor experiment, N = 0 only), and Node running the same JavaScript module
//! (`benchmarks/node/functions.js` under integrator-extension, `benchmarks/node/time-calls.js`).
//!
//! `cargo bench -p integration-tests --bench languages` (needs `benchmarks/node`'s packages:
//! `scripts/bench.sh` installs them).
//!
//! Each guest call is what the server does per request: a fresh sandboxed instance, the
//! options marshalled across the chosen boundary, the hook, the result checked and written as
//! the response JSON. Node's figure is JSON.parse of the body, integrator-extension's
//! callFunction and JSON.stringify of the result. Reported: medians, fuel per call, and
//! ratios against the Rust guest and against Node measured in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use host::dispatch::Target;
use host::registry::Plugin;
use host::runtime::bindings::{Boundary, Group, Kind};
use host::runtime::engine::{DEFAULT_MAX_STACK_BYTES, EngineOptions};
use host::runtime::{Limits, Runtime, Tags};
use serde_json::value::RawValue;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Variant {
    name: &'static str,
    plugin: Arc<Plugin>,
    boundary: Boundary,
    /// Measured only at N = 0 (the floor experiment answers `[]` whatever it gets).
    floor_only: bool,
}

async fn variant(
    runtime: &Runtime,
    name: &'static str,
    path: PathBuf,
    boundary: Boundary,
) -> anyhow::Result<Variant> {
    let plugin = integration_tests::load_plugin(runtime, path, Limits::default()).await?;
    Ok(Variant {
        name,
        plugin,
        boundary,
        floor_only: false,
    })
}

/// Builds `benchmarks/node/functions.js` around one of the `benchmarks/js-experiments`
/// runtimes.
fn build_experiment(runtime_js: &str) -> anyhow::Result<PathBuf> {
    let out = std::env::temp_dir().join(format!("extension-host-bench-{runtime_js}.wasm"));
    let status = Command::new("node")
        .arg(root().join("guest-sdk/js/build.mjs"))
        .arg(root().join("benchmarks/node/functions.js"))
        .arg("--runtime")
        .arg(root().join("benchmarks/js-experiments").join(runtime_js))
        .arg("-o")
        .arg(&out)
        .status()?;
    anyhow::ensure!(status.success(), "building the {runtime_js} experiment");
    Ok(out)
}

/// Node's median for one body, in ms.
fn node_median(body: &Value, iterations: usize) -> anyhow::Result<f64> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), body.to_string())?;
    let out = Command::new("node")
        .arg(root().join("benchmarks/node/time-calls.js"))
        .arg(file.path())
        .arg(iterations.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "node time-calls.js failed (run `npm ci` in benchmarks/node): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["median_us"].as_f64().unwrap_or(f64::NAN) / 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runtime = Runtime::new(EngineOptions::new(8, DEFAULT_MAX_STACK_BYTES))?;
    let typed_js = build_experiment("runtime-typed.js")?;
    let floor_js = build_experiment("runtime-floor.js")?;
    let mut variants = vec![
        variant(
            &runtime,
            "Rust (typed)",
            integration_tests::BENCH_WASM.into(),
            Boundary::Typed,
        )
        .await?,
        variant(
            &runtime,
            "JavaScript (JSON, SDK)",
            integration_tests::JS_BENCH_WASM.into(),
            Boundary::Json,
        )
        .await?,
        variant(
            &runtime,
            "JavaScript (typed, experiment)",
            typed_js,
            Boundary::Typed,
        )
        .await?,
        variant(
            &runtime,
            "Python (JSON, SDK)",
            integration_tests::PY_BENCH_WASM.into(),
            Boundary::Json,
        )
        .await?,
    ];
    variants.push(Variant {
        floor_only: true,
        ..variant(
            &runtime,
            "JavaScript floor (experiment)",
            floor_js,
            Boundary::Json,
        )
        .await?
    });
    // Experiments: EXTRA_JSON_GUESTS=/path/a.wasm:/path/b.wasm adds JSON-boundary builds of
    // the same module.
    let extra = std::env::var("EXTRA_JSON_GUESTS").unwrap_or_default();
    for path in extra.split(':').filter(|p| !p.is_empty()) {
        let name: &'static str = Box::leak(format!("extra {path}").into_boxed_str());
        variants.push(variant(&runtime, name, path.into(), Boundary::Json).await?);
    }
    let tags = || Tags {
        connector: "diy".into(),
        request_id: "bench".into(),
    };

    println!("| N | variant | median ms | fuel/call | × Rust | × Node |");
    println!("|---|---|---|---|---|---|");
    // N = 0 is each language's fixed cost per call.
    for n in [0usize, 1, 100, 1000] {
        let options = json!({"data": integration_tests::records(n), "_importId": "imp1", "_flowId": "flow1", "bearerToken": "x", "settings": {}});
        let body =
            json!({"diy": true, "type": "hook", "function": "preMapUpper", "options": options});
        let raw: Box<RawValue> = serde_json::from_str(&options.to_string())?;
        let iterations = match n {
            0 | 1 => 300,
            100 => 100,
            _ => 30,
        };
        let node = node_median(&body, iterations * 4)?;
        let mut rust_ms = f64::NAN;
        let mut expected: Option<Value> = None;
        for v in variants.iter().filter(|v| n == 0 || !v.floor_only) {
            let target = Target {
                plugin: v.plugin.clone(),
                group: Group::Hooks,
                name: "preMapUpper".into(),
                kind: Kind::PreMap,
                boundary: v.boundary,
            };
            let mut times = Vec::new();
            let mut fuel = 0;
            for i in 0..iterations + 3 {
                let t = Instant::now();
                let mut call = runtime
                    .start(v.plugin.pre(), &v.plugin.limits, tags(), Default::default())
                    .await?;
                let out = host::marshal::invoke(&mut call, &target, &raw).await?;
                let elapsed = t.elapsed();
                fuel = call.fuel_used();
                drop(call);
                // The first calls warm the pool's slot and caches.
                if i >= 3 {
                    times.push(elapsed);
                }
                if i == 0 {
                    let answer = integration_tests::by_value(serde_json::from_str(
                        out.as_deref().unwrap_or("null"),
                    )?);
                    match &expected {
                        None => expected = Some(answer),
                        Some(e) => anyhow::ensure!(*e == answer, "{} answers differently", v.name),
                    }
                }
            }
            let median = ms(median_of(times));
            if rust_ms.is_nan() {
                rust_ms = median;
            }
            println!(
                "| {n} | {} | {median:.3} | {:.1} M | {:.1}× | {:.1}× |",
                v.name,
                fuel as f64 / 1e6,
                median / rust_ms,
                median / node,
            );
        }
        println!(
            "| {n} | Node (same module, in process) | {node:.3} | – | {:.1}× | 1.0× |",
            node / rust_ms
        );
    }
    Ok(())
}
