//! The start-up benchmarks of BENCHMARKS.md, against the release host in its own process:
//!
//! 1. **Lambda cold start.** `extension-host lambda` against a local Runtime API: the time
//!    from spawning the process to its first `next` request (the init phase) and to its first
//!    answer, with 1 and 50 connectors, each compiled at start or precompiled by `extension-host
//!    compile`; Rust modules, and the JavaScript example (1 connector both ways, 50 precompiled:
//!    compiling 50 JavaScript modules at start takes minutes). Each connector is a distinct
//!    module (the same component with a distinct custom section), so nothing is shared.
//! 2. **Compile storm.** A served neighbour connector's latency (p50/p99 of sequential calls,
//!    each on a fresh connection) while 50 new modules are dropped into the plugins directory
//!    and compile, against the same neighbour idle. With `--before BIN`, the same for another
//!    build of the host (the version before compiles were capped and deprioritised), in the
//!    same run.
//!
//! `cargo build --release -p extension-host -p benchmarks && target/release/bench-startup
//! [--before OLD-BINARY] [--rounds N]` (`scripts/bench.sh` runs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use integration_tests::Running;
use integration_tests::lambda_api::{Outcome, RuntimeApi};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";
const STORM_MODULES: usize = 50;

/// A plugins directory of `n` connectors `c0…` made from `module`.
fn plugins(module: &str, n: usize, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = std::fs::read(module).with_context(|| format!("reading {module}"))?;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("c{i}.wasm")),
            integration_tests::distinct(&bytes, i),
        )?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One cold start: (init ms, first answer ms).
async fn cold_start(
    host: &Path,
    dir: &Path,
    precompiled: Option<&Path>,
    call: &(Value, Value),
) -> anyhow::Result<(f64, f64)> {
    let api = RuntimeApi::start().await;
    let mut command = Command::new(host);
    api.environment(&mut command)
        .args(["lambda", "--no-cache", "--plugins"])
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    if let Some(pre) = precompiled {
        command.arg("--precompiled").arg(pre);
    }
    let started = Instant::now();
    let _function = Running(command.spawn()?);
    let outcome = api.invoke(&call.0, &call.1.to_string()).await;
    let answered = started.elapsed();
    let init = api
        .api
        .first_next()
        .context("the function never asked for an invocation")?
        .duration_since(started);
    if !matches!(outcome, Outcome::Response(_)) {
        bail!("the first invocation failed: {outcome:?}");
    }
    Ok((init.as_secs_f64() * 1e3, answered.as_secs_f64() * 1e3))
}

async fn lambda_section(host: &Path, rounds: usize, js: bool) -> anyhow::Result<()> {
    println!("### Lambda cold start (median of {rounds}; ms from spawn)");
    println!();
    println!("| modules | connectors | code | init ms | first answer ms |");
    println!("|---|---|---|---|---|");
    let rust = (
        integration_tests::TEST_PROBE_WASM,
        "Rust (test-probe, 0.3 MB)",
        (
            json!({"_connectorId": "c0", "function": "whoami"}),
            json!({}),
        ),
    );
    let javascript = (
        integration_tests::JS_DIY_EXAMPLE_WASM,
        "JavaScript (diy-example, 13 MB)",
        (
            json!({"_connectorId": "c0", "type": "hook", "function": "deferred"}),
            json!({"data": [1]}),
        ),
    );
    let mut cases = vec![
        (&rust, 1, false),
        (&rust, 1, true),
        (&rust, STORM_MODULES, false),
        (&rust, STORM_MODULES, true),
    ];
    if js {
        cases.extend([
            (&javascript, 1, false),
            (&javascript, 1, true),
            (&javascript, STORM_MODULES, true),
        ]);
    }
    for ((module, name, call), n, precompile) in cases {
        let work = tempfile::tempdir()?;
        let dir = work.path().join("plugins");
        plugins(module, n, &dir)?;
        let pre = work.path().join("precompiled");
        if precompile {
            let status = Command::new(host)
                .arg("compile")
                .arg(&dir)
                .arg("-o")
                .arg(&pre)
                .stderr(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("extension-host compile failed");
            }
        }
        let mut init = Vec::new();
        let mut first = Vec::new();
        for _ in 0..rounds {
            let (i, f) = cold_start(host, &dir, precompile.then_some(&*pre), call).await?;
            init.push(i);
            first.push(f);
        }
        let code = if precompile {
            "precompiled"
        } else {
            "compiled at start"
        };
        println!(
            "| {name} | {n} | {code} | {:.0} | {:.0} |",
            median(init),
            median(first)
        );
    }
    println!();
    Ok(())
}

