//! Per-call overhead of the sandbox, in process (no HTTP), in one run.
//!
//! `cargo bench -p integration-tests --bench percall`
//!
//! - instantiate only: a fresh store and instance of the bench plugin, with fuel, epoch
//!   deadline and limits armed, then torn down (what every call pays besides its work);
//! - instantiate + trivial call: the above plus a free-form call that returns `null`;
//! - host marshalling for N records: options → typed WIT values, and a preMap result → the
//!   response JSON, without a guest (what the host adds around the guest);
//! - the whole preMapUpper call for N records, against the same transformation done natively
//!   in Rust (parse, transform, serialise) in the same run.

use std::time::{Duration, Instant};

use host::dispatch::Target;
use host::fields::Fields;
use host::marshal::output;
use host::runtime::bindings::{Boundary, Group, Kind, hooks};
use host::runtime::engine::{DEFAULT_MAX_STACK_BYTES, EngineOptions, GuestProfiler};
use host::runtime::{Limits, Runtime, Tags};
use serde_json::Value;
use serde_json::value::RawValue;

fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn raw(v: &Value) -> Box<RawValue> {
    serde_json::from_str(&v.to_string()).expect("valid JSON")
}

fn tags() -> Tags {
    Tags {
        connector: "diy".into(),
        request_id: "bench".into(),
    }
}

fn native_pre_map_upper(options: &str) -> String {
    let mut options: Value = serde_json::from_str(options).expect("valid");
    serde_json::to_string(&integration_tests::native::pre_map_upper(&mut options))
        .expect("serialisable")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runtime = Runtime::new(EngineOptions {
        guest_profiler: GuestProfiler::from_env()?,
        ..EngineOptions::new(8, DEFAULT_MAX_STACK_BYTES)
    })?;
    let limits = Limits::default();
    let plugin =
        integration_tests::load_plugin(&runtime, integration_tests::BENCH_WASM, limits.clone())
            .await?;
    let target = |name: &str, kind| Target {
        plugin: plugin.clone(),
        group: Group::Hooks,
        name: name.into(),
        kind,
        boundary: Boundary::Typed,
    };

    // Warm the pool's slots and the caches first, so the first measure is not the coldest.
    for _ in 0..500 {
        drop(
            runtime
                .start(plugin.pre(), &limits, tags(), Default::default())
                .await?,
        );
    }
    // `PERCALL_PROFILE_SECS=10 perf record … percall-*`: one call in a loop, for a profile of
    // what each call pays (BENCHMARKS.md, "Profiling"): fresh instance + trivial call, or
    // preMapUpper on `PERCALL_PROFILE_N` records when that is set.
    let env_number = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    if let Some(secs) = env_number("PERCALL_PROFILE_SECS") {
        let (profiled, options) = match env_number("PERCALL_PROFILE_N") {
            Some(n) => (
                target("preMapUpper", Kind::PreMap),
                raw(&serde_json::json!({ "data": integration_tests::records(n as usize) })),
            ),
            None => (target("echo", Kind::Json), raw(&serde_json::json!({}))),
        };
        let until = Instant::now() + Duration::from_secs(secs);
        let mut calls = 0u64;
        while Instant::now() < until {
            let mut call = runtime
                .start(plugin.pre(), &limits, tags(), Default::default())
                .await?;
            host::marshal::invoke(&mut call, &profiled, &options).await?;
            calls += 1;
        }
        println!("{calls} calls in {secs} s");
        return Ok(());
    }
    println!("| measure | median |");
    println!("|---|---|");

    let mut times = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        let call = runtime
            .start(plugin.pre(), &limits, tags(), Default::default())
            .await?;
        drop(call);
        times.push(t.elapsed());
    }
    println!("| instantiate only | {} |", us(median_of(times)));

    let echo = target("echo", Kind::Json);
    let trivial = raw(&serde_json::json!({}));
    let mut times = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        let mut call = runtime
            .start(plugin.pre(), &limits, tags(), Default::default())
            .await?;
        let out = host::marshal::invoke(&mut call, &echo, &trivial).await?;
        drop(call);
        times.push(t.elapsed());
        assert_eq!(out.as_deref(), Some("null"));
    }
    println!("| instantiate + trivial call | {} |", us(median_of(times)));

    let upper = target("preMapUpper", Kind::PreMap);
    for n in [1usize, 100, 1000] {
        let options =
            raw(&serde_json::json!({ "data": integration_tests::records(n), "bearerToken": "x" }));
        let iterations = if n == 1000 { 200 } else { 1000 };

        let mut times = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let mut fields = Fields::of(&options).expect("an object");
            let data = fields.list("data").expect("a list");
            let context = fields.context();
            let results: Vec<hooks::MapResult> = data
                .into_iter()
                .map(|d| hooks::MapResult {
                    data: Some(d),
                    errors: Vec::new(),
                })
                .collect();
            let text = output::map_results(&results, output::Texts::Unchecked)?;
            times.push(t.elapsed());
            assert!(text.len() > context.extra.len());
        }
        println!(
            "| host marshalling, N={n} (options in, result out) | {} |",
            us(median_of(times))
        );

        let mut sandboxed = Vec::new();
        let mut native = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let mut call = runtime
                .start(plugin.pre(), &limits, tags(), Default::default())
                .await?;
            let out = host::marshal::invoke(&mut call, &upper, &options).await?;
            sandboxed.push(t.elapsed());
            let t = Instant::now();
            let expected = native_pre_map_upper(options.get());
            native.push(t.elapsed());
            assert_eq!(out.map(|o| o.len()), Some(expected.len()));
        }
        let (s, nat) = (median_of(sandboxed), median_of(native));
        println!(
            "| preMapUpper N={n}: sandboxed call / native | {} / {} ({:.2}× native) |",
            us(s),
            us(nat),
            s.as_secs_f64() / nat.as_secs_f64()
        );
    }
    Ok(())
}
