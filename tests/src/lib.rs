//! Helpers for the integration tests: plugin artifacts built from source, and [`TestServer`],
//! the real server on an ephemeral port with a temporary plugins directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

pub mod api;
pub mod lambda_api;
pub mod receiver;
pub mod session_api;

/// Polls `check` until it holds. The bound is generous (two minutes): it only turns a hang
/// into a failure and never decides a test on a loaded machine.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A child process (a host binary under test) killed and reaped when dropped, passed or failed.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wasm` with a custom section naming `tag` appended: a distinct module (its own hash, its own
/// compile) that behaves exactly as the original.
pub fn distinct(wasm: &[u8], tag: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"bench-distinct";
    let payload = tag.to_string();
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// One HTTP/1.1 request to a host binary on `127.0.0.1:port`, on a fresh connection: `head` is
/// the request line plus any extra header lines; the body is sent as JSON with `Authorization:
/// Bearer <token>`. (status, body), or `None` if the connection fails or closes before a
/// status line.
pub async fn http_once(port: u16, head: &str, token: &str, body: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!(
        "{head}\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n")?.1.to_string()))
}

/// Waits until the host binary on `127.0.0.1:port` answers `/readyz` with 200.
pub async fn wait_ready(port: u16) {
    eventually("the host is ready", || async {
        http_once(port, "GET /readyz HTTP/1.1", "", "")
            .await
            .is_some_and(|(status, _)| status == 200)
    })
    .await;
}

/// The system token every test server uses.
pub const TOKEN: &str = "test-system-token";

/// A running server; dropping it shuts the server down.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The temporary plugins directory.
    pub dir: tempfile::TempDir,
    /// An HTTP client.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A response: status, headers and body text.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

impl TestServer {
    /// Starts a server whose plugins directory holds `plugins`: (file name, artifact path).
    pub async fn start(plugins: &[(&str, &str)]) -> Self {
        Self::start_with(plugins, |_| {}).await
    }

    /// Like [`TestServer::start`], with a chance to adjust the configuration.
    pub async fn start_with(
        plugins: &[(&str, &str)],
        adjust: impl FnOnce(&mut host::ServeConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, source) in plugins {
            std::fs::copy(source, dir.path().join(name)).expect("copying a plugin");
        }
        Self::start_in(dir, adjust).await
    }

