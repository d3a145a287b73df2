//! Hot reload and restart times, measured in one run.
//!
//! `cargo bench -p integration-tests --bench reload`
//!
//! 1. Write → first answer from the new version: a connector's module is replaced (write a
//!    temporary file, rename over) while a client polls it; the time from the rename to the
//!    first answer of the new version. Includes the watcher's debounce (100 ms by default).
//! 2. Restart with 100 connectors: the time from `serve` to `/readyz` answering, with an empty
//!    compile cache (every module compiled) and then with the cache filled by that first start.
//!    The 100 modules are distinct: each is the flat example with its own custom section.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

const RELOADS: usize = 12;
const CONNECTORS: usize = 100;

struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &Path, cache: &Path) -> anyhow::Result<(Server, Duration)> {
    let mut config = host::ServeConfig::new(dir, integration_tests::TOKEN);
    config.cache_dir = Some(cache.to_path_buf());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(host::serve(listener, config, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready = started.elapsed();
    Ok((
        Server {
            base,
            client,
            stop: Some(tx),
            task,
        },
        ready,
    ))
}

impl Server {
    async fn whoami(&self, id: &str) -> anyhow::Result<String> {
        let body = json!({"_connectorId": id, "function": "whoami", "options": {}});
        let r = self
            .client
            .post(format!("{}/function", self.base))
            .bearer_auth(integration_tests::TOKEN)
            .json(&body)
            .send()
            .await?;
        Ok(r.text().await?)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await?
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Write → first call served by the new version.
    let dir = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    let versions = [
        (integration_tests::TEST_PROBE_WASM, "\"probe\""),
        (integration_tests::TEST_HOSTILE_WASM, "\"hostile\""),
    ];
    std::fs::copy(versions[0].0, dir.path().join("conn.wasm"))?;
    let (server, _) = start(dir.path(), cache.path()).await?;
    let mut times = Vec::new();
    for i in 1..=RELOADS {
        let (source, expected) = versions[i % 2];
        let tmp = dir.path().join("conn.wasm.partial");
        std::fs::copy(source, &tmp)?;
        let written = Instant::now();
        std::fs::rename(&tmp, dir.path().join("conn.wasm"))?;
        while server.whoami("conn").await? != expected {}
        times.push(written.elapsed());
    }
    server.stop().await?;
    println!("| measure | median | min | max |");
    println!("|---|---|---|---|");
    let (min, max) = (
        *times.iter().min().unwrap_or(&Duration::ZERO),
        *times.iter().max().unwrap_or(&Duration::ZERO),
    );
    println!(
        "| write → first call on the new version ({RELOADS} reloads, debounce 100 ms) | {} | {} | {} |",
        ms(median(times)),
        ms(min),
        ms(max)
    );

    // 2. Restart with 100 distinct connectors: cold (compiling) vs cached.
    let dir = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    let flat = std::fs::read(integration_tests::FLAT_EXAMPLE_WASM)?;
    for i in 0..CONNECTORS {
        std::fs::write(
            dir.path().join(format!("c{i:03}.wasm")),
            integration_tests::distinct(&flat, i),
        )?;
    }
    let (server, cold) = start(dir.path(), cache.path()).await?;
    let answer = server
        .client
        .post(format!("{}/function", server.base))
        .bearer_auth(integration_tests::TOKEN)
        .json(&json!({"_connectorId": "c042", "function": "greet", "options": {}}))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(answer, r#"{"greeting":"Hello, world!"}"#);
    server.stop().await?;
    let mut warm = Vec::new();
    for _ in 0..3 {
        let (server, ready) = start(dir.path(), cache.path()).await?;
        warm.push(ready);
        server.stop().await?;
    }
    let warm = median(warm);
    println!(
        "| start with {CONNECTORS} connectors, empty cache (compile all) | {} | | |",
        ms(cold)
    );
    println!(
        "| restart with {CONNECTORS} connectors, cache filled (median of 3) | {} | | |",
        ms(warm)
    );
    println!(
        "cached restart is {:.1}× faster than a cold start",
        cold.as_secs_f64() / warm.as_secs_f64()
    );
    Ok(())
}
