//! What fuel metering and epoch interruption cost on a JSON-heavy hook, measured in one run.
//!
//! `cargo bench -p integration-tests --bench sandbox_overhead`
//!
//! Calls the diy examples' `preMapPhones` (preMap: parse each record, normalise a phone field,
//! serialise) on 1000 records of ~300 bytes, through the same path a request takes (fresh
//! instance, marshalling, contract check), on four engines that differ only in fuel and
//! epochs, for each guest language (Rust: typed boundary; JavaScript and Python: JSON
//! boundary). Rounds are interleaved so machine noise hits every engine alike; the figure per
//! engine is the median of its per-round medians, reported as a ratio to the engine with
//! neither meter.

use std::time::{Duration, Instant};

use host::dispatch::Target;
use host::runtime::bindings::{Boundary, Group, Kind};
use host::runtime::engine::{DEFAULT_MAX_STACK_BYTES, EngineOptions};
use host::runtime::{Limits, Runtime, Tags};
use serde_json::value::RawValue;

const ROUNDS: usize = 7;

struct Engine {
    name: &'static str,
    runtime: Runtime,
    target: Target,
    medians: Vec<Duration>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records = integration_tests::records(1000);
    let options = serde_json::json!({ "data": records }).to_string();
    let options: Box<RawValue> = serde_json::from_str(&options)?;
    println!("payload: 1000 records, {} bytes", options.get().len());

    println!("| guest | engine | median per call | ratio to neither |");
    println!("|---|---|---|---|");
    for (language, wasm, boundary, calls_per_round) in [
        (
            "Rust",
            integration_tests::DIY_EXAMPLE_WASM,
            Boundary::Typed,
            40,
        ),
        (
            "JavaScript",
            integration_tests::JS_DIY_EXAMPLE_WASM,
            Boundary::Json,
            4,
        ),
        (
            "Python",
            integration_tests::PY_DIY_EXAMPLE_WASM,
            Boundary::Json,
            10,
        ),
    ] {
        let mut engines = Vec::new();
        for (name, fuel, epochs) in [
            ("neither", false, false),
            ("fuel", true, false),
            ("epochs", false, true),
            ("fuel+epochs", true, true),
        ] {
            let runtime = Runtime::new(EngineOptions {
                fuel,
                epochs,
                ..EngineOptions::new(4, DEFAULT_MAX_STACK_BYTES)
            })?;
            let plugin = integration_tests::load_plugin(&runtime, wasm, Limits::default()).await?;
            let target = Target {
                plugin,
                group: Group::Hooks,
                name: "preMapPhones".into(),
                kind: Kind::PreMap,
                boundary,
            };
            engines.push(Engine {
                name,
                runtime,
                target,
                medians: Vec::new(),
            });
        }

        let mut fuel_used = 0;
        for _ in 0..ROUNDS {
            for engine in &mut engines {
                let mut times = Vec::with_capacity(calls_per_round);
                for _ in 0..calls_per_round {
                    let started = Instant::now();
                    let tags = Tags {
                        connector: "diy".into(),
                        request_id: "bench".into(),
                    };
                    let plugin = &engine.target.plugin;
                    let mut call = engine
                        .runtime
                        .start(plugin.pre(), &plugin.limits, tags, Default::default())
                        .await?;
                    let body = host::marshal::invoke(&mut call, &engine.target, &options).await?;
                    times.push(started.elapsed());
                    assert!(body.is_some_and(|b| b.len() > 100_000));
                    fuel_used = fuel_used.max(call.fuel_used());
                }
                engine.medians.push(median(times));
            }
        }

        let base = median(engines[0].medians.clone());
        for engine in &engines {
            let m = median(engine.medians.clone());
            println!(
                "| {language} | {} | {:.2} ms | {:.2}× |",
                engine.name,
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() / base.as_secs_f64()
            );
        }
        println!("| {language} | fuel used per call: {fuel_used} | | |");
    }
    Ok(())
}
