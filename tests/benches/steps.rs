//! The integration step's job store, measured in one run.
//!
//! `cargo bench -p integration-tests --bench steps`
//!
//! 1. What recording a job adds to a `202`: one durable `Store::save` (a redb write
//!    transaction, fsynced) of a job with a 1 KiB envelope, against the same step answered in
//!    time over HTTP (in process, no record).
//! 2. The store at 10 000 pending jobs: filling it, finding the due ones (an index range
//!    scan), a save, the listing (`all`), and the file's size.

use std::time::{Duration, Instant};

use host::steps::store::{Job, JobState, Outcome, Store};
use serde_json::json;

fn job(i: usize, envelope: &str) -> Job {
    Job {
        id: format!("bench-{i}"),
        connector: "probe".into(),
        function: "step".into(),
        group: None,
        envelope: envelope.to_string(),
        response_url: "http://localhost:9000/callback".into(),
        state: JobState::Pending,
        attempts: 0,
        next_attempt_ms: Some(1_000_000 + i as u64),
        last_error: None,
        created_ms: 0,
        outcome: Some(Outcome {
            status: 200,
            body: "{\"ok\":true}".into(),
        }),
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    format!("median {:.3} ms, p99 {:.3} ms", at(0.5), at(0.99))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let envelope = format!(
        r#"{{"_connectorId":"probe","function":"step","options":{{"body":{{"form":"{}"}},"headers":{{}}}}}}"#,
        "x".repeat(1000)
    );

    // 1. One durable save vs a step answered in time.
    let store = Store::open(&dir.path().join("one.redb"))?;
    let saves: Vec<Duration> = (0..300)
        .map(|i| {
            let started = Instant::now();
            store.save(&job(i, &envelope), None).expect("save");
            started.elapsed()
        })
        .collect();
    println!("record one job (durable save): {}", summary(saves));

    let plugins = tempfile::tempdir()?;
    std::fs::copy(
        integration_tests::TEST_PROBE_WASM,
        plugins.path().join("probe.wasm"),
    )?;
    let server = integration_tests::TestServer::start_in(plugins, |_| {}).await;
    let body = json!({"sleepMs": 0, "form": "x".repeat(1000)});
    let mut answered = Vec::new();
    for i in 0..320 {
        let started = Instant::now();
        let r = server
            .client
            .post(format!("{}/steps/probe/step", server.base))
            .bearer_auth(integration_tests::TOKEN)
            .json(&body)
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        r.bytes().await?;
        if i >= 20 {
            answered.push(started.elapsed());
        }
    }
    println!(
        "a step answered in time over HTTP (no record): {}",
        summary(answered)
    );

    // 2. 10 000 pending jobs.
    let store = Store::open(&dir.path().join("many.redb"))?;
    let started = Instant::now();
    for i in 0..10_000 {
        store.save(&job(i, &envelope), None)?;
    }
    println!(
        "fill 10 000 jobs (one transaction each): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let due: Vec<Duration> = (0..100)
        .map(|_| {
            let started = Instant::now();
            let (ids, _) = store.due(1_000_000 + 5_000, 32).expect("due");
            assert_eq!(ids.len(), 32);
            started.elapsed()
        })
        .collect();
    println!("find 32 due among 10 000: {}", summary(due));
    let saves: Vec<Duration> = (10_000..10_100)
        .map(|i| {
            let started = Instant::now();
            store.save(&job(i, &envelope), None).expect("save");
            started.elapsed()
        })
        .collect();
    println!("record one more job at 10 000: {}", summary(saves));
    let started = Instant::now();
    let all = store.all()?;
    println!(
        "list all {} jobs: {:.1} ms",
        all.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let size = std::fs::metadata(dir.path().join("many.redb"))?.len();
    println!(
        "store file at {} jobs: {:.1} MiB",
        all.len(),
        size as f64 / (1 << 20) as f64
    );
    Ok(())
}
