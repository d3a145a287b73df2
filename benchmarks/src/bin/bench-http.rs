//! The HTTP benchmark of BENCHMARKS.md, in one run: this host (bench plugin, default sandbox),
//! the Node reference (integrator-extension behind express, `benchmarks/node`) and the native
//! Rust ceiling (`native-ceiling`), each its own process on loopback, loaded by `wrk`.
//!
//! `scripts/bench.sh` builds everything and runs this;
//! `bench-http [--duration 8] [--quick] [--only preMapUpper|echo|postSubmitIds]`;
//! `bench-http --languages` instead compares the Rust, JavaScript and Python guests with Node
//! over HTTP (latency at one connection).
//!
//! For each server, function, record count N and concurrency: requests/s, p50 and p99 latency
//! (wrk's, over the whole run), peak RSS of the server process during that cell (VmHWM, reset
//! per cell through /proc/<pid>/clear_refs). Before timing, every server's answer to every
//! body is compared: the three must agree.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";

struct Server {
    name: &'static str,
    port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One request with the benchmark's token.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    benchmarks::http(port, method, path, body, Some(TOKEN))
}

/// Starts a server and waits until `GET ready` answers 200.
fn start(
    name: &'static str,
    port: u16,
    ready: &str,
    mut command: Command,
) -> anyhow::Result<Server> {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let server = Server { name, port, child };
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if http(port, "GET", ready, b"").is_ok_and(|(s, _)| s == 200) {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not become ready on port {port}")
}

fn peak_rss_reset(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

fn duration_ms(text: &str) -> Option<f64> {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn wrk(
    port: u16,
    body_file: &Path,
    connections: usize,
    seconds: u64,
    script: &Path,
) -> anyhow::Result<Load> {
    let out = Command::new("wrk")
        .args([
            "-t",
            &connections.min(2).to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
        ])
        .args(["--timeout", "30s", "--latency", "-s"])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/function"))
        .env("BODY_FILE", body_file)
        .env("TOKEN", TOKEN)
        .output()
        .context("running wrk (install it: apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    let p50_ms = field("50%").and_then(duration_ms).unwrap_or(f64::NAN);
    let p99_ms = field("99%").and_then(duration_ms).unwrap_or(f64::NAN);
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0u64);
    let socket_errors = text
        .lines()
        .find(|l| l.contains("Socket errors:"))
        .map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0u64);
    Ok(Load {
        rps,
        p50_ms,
        p99_ms,
        failed: non2xx + socket_errors,
    })
}

fn body(function: &str, n: usize) -> Value {
    let records = integration_tests::records(n);
    let options = match function {
        "postSubmitIds" => {
            let responses: Vec<Value> = (0..n)
                .map(|i| json!({"statusCode": 200, "id": format!("id-{i}"), "ignored": false, "errors": [], "_json": {"ok": true}}))
                .collect();
            json!({"preMapData": records, "postMapData": records, "responseData": responses, "_importId": "imp1", "bearerToken": "x"})
        }
        _ => {
            json!({"data": records, "_importId": "imp1", "_flowId": "flow1", "bearerToken": "x", "settings": {}})
        }
    };
    json!({"diy": true, "type": "hook", "function": function, "options": options})
}

/// JSON equality where numbers compare by value (`12.0` from Rust equals `12` from JavaScript).
fn same(a: &Value, b: &Value) -> bool {
    integration_tests::by_value(a.clone()) == integration_tests::by_value(b.clone())
}

/// The host is ready when every module has loaded (a JavaScript component compiles for seconds,
/// past the load wait), not when it first answers.
const HOST_READY: &str = "/readyz";

fn host_command(release: &Path, plugins: &Path, port: u16) -> Command {
    let mut host = Command::new(release.join("extension-host"));
    host.args(["serve", "--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--system-token", TOKEN, "--no-watch", "--no-cache"])
        .arg("--plugins")
        .arg(plugins)
        .env("RUST_LOG", "warn");
    host
}

fn node_command(root: &Path) -> Command {
    let mut node = Command::new("node");
    node.arg(root.join("benchmarks/node/server.js"))
        .env("PORT", "18091")
        .env("SYSTEM_TOKEN", TOKEN);
    node
}

fn wrk_script(work: &Path) -> anyhow::Result<PathBuf> {
    let script = work.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer \" .. os.getenv(\"TOKEN\")\n\
         local f = assert(io.open(os.getenv(\"BODY_FILE\"), \"rb\"))\nwrk.body = f:read(\"*a\")\nf:close()\n",
    )?;
    Ok(script)
}

/// `--languages`: `preMapUpper` over HTTP, one connection at a time (latency, not throughput),
/// with the Rust, JavaScript and Python bench plugins served by one host as connectors `rust`,
/// `js` and `py`, against the Node reference running the same JavaScript module.
fn languages(
    root: &Path,
    release: &Path,
    work: &Path,
    seconds: u64,
    quick: bool,
) -> anyhow::Result<()> {
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for (id, wasm) in [
        ("rust", integration_tests::BENCH_WASM),
        ("js", integration_tests::JS_BENCH_WASM),
        ("py", integration_tests::PY_BENCH_WASM),
    ] {
        std::fs::copy(wasm, plugins.join(format!("{id}.wasm")))?;
    }
    let script = wrk_script(work)?;
    let host = start(
        "host",
        18093,
        HOST_READY,
        host_command(release, &plugins, 18093),
    )?;
    let node = start("node", 18091, "/healthCheck", node_command(root))?;
    let ns: &[usize] = if quick { &[1, 100] } else { &[1, 100, 1000] };
    println!("| N | guest | req/s (c=1) | p50 ms | p99 ms | p50 × Node |");
    println!("|---|---|---|---|---|---|");
    for &n in ns {
        let mut body = body("preMapUpper", n);
        let node_file = work.join(format!("node-{n}.json"));
        std::fs::write(&node_file, body.to_string())?;
        let (status, text) = http(node.port, "POST", "/function", body.to_string().as_bytes())?;
        anyhow::ensure!(status == 200, "node answered {status}");
        let expected: Value = serde_json::from_slice(&text)?;
        let mut rows = Vec::new();
        for (label, connector) in [("Rust", "rust"), ("JavaScript", "js"), ("Python", "py")] {
            body.as_object_mut().context("body")?.remove("diy");
            body["_connectorId"] = json!(connector);
            let payload = body.to_string();
            let (status, text) = http(host.port, "POST", "/function", payload.as_bytes())?;
            anyhow::ensure!(status == 200, "{label} answered {status}");
            anyhow::ensure!(
                same(&serde_json::from_slice(&text)?, &expected),
                "{label} disagrees with node at N={n}"
            );
            let file = work.join(format!("{connector}-{n}.json"));
            std::fs::write(&file, payload)?;
            wrk(host.port, &file, 1, 1, &script)?;
            rows.push((label, wrk(host.port, &file, 1, seconds, &script)?));
        }
        wrk(node.port, &node_file, 1, 1, &script)?;
        let node_load = wrk(node.port, &node_file, 1, seconds, &script)?;
        rows.push(("Node (same JS module)", node_load));
        let node_p50 = rows[3].1.p50_ms;
        for (label, load) in &rows {
            eprintln!(
                "languages N={n} {label}: {:.0} req/s p50 {:.2} ms",
                load.rps, load.p50_ms
            );
            println!(
                "| {n} | {label} | {:.0} | {:.2} | {:.2} | {:.1}× |",
                load.rps,
                load.p50_ms,
                load.p99_ms,
                load.p50_ms / node_p50
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: u64 = flag("--duration").map_or(Ok(8), |v| v.parse())?;
    let quick = args.iter().any(|a| a == "--quick");
    let only = flag("--only");
    let root = root();
    let release = root.join("target/release");
    let work = tempfile::tempdir()?;
    if args.iter().any(|a| a == "--languages") {
        return languages(&root, &release, work.path(), seconds, quick);
    }

    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(integration_tests::BENCH_WASM, plugins.join("diy.wasm"))?;
    let script = wrk_script(work.path())?;
    let host = host_command(&release, &plugins, 18090);
    let node = node_command(&root);
    let mut native = Command::new(release.join("native-ceiling"));
    native.args(["18092", TOKEN]);
    let servers = [
        start("host", 18090, HOST_READY, host)?,
        start("node", 18091, "/healthCheck", node)?,
        start("native", 18092, "/healthCheck", native)?,
    ];

    let ns: &[usize] = if quick { &[1, 100] } else { &[1, 100, 1000] };
    let cs: &[usize] = if quick { &[16] } else { &[1, 16, 64] };
    let mut cells = Vec::new();
    for function in ["preMapUpper", "echo", "postSubmitIds"] {
        if only.as_deref().is_some_and(|o| o != function) {
            continue;
        }
        for &n in ns {
            // The full concurrency sweep for the typical hook; one level for the others.
            let levels: Vec<usize> = if function == "preMapUpper" {
                cs.to_vec()
            } else {
                vec![16]
            };
            let file = work.path().join(format!("{function}-{n}.json"));
            let payload = body(function, n).to_string();
            std::fs::write(&file, &payload)?;
            // The three servers must give the same answer before any timing counts.
            let answers: Vec<Value> = servers
                .iter()
                .map(|s| {
                    let (status, text) = http(s.port, "POST", "/function", payload.as_bytes())?;
                    anyhow::ensure!(
                        status == 200,
                        "{} answered {status} to {function} N={n}",
                        s.name
                    );
                    Ok(serde_json::from_slice(&text)?)
                })
                .collect::<anyhow::Result<_>>()?;
            for (server, answer) in servers.iter().zip(&answers) {
                anyhow::ensure!(
                    same(answer, &answers[1]),
                    "{} disagrees with node on {function} N={n}: {} vs {}",
                    server.name,
                    answer.to_string().chars().take(300).collect::<String>(),
                    answers[1].to_string().chars().take(300).collect::<String>()
                );
            }
            for &c in &levels {
                let mut row = Vec::new();
                for server in &servers {
                    // Warm up, then measure.
                    wrk(server.port, &file, c, 1, &script)?;
                    peak_rss_reset(server.child.id());
                    let load = wrk(server.port, &file, c, seconds, &script)?;
                    let rss = peak_rss_mib(server.child.id());
                    eprintln!(
                        "{function} N={n} c={c} {}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms rss {rss:.0} MiB failed {}",
                        server.name, load.rps, load.p50_ms, load.p99_ms, load.failed
                    );
                    row.push((load, rss));
                }
                cells.push((function, n, c, payload.len(), row));
            }
        }
    }

    println!(
        "| function | N | body | c | host req/s | node req/s | native req/s | host/node | host/native | p50 ms host / node / native | p99 ms host / node / native | peak RSS MiB host / node / native | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (function, n, c, size, row) in &cells {
        let [(h, hr), (no, nr), (na, nar)] = [&row[0], &row[1], &row[2]];
        println!(
            "| {function} | {n} | {:.0} KB | {c} | {:.0} | {:.0} | {:.0} | {:.2}× | {:.2}× | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {hr:.0} / {nr:.0} / {nar:.0} | {} |",
            *size as f64 / 1024.0,
            h.rps,
            no.rps,
            na.rps,
            h.rps / no.rps,
            h.rps / na.rps,
            h.p50_ms,
            no.p50_ms,
            na.p50_ms,
            h.p99_ms,
            no.p99_ms,
            na.p99_ms,
            h.failed + no.failed + na.failed,
        );
    }
    Ok(())
}
