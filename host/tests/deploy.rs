//! The host binary as operators deploy it: SIGTERM drains in-flight calls with none dropped,
//! and it serves as a non-root user from a read-only directory with only its cache writable
//! (what the Dockerfile's read-only root file system and the Kubernetes manifests rely on).

#![allow(clippy::unwrap_used, reason = "tests unwrap freely")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use integration_tests::Running;
use tokio::sync::{Notify, watch};

const TOKEN: &str = "deploy-test-token";

/// A free loopback port (bound, then released for the host to bind).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A local API whose `/hold` answers only once the test releases it, counting arrivals.
struct HeldApi {
    port: u16,
    arrived: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
    arrival: Arc<Notify>,
}

#[derive(Clone)]
struct Held {
    arrived: Arc<AtomicUsize>,
    arrival: Arc<Notify>,
    release: watch::Receiver<bool>,
}

async fn hold(State(mut held): State<Held>) -> &'static str {
    held.arrived.fetch_add(1, Ordering::SeqCst);
    held.arrival.notify_waiters();
    let _ = held.release.wait_for(|released| *released).await;
    "released"
}

impl HeldApi {
    async fn start() -> Self {
        let (release, rx) = watch::channel(false);
        let held = Held {
            arrived: Arc::default(),
            arrival: Arc::default(),
            release: rx,
        };
        let (arrived, arrival) = (held.arrived.clone(), held.arrival.clone());
        let app = Router::new().route("/hold", get(hold)).with_state(held);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            port,
            arrived,
            release,
            arrival,
        }
    }

    async fn wait_for_arrivals(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let notified = self.arrival.notified();
                if self.arrived.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("the calls reach the API");
    }
}

/// A plugins directory with the egress test plugin as connector `egress`, allowed to reach
/// `port` on loopback, with a long call deadline.
fn egress_plugins(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(integration_tests::TEST_EGRESS_WASM, dir.join("egress.wasm")).unwrap();
    std::fs::write(
        dir.join("egress.toml"),
        format!(
            "[limits]\ntimeout_ms = 120000\n[network]\nallowed_hosts = [\"http://localhost:{port}\"]\n"
        ),
    )
    .unwrap();
}

fn serve(binary: &Path, plugins: &Path, cache: &Path, port: u16) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--plugins")
        .arg(plugins)
        .arg("--cache-dir")
        .arg(cache)
        .env("SYSTEM_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_every_in_flight_call_and_exits_cleanly() {
    const CALLS: usize = 8;
    let api = HeldApi::start().await;
    let work = tempfile::tempdir().unwrap();
    let plugins = work.path().join("plugins");
    egress_plugins(&plugins, api.port);
    let port = free_port();
    let binary = Path::new(env!("CARGO_BIN_EXE_extension-host"));
    let child = serve(binary, &plugins, &work.path().join("cache"), port)
        .spawn()
        .unwrap();
    let mut host = Running(child);
    integration_tests::wait_ready(port).await;

    let body = format!(
        r#"{{"_connectorId":"egress","type":"utility","function":"fetch","options":{{"url":"http://localhost:{}/hold"}}}}"#,
        api.port
    );
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                integration_tests::http_once(port, "POST /function HTTP/1.1", TOKEN, &body).await
            })
        })
        .collect();
    // Every call is inside the host, waiting on the API, when the signal arrives.
    api.wait_for_arrivals(CALLS).await;
    let killed = Command::new("kill")
        .args(["-TERM", &host.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Draining: no new connection is accepted...
    integration_tests::eventually("the host stops accepting", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
    // ...and every call in flight is answered in full once its API answers.
    api.release.send_replace(true);
    for call in calls {
        let (status, body) = call
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (answer["status"].as_u64(), answer["body"].as_str()),
            (Some(200), Some("released"))
        );
    }
    let exited = tokio::task::spawn_blocking(move || {
        let status = host.0.wait().unwrap();
        std::mem::forget(host);
        status
    });
    let status = tokio::time::timeout(Duration::from_secs(120), exited)
        .await
        .expect("the host exits once drained")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Runs `command` as `nobody` when the test runs as root (a non-root user already is one).
fn as_non_root(command: Command) -> (Command, bool) {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return (command, false);
    }
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    wrapped.stdout(Stdio::null());
    (wrapped, true)
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_serves_as_a_non_root_user_from_a_read_only_directory_writing_only_its_cache_and_probe_checks_livez()
 {
    let work = tempfile::tempdir().unwrap();
    // The image's layout: the binary and plugins read only; one writable cache directory.
    let app = work.path().join("app");
    let plugins = app.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        integration_tests::TEST_PROBE_WASM,
        plugins.join("probe.wasm"),
    )
    .unwrap();
    let binary = app.join("extension-host");
    std::fs::copy(env!("CARGO_BIN_EXE_extension-host"), &binary).unwrap();
    let cache = work.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    chmod(&plugins.join("probe.wasm"), 0o444);
    chmod(&plugins, 0o555);
    chmod(&binary, 0o555);
    chmod(&app, 0o555);
    chmod(work.path(), 0o755);
    let port = free_port();
    let (command, dropped_root) = as_non_root(serve(&binary, &plugins, &cache, port));
    if dropped_root {
        let chown = Command::new("chown")
            .arg("65534:65534")
            .arg(&cache)
            .status()
            .unwrap();
        assert!(chown.success());
    }
    let mut command = command;
    let _host = Running(command.spawn().unwrap());
    integration_tests::wait_ready(port).await;

    // The image's HEALTHCHECK: `extension-host probe` succeeds on /livez, fails on a 404.
    let probe = |path: &str| {
        Command::new(&binary)
            .args(["probe", "--port", &port.to_string(), "--path", path])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(probe("/livez"));
    assert!(!probe("/no-such-route"));

    let body = r#"{"_connectorId":"probe","type":"utility","function":"echo","options":{"a":1}}"#;
    let (status, answer) =
        integration_tests::http_once(port, "POST /function HTTP/1.1", TOKEN, body)
            .await
            .unwrap();
    assert_eq!((status, answer.as_str()), (200, r#"{"a":1}"#));
    // The compiled module went to the cache, and nothing else was written anywhere.
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let mut app_files: Vec<_> = walk(&app);
    app_files.sort();
    assert_eq!(
        app_files,
        vec![
            app.join("extension-host"),
            app.join("plugins"),
            app.join("plugins/probe.wasm")
        ]
    );
    chmod(&app, 0o755);
    chmod(&plugins, 0o755);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
