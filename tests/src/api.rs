//! A real HTTP(S) server on loopback standing in for the external APIs plugins call: a REST
//! API with pages of records, integrator.io's `GET /v1/integrations/{id}`, and routes that
//! misbehave on purpose (slow, oversized, redirecting). Every request it receives is recorded
//! (method, path, `Host`), so tests can assert what did and did not reach it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The bearer token the API accepts.
pub const API_TOKEN: &str = "api-token-123";
/// The one-time token integrator.io would pass as `bearerToken`.
pub const IO_TOKEN: &str = "io-one-time-token";
/// Records the API serves, 2 per page.
pub const RECORDS: [&str; 5] = ["r1", "r2", "r3", "r4", "r5"];

/// A request the API received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Host` header.
    pub host: String,
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    imported: Arc<Mutex<Vec<Value>>>,
}

/// A running API server; dropped, it stops.
pub struct ApiServer {
    /// Its address (127.0.0.1:port).
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A test certificate authority and a server certificate it signed.
pub struct TestCa {
    /// The CA certificate, PEM (what `network.ca_file` points at).
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A CA and a certificate for `names` (e.g. `api.integrator.io`).
    pub fn new(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "extension-host test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server TLS config");
        Self {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

impl ApiServer {
    /// Starts the API over plain HTTP.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// Starts the API over HTTPS with `ca`'s server certificate.
    pub async fn start_tls(ca: &TestCa) -> Self {
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(ca.server.clone()))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let shared = Shared::default();
        let app = router(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (app, tls) = (app.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r| app.clone().oneshot(r));
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let _ = http.serve_connection(io, service).await;
                            }
                        }
                        None => {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = http.serve_connection(io, service).await;
                        }
                    }
                });
            }
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// Records imported through `POST /records`.
    pub fn imported(&self) -> Vec<Value> {
        self.shared.imported.lock().expect("lock").clone()
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/records", get(records).post(import))
        .route("/v1/integrations/{id}", get(integration))
        .route("/slow", get(slow))
        .route("/big/{bytes}", get(big))
        .route("/stream/{bytes}", get(stream))
        .route("/redirect", get(redirect))
        .route(
            "/private-target",
            get(|| async { "should never be reached" }),
        )
        .route(
            "/host",
            get(|headers: HeaderMap| async move { host_of(&headers) }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    shared.seen.lock().expect("lock").push(Seen {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        host: host_of(request.headers()),
    });
    next.run(request).await
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get_all(header::HOST)
        .iter()
        .map(|v| v.to_str().unwrap_or("?").to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {token}"))
}

async fn ping(headers: HeaderMap) -> StatusCode {
    if authorized(&headers, API_TOKEN) {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn records(
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorized(&headers, API_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let start = (page - 1) * 2;
    let records: Vec<Value> = RECORDS
        .iter()
        .skip(start)
        .take(2)
        .map(|id| json!({"id": id}))
        .collect();
    let next = (start + 2 < RECORDS.len()).then_some(page + 1);
    axum::Json(json!({"records": records, "nextPage": next})).into_response()
}

async fn import(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(record): axum::Json<Value>,
) -> Response {
    if !authorized(&headers, API_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if record["name"].as_str().is_none_or(str::is_empty) {
        return (StatusCode::BAD_REQUEST, "name is required").into_response();
    }
    let mut imported = shared.imported.lock().expect("lock");
    imported.push(record);
    let id = format!("id-{}", imported.len());
    (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
}

async fn integration(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers, IO_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({"_id": id, "name": format!("Integration {id}")})).into_response()
}

/// Answers after a minute: longer than any timeout a test sets.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

/// `bytes` bytes with a declared length.
async fn big(Path(bytes): Path<usize>) -> Vec<u8> {
    vec![b'x'; bytes]
}

/// `bytes` bytes streamed without a declared length.
async fn stream(Path(bytes): Path<usize>) -> Response {
    let chunks = (0..bytes.div_ceil(8192)).map(move |i| {
        let len = 8192.min(bytes - i * 8192);
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(vec![b'y'; len]))
    });
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

/// A redirect to a private address, which the host must not follow.
async fn redirect(Query(query): Query<std::collections::HashMap<String, String>>) -> Response {
    let to = query
        .get("to")
        .cloned()
        .unwrap_or_else(|| "http://10.0.0.1/private-target".into());
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// A local stand-in for integrator.io (`https://api.integrator.io`, HTTPS with a test CA) and a
/// connector's own API (plain HTTP on `localhost`), and a plugins directory whose module may
/// reach both.
pub struct IntegratorApis {
    /// The CA that signed `io`'s certificate.
    pub ca: TestCa,
    /// integrator.io's API, over TLS.
    pub io: ApiServer,
    /// The connector's API, over plain HTTP.
    pub api: ApiServer,
}

impl IntegratorApis {
    /// Starts both servers.
    pub async fn start() -> Self {
        let ca = TestCa::new(&["api.integrator.io"]);
        let io = ApiServer::start_tls(&ca).await;
        let api = ApiServer::start().await;
        Self { ca, io, api }
    }

    /// A plugins directory with `wasm` as `<id>.wasm`, its `[network]` policy allowing
    /// `https://api.integrator.io` (resolved to `io`, trusted through `ca_file`) and the API's
    /// `http://localhost:<port>`.
    pub fn plugins_dir(&self, id: &str, wasm: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("test-ca.pem"), &self.ca.ca_pem).expect("CA file");
        std::fs::copy(wasm, dir.path().join(format!("{id}.wasm"))).expect("module");
        std::fs::write(
            dir.path().join(format!("{id}.toml")),
            format!(
                "[network]\nallowed_hosts = [\"https://api.integrator.io\", \"http://localhost:{}\"]\n\
                 ca_file = \"test-ca.pem\"\nresolve = {{ \"api.integrator.io:443\" = \"127.0.0.1:{}\" }}\n",
                self.api.port(),
                self.io.port()
            ),
        )
        .expect("settings");
        dir
    }
}