/// Latencies (ms) of sequential neighbour calls until `until` says stop.
fn sample(port: u16, until: impl Fn(usize) -> bool) -> anyhow::Result<Vec<f64>> {
    let body = br#"{"_connectorId":"neighbour","function":"whoami","options":{}}"#;
    let mut out = Vec::new();
    while !until(out.len()) {
        let started = Instant::now();
        let (status, _) = benchmarks::http(port, "POST", "/function", body, Some(TOKEN))?;
        if status != 200 {
            bail!("the neighbour answered {status}");
        }
        out.push(started.elapsed().as_secs_f64() * 1e3);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Modules loaded, from `GET /plugins` (every version of the host has it).
fn loaded(port: u16) -> usize {
    benchmarks::http(port, "GET", "/plugins", b"", Some(TOKEN))
        .ok()
        .and_then(|(_, body)| serde_json::from_slice::<Value>(&body).ok())
        .and_then(|v| v["plugins"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// One storm on `host`: (idle p50, idle p99, storm p50, storm p99, storm seconds, samples).
fn storm(host: &Path) -> anyhow::Result<[f64; 6]> {
    let work = tempfile::tempdir()?;
    let dir = work.path().join("plugins");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        integration_tests::TEST_PROBE_WASM,
        dir.join("neighbour.wasm"),
    )?;
    let staged = work.path().join("staged");
    plugins(integration_tests::FLAT_EXAMPLE_WASM, STORM_MODULES, &staged)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _host = Running(
        Command::new(host)
            .args(["serve", "--bind", "127.0.0.1", "--no-cache"])
            .args(["--port", &port.to_string(), "--system-token", TOKEN])
            .arg("--plugins")
            .arg(&dir)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let until = Instant::now() + Duration::from_secs(120);
    while loaded(port) < 1 {
        if Instant::now() > until {
            bail!("the host did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle = sample(port, |n| n >= 1000)?;
    // The storm: every module appears at once, as a deploy copies them.
    for entry in std::fs::read_dir(&staged)? {
        let path = entry?.path();
        std::fs::rename(&path, dir.join(path.file_name().context("name")?))?;
    }
    let started = Instant::now();
    let during = sample(port, |n| n % 20 == 19 && loaded(port) > STORM_MODULES)?; // the neighbour and every new module
    let seconds = started.elapsed().as_secs_f64();
    Ok([
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        seconds,
        during.len() as f64,
    ])
}

fn storm_section(hosts: &[(&str, PathBuf)]) -> anyhow::Result<()> {
    println!(
        "### Compile storm: a neighbour's latency while {STORM_MODULES} new modules compile (ms)"
    );
    println!();
    println!(
        "| host | idle p50 | idle p99 | storm p50 | storm p99 | p99 storm/idle | storm s | samples |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, host) in hosts {
        let [p50, p99, s50, s99, seconds, samples] = storm(host)?;
        println!(
            "| {name} | {p50:.2} | {p99:.2} | {s50:.2} | {s99:.2} | {:.1}× | {seconds:.1} | {samples:.0} |",
            s99 / p99
        );
    }
    println!();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut host = PathBuf::from("target/release/extension-host");
    let mut before = None;
    let mut rounds = 3;
    let mut js = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = args.next().context("--host PATH")?.into(),
            "--before" => before = Some(PathBuf::from(args.next().context("--before PATH")?)),
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            "--no-js" => js = false,
            other => bail!("unknown argument {other}"),
        }
    }
    lambda_section(&host, rounds, js).await?;
    let mut hosts = vec![("this host", host)];
    if let Some(before) = before {
        hosts.insert(0, ("before", before));
    }
    storm_section(&hosts)
}
