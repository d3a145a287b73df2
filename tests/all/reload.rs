//! Hot reload: modules (and their settings) that appear, change or disappear in the plugins
//! directory go live without a restart and without failing a single request; a broken file
//! never takes a working connector down; restarts use the compile cache.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use integration_tests::{
    FLAT_EXAMPLE_WASM, TEST_HOSTILE_WASM, TEST_PROBE_WASM, TestServer, eventually,
};
use serde_json::{Value, json};

/// Replaces `dest` the way deploy tools do: write a temporary file, then rename over.
fn replace_atomically(source: &str, dest: &Path) {
    let tmp = dest.with_extension("wasm.partial");
    std::fs::copy(source, &tmp).unwrap();
    std::fs::rename(&tmp, dest).unwrap();
}

async fn whoami(server: &TestServer, connector: &str) -> (u16, String) {
    let r = server
        .call(&json!({"_connectorId": connector, "function": "whoami", "options": {}}))
        .await;
    (r.status, r.text)
}

fn entry<'a>(listing: &'a Value, id: &str) -> Option<&'a Value> {
    listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_module_under_load_drops_no_request() {
    let server = Arc::new(TestServer::start(&[("conn.wasm", TEST_PROBE_WASM)]).await);
    let dest = server.plugins_dir().join("conn.wasm");
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, calls, failures) = (
                server.clone(),
                stop.clone(),
                calls.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, text) = whoami(&server, "conn").await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    if status != 200 || !(text == r#""probe""# || text == r#""hostile""#) {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed call: {status} {text}");
                    }
                }
            })
        })
        .collect();

    for (round, (source, expected)) in [
        (TEST_HOSTILE_WASM, "hostile"),
        (TEST_PROBE_WASM, "probe"),
        (TEST_HOSTILE_WASM, "hostile"),
        (TEST_PROBE_WASM, "probe"),
    ]
    .into_iter()
    .enumerate()
    {
        if round % 2 == 0 {
            replace_atomically(source, &dest);
        } else {
            // In place, as `cp` does: truncate, then write.
            std::fs::copy(source, &dest).unwrap();
        }
        let want = format!("\"{expected}\"");
        eventually(&format!("round {round} serves {expected}"), || async {
            whoami(&server, "conn").await.1 == want
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls > 20, "the clients kept calling ({calls} calls)");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request failed across {calls} calls"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_file_keeps_the_previous_version_serving() {
    let server = TestServer::start(&[("conn.wasm", TEST_PROBE_WASM)]).await;
    let dest = server.plugins_dir().join("conn.wasm");
    std::fs::write(&dest, b"not a component at all").unwrap();
    eventually("the listing reports the load error", || async {
        entry(&server.listing().await, "conn").is_some_and(|p| !p["lastError"].is_null())
    })
    .await;
    let l = server.listing().await;
    let conn = entry(&l, "conn").unwrap();
    assert!(
        conn["lastError"]["reason"]
            .as_str()
            .unwrap()
            .contains("not a valid WebAssembly component"),
        "{conn}"
    );
    assert_eq!(
        whoami(&server, "conn").await,
        (200, r#""probe""#.to_string())
    );

    // Fixed: the new version loads and the error clears.
    replace_atomically(TEST_HOSTILE_WASM, &dest);
    eventually("the fixed module serves", || async {
        whoami(&server, "conn").await.1 == r#""hostile""#
    })
    .await;
    assert!(entry(&server.listing().await, "conn").unwrap()["lastError"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_that_appear_and_disappear_load_and_unload() {
    let server = TestServer::start(&[("conn.wasm", TEST_PROBE_WASM)]).await;
    replace_atomically(
        FLAT_EXAMPLE_WASM,
        &server.plugins_dir().join("newcomer.wasm"),
    );
    eventually("the new connector serves", || async {
        let r = server
            .call(&json!({"_connectorId": "newcomer", "function": "greet", "options": {}}))
            .await;
        r.status == 200
    })
    .await;

    std::fs::remove_file(server.plugins_dir().join("conn.wasm")).unwrap();
    eventually("the removed connector is unknown", || async {
        let r = server
            .call(&json!({"_connectorId": "conn", "function": "whoami", "options": {}}))
            .await;
        r.status == 422 && r.json()["errors"][0]["code"] == "invalid_field"
    })
    .await;
    assert!(entry(&server.listing().await, "conn").is_none());
    // The other connector never noticed.
    let r = server
        .call(&json!({"_connectorId": "newcomer", "function": "greet", "options": {}}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_changes_apply_and_bad_settings_keep_the_previous_limits() {
    let server = TestServer::start(&[("conn.wasm", TEST_HOSTILE_WASM)]).await;
    let work = json!({"_connectorId": "conn", "type": "utility", "function": "work", "options": {"iterations": 2_000_000}});
    assert_eq!(server.call(&work).await.status, 200);
    let hash_before = entry(&server.listing().await, "conn").unwrap()["hash"].clone();

    std::fs::write(
        server.plugins_dir().join("conn.toml"),
        "[limits]\nfuel = 1_000_000\n",
    )
    .unwrap();
    eventually("the new fuel budget applies", || async {
        let r = server.call(&work).await;
        r.status == 422 && r.json()["errors"][0]["code"] == "fuel_exhausted"
    })
    .await;
    let l = server.listing().await;
    let conn = entry(&l, "conn").unwrap();
    assert_eq!(conn["limits"]["fuel"], 1_000_000);
    assert_eq!(conn["hash"], hash_before, "same module, new limits");

    // A typo is refused; the last good limits stay.
    std::fs::write(
        server.plugins_dir().join("conn.toml"),
        "[limits]\nfuell = 5\n",
    )
    .unwrap();
    eventually("the typo is reported", || async {
        entry(&server.listing().await, "conn").is_some_and(|p| !p["lastError"].is_null())
    })
    .await;
    let l = server.listing().await;
    let conn = entry(&l, "conn").unwrap();
    assert!(
        conn["lastError"]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field `fuell`"),
        "{conn}"
    );
    assert_eq!(conn["limits"]["fuel"], 1_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listing_needs_the_token_and_describes_each_plugin() {
    let server = TestServer::start(&[("conn.wasm", FLAT_EXAMPLE_WASM)]).await;
    let r = server.get("/plugins").await;
    assert_eq!(r.status, 401);
    let l = server.listing().await;
    assert_eq!(l["mode"], "connectors");
    let conn = entry(&l, "conn").unwrap();
    assert_eq!(conn["file"], "conn.wasm");
    assert_eq!(
        conn["size"],
        std::fs::metadata(FLAT_EXAMPLE_WASM).unwrap().len()
    );
    assert_eq!(conn["hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        conn["functions"],
        json!([{"name": "greet", "group": "root", "kind": "json", "boundary": "json"}])
    );
    assert_eq!(conn["limits"]["timeout_ms"], 30_000);
    assert!(conn["loadedAt"].as_str().unwrap().ends_with('Z'));
    assert!(conn["lastError"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_uses_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(FLAT_EXAMPLE_WASM, dir.path().join("a.wasm")).unwrap();
    std::fs::copy(TEST_PROBE_WASM, dir.path().join("b.wasm")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_path_buf();

    let first = TestServer::start_in(dir, |c| c.cache_dir = Some(cache_dir.clone())).await;
    let l = first.listing().await;
    assert_eq!(entry(&l, "a").unwrap()["source"], "compiled");
    assert_eq!(entry(&l, "b").unwrap()["source"], "compiled");
    let dir = first.stop_and_keep_dir().await.unwrap();

    let second = TestServer::start_in(dir, |c| c.cache_dir = Some(cache_dir.clone())).await;
    let l = second.listing().await;
    assert_eq!(entry(&l, "a").unwrap()["source"], "cache");
    assert_eq!(entry(&l, "b").unwrap()["source"], "cache");
    let r = second
        .call(&json!({"_connectorId": "b", "function": "whoami", "options": {}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""probe""#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_same_size_module_copied_with_its_mtime_kept_is_loaded() {
    let original = std::fs::read(TEST_HOSTILE_WASM).unwrap();
    // Same size, different bytes: one letter of a custom section (the producers' "rustc").
    let at = original
        .windows(5)
        .position(|w| w == b"rustc")
        .expect("a producers section");
    let mut changed = original.clone();
    changed[at] = b'R';
    let server = TestServer::start(&[("swap.wasm", TEST_HOSTILE_WASM)]).await;
    let dest = server.plugins_dir().join("swap.wasm");
    let mtime = std::fs::metadata(&dest).unwrap().modified().unwrap();
    // As `cp -p` does: write the new bytes in place, then set the old mtime back.
    std::fs::write(&dest, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dest)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!(
        (meta.len(), meta.modified().unwrap()),
        (original.len() as u64, mtime)
    );

    let expected = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&changed));
    eventually("the copied module is loaded", || async {
        server.listing().await["plugins"][0]["hash"] == expected.as_str()
    })
    .await;
    assert_eq!(
        whoami(&server, "swap").await,
        (200, r#""hostile""#.to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_polling_watcher_loads_added_and_replaced_modules_and_counts_reloads() {
    let server = TestServer::start_with(&[("conn.wasm", TEST_PROBE_WASM)], |c| {
        c.poll_interval = Some(std::time::Duration::from_millis(100));
    })
    .await;
    replace_atomically(
        FLAT_EXAMPLE_WASM,
        &server.plugins_dir().join("newcomer.wasm"),
    );
    eventually("the new connector serves", || async {
        let r = server
            .call(&json!({"_connectorId": "newcomer", "function": "greet", "options": {}}))
            .await;
        r.status == 200
    })
    .await;
    replace_atomically(FLAT_EXAMPLE_WASM, &server.plugins_dir().join("conn.wasm"));
    eventually("the replaced connector serves its new module", || async {
        let r = server
            .call(&json!({"_connectorId": "conn", "function": "greet", "options": {}}))
            .await;
        r.status == 200
    })
    .await;
    let metrics = server.get("/metrics").await.text;
    let reloads = metrics
        .lines()
        .find_map(|l| l.strip_prefix("extension_host_reloads_total "))
        .unwrap();
    assert!(reloads.parse::<u64>().unwrap() >= 2, "{metrics}");
}