    /// Starts a server on an existing plugins directory.
    pub async fn start_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut host::ServeConfig),
    ) -> Self {
        let (server, state) = Self::listen_in(dir, adjust).await;
        let _loading = state.registry.start();
        server.wait_ready().await;
        server
    }

    /// Serves an existing plugins directory whose modules are found but not loaded: each is
    /// `loading` until the test calls `state.registry.start()`.
    pub async fn listen_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut host::ServeConfig),
    ) -> (Self, host::http::AppState) {
        let mut config = host::ServeConfig::new(dir.path(), TOKEN);
        // Small pools: many test servers run at once.
        config.max_instances = 8;
        // One compile cache for the whole run: each module is compiled once, not per server
        // (a JavaScript component takes tens of seconds in a debug build).
        config.cache_dir = Some(workspace_path("target/test-compile-cache"));
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let state = host::prepare(&config).expect("preparing the server");
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                host::serve_prepared(listener, &config, state, async {
                    let _ = rx.await;
                })
                .await
            }
        });
        let client = reqwest::Client::new();
        let server = Self {
            base,
            dir,
            client,
            shutdown: Some(tx),
            task: Some(task),
        };
        (server, state)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        // A cold compile of a JavaScript component takes tens of seconds in a debug build.
        for _ in 0..6000 {
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    }

    /// The plugins directory.
    pub fn plugins_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `POST /function` with the system token and a JSON body.
    pub async fn call(&self, body: &Value) -> Reply {
        self.post_raw(
            body.to_string(),
            Some("application/json"),
            Some(&format!("Bearer {TOKEN}")),
            "",
        )
        .await
    }

    /// `POST /function` with full control over body, content type, Authorization and query.
    pub async fn post_raw(
        &self,
        body: String,
        content_type: Option<&str>,
        auth: Option<&str>,
        query: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/function{query}", self.base))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        reply(request.send().await.expect("request")).await
    }

    /// Sends raw bytes over a fresh connection and returns everything the server answers
    /// before it closes the connection or goes quiet for a second.
    pub async fn raw_http(&self, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Drops the client's pooled keep-alive connections and waits until the server has seen
    /// them close (`/openConnections` counts no other connection).
    pub async fn client_connections_closed(&mut self) {
        self.client = reqwest::Client::new();
        eventually("the server sees no other open connection", || async {
            let answer = self
                .raw_http("GET /openConnections HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            answer.ends_with("\r\n\r\n0")
        })
        .await;
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// `GET /plugins` with the token: the listing, asserting a 200.
    pub async fn listing(&self) -> Value {
        let r = self.get(&format!("/plugins?access_token={TOKEN}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    /// Stops the server and hands back its plugins directory (for a restart).
    pub async fn stop_and_keep_dir(mut self) -> anyhow::Result<tempfile::TempDir> {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        self.stop().await?;
        Ok(dir)
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Reply {
        status,
        headers,
        text,
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A path inside the workspace.
pub fn workspace_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// `n` realistic records of about 300 bytes each (ten fields, a nested object, an array,
/// numbers and booleans), generated deterministically.
pub fn records(n: usize) -> Vec<Value> {
    const FIRST: [&str; 8] = [
        "Ada", "Grace", "Edsger", "Barbara", "Ken", "Frances", "Donald", "Radia",
    ];
    const CITY: [&str; 5] = ["Berlin", "Lagos", "Osaka", "Lima", "Austin"];
    (0..n)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            serde_json::json!({
                "id": format!("rec-{i:06}"),
                "name": format!("{first} Example {i}"),
                "email": format!("{}.{i}@example.com", first.to_lowercase()),
                "phone": format!("(555) {:03}-{:04}", i % 1000, (i * 7919) % 10000),
                "amount": ((i * 37) % 10_000) as f64 / 100.0,
                "quantity": i % 17,
                "active": i % 3 != 0,
                "address": {"street": format!("{} Main St", 100 + i % 900), "city": CITY[i % CITY.len()], "zip": format!("{:05}", (i * 13) % 100_000)},
                "tags": ["customer", if i % 2 == 0 { "retail" } else { "wholesale" }],
                "createdAt": format!("2026-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28),
            })
        })
        .collect()
}

/// `v` with every number as a float, so answers compare by value across guest languages
/// (Rust and Python print `12.0` where JavaScript prints `12`).
pub fn by_value(v: Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(by_value).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, by_value(v))).collect())
        }
        other => other,
    }
}

/// The benchmark workload (`plugins/bench`) done natively, without a sandbox: the ceiling the
/// benchmarks compare against (`native-ceiling`, `benches/percall.rs`).
pub mod native {
    use serde_json::{Value, json};

    /// `options.data` with each record's `name` upper-cased and `processed: true`, as
    /// `[{data: record}]`.
    pub fn pre_map_upper(options: &mut Value) -> Value {
        let records = match options["data"].take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        };
        Value::Array(
            records
                .into_iter()
                .map(|mut record| {
                    if let Some(obj) = record.as_object_mut() {
                        if let Some(Value::String(name)) = obj.get_mut("name") {
                            *name = name.to_uppercase();
                        }
                        obj.insert("processed".into(), Value::Bool(true));
                    }
                    json!({ "data": record })
                })
                .collect(),
        )
    }

    /// `options.responseData` with each `id` prefixed `ok-`.
    pub fn post_submit_ids(options: &mut Value) -> Value {
        let mut responses = options["responseData"].take();
        if let Some(items) = responses.as_array_mut() {
            for response in items {
                if let Some(Value::String(id)) = response.get_mut("id") {
                    id.insert_str(0, "ok-");
                }
            }
        }
        responses
    }
}

/// A plugin loaded straight into `runtime` as the `diy` module (no server, no compile cache),
/// for the in-process benchmarks.
pub async fn load_plugin(
    runtime: &host::runtime::Runtime,
    path: impl Into<PathBuf>,
    limits: host::runtime::Limits,
) -> anyhow::Result<std::sync::Arc<host::registry::Plugin>> {
    let path = path.into();
    let module = host::registry::Module::load(
        runtime,
        "diy",
        std::fs::read(&path)?,
        path.display().to_string(),
        &limits,
        &host::registry::Compiler::new(None, None),
    )
    .await?;
    Ok(std::sync::Arc::new(host::registry::Plugin {
        id: "diy".into(),
        file: path,
        module: std::sync::Arc::new(module),
        share: runtime.share_of(&limits),
        network: std::sync::Arc::new(host::egress::NetworkPolicy::deny_all()?),
        steps: std::sync::Arc::new(host::steps::StepPolicy::compile(
            &Default::default(),
            &Default::default(),
            std::time::Duration::from_millis(host::steps::DEFAULT_ANSWER_BUDGET_MS),
        )?),
        scripts: Default::default(),
        limits,
        settings: None,
        loaded_at: std::time::SystemTime::now(),
    }))
}

/// Every log line the in-process servers write, captured once per test binary (plugin lines
/// carry `connector=` and `request_id=` fields). Call before starting the server whose lines
/// you want to see; filter by something unique to your test.
pub fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static LINES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Capture(lines.clone());
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_ansi(false)
                .without_time()
                .with_writer(move || sink.clone())
                .try_init();
            lines
        })
        .clone()
}

#[derive(Clone)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.extend(text.lines().map(str::to_string));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
