//! Sending one guest request: the policy check, where the connection goes, TLS, the caps, and
//! the one log line per request. This replaces wasmtime-wasi-http's default sender, which
//! would connect wherever the URI points.
//!
//! The destination is decided from the request URI alone (scheme, host, port); the `Host`
//! header and the other connection-level headers are the host's, set from the URI; a guest
//! that sets them has them dropped. Order of decisions: count the request (every request a
//! guest issues counts, allowed or not) → the policy's patterns against the URI as written →
//! the operator's `resolve` entry, else the pattern's literal IP, else DNS, whose answers
//! must all be public unless the pattern names `localhost` → connect → TLS verifying the
//! URI's host name → send → the response body capped while it streams. Redirects are
//! returned to the guest as they are, never followed here.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderName;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::is_restricted;
use super::policy::NetworkPolicy;
use super::scripts::ScriptHook;
use crate::runtime::Tags;

/// Headers that describe the connection rather than the request: the host sets them (or
/// not) itself, and drops a guest's.
pub(super) const MANAGED_HEADERS: [&str; 10] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "http2-settings",
];

/// One call's outbound side: its policy, who it runs for, how many requests it issued, and
/// its connector's response scripts.
pub struct Egress {
    policy: Arc<NetworkPolicy>,
    tags: Tags,
    issued: u64,
    scripts: Option<ScriptHook>,
}

impl Egress {
    /// The egress of one call.
    pub fn new(policy: Arc<NetworkPolicy>, tags: Tags, scripts: Option<ScriptHook>) -> Self {
        Self {
            policy,
            tags,
            issued: 0,
            scripts,
        }
    }

    /// How the call ended, if its response scripts end it.
    pub fn verdict(&self) -> Option<Arc<super::scripts::Verdict>> {
        self.scripts.as_ref().map(|hook| hook.verdict.clone())
    }
}

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Egress {
    fn is_forbidden_header(&mut self, _name: &HeaderName) -> bool {
        // Accepted from the guest, then dropped when sending (see MANAGED_HEADERS): a library
        // that sets `Host` must not fail its request.
        false
    }

    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        self.issued += 1;
        // A response script's retries count too.
        let resent = self.scripts.as_ref().map_or(0, |hook| hook.resent());
        let over_budget = self.issued + resent > self.policy.max_requests_per_call;
        let (policy, tags) = (self.policy.clone(), self.tags.clone());
        let scripted = self.scripts.as_ref().and_then(|hook| {
            let (https, host, port) = destination(&request);
            Some((hook.clone(), hook.rule_for(https, &host, port)?))
        });
        if let Some((hook, rule)) = scripted.filter(|_| !over_budget) {
            let issued = self.issued;
            return Box::new(async move {
                let response = hook.send(rule, policy, request, tags, issued).await?;
                let driver: Driver = Box::new(async { Ok(()) });
                Ok((response, driver))
            });
        }
        Box::new(async move {
            let mut log = Outbound::new(&request, policy.clone(), tags);
            policy.stats.requests.fetch_add(1, Ordering::Relaxed);
            if over_budget {
                return Err(log.fail(Error::HttpRequestDenied, "over max_requests_per_call"));
            }
            match send(&policy, request, &mut log).await {
                Ok((response, driver)) => {
                    let response = response.map(|body| {
                        CappedBody {
                            inner: body,
                            read: 0,
                            cap: policy.max_response_bytes,
                            deadline: Box::pin(tokio::time::sleep_until(log.deadline.into())),
                            log: Some(log),
                        }
                        .boxed_unsync()
                    });
                    Ok((response, driver))
                }
                Err((err, why)) => Err(log.fail(err, why)),
            }
        })
    }
}

type Driver = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// A request the host itself sends under `policy` (a step's callback): the same checks, address
/// rules, TLS, timeouts and log line as a guest's request. The response's status, its body read
/// (up to the policy's cap) and dropped; or the wasi:http error code.
pub async fn host_request(
    policy: Arc<NetworkPolicy>,
    request: http::Request<Bytes>,
    tags: Tags,
) -> Result<u16, String> {
    let request = request.map(|body| {
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync()
    });
    send_buffered(&policy, request, tags)
        .await
        .map(|response| response.status().as_u16())
        .map_err(|err| code_name(&err).to_string())
}

/// Sends `request` under `policy` (counted, checked and logged as a guest's request) and reads
/// the whole response body, capped by the policy and its deadline: for a response the host
/// must see before anyone else does.
pub(super) async fn send_buffered(
    policy: &Arc<NetworkPolicy>,
    request: http::Request<WasiBody>,
    tags: Tags,
) -> Result<http::Response<Bytes>, Error> {
    let mut log = Outbound::new(&request, policy.clone(), tags);
    policy.stats.requests.fetch_add(1, Ordering::Relaxed);
    let (response, driver) = match send(policy, request, &mut log).await {
        Ok(sent) => sent,
        Err((err, why)) => return Err(log.fail(err, why)),
    };
    let (parts, body) = response.into_parts();
    let body = CappedBody {
        inner: body,
        read: 0,
        cap: policy.max_response_bytes,
        deadline: Box::pin(tokio::time::sleep_until(log.deadline.into())),
        log: Some(log),
    };
    let body = body.collect().await.map(|c| c.to_bytes());
    // The connection task ends by itself once the sender and the body are gone.
    drop(driver);
    Ok(http::Response::from_parts(parts, body?))
}

/// Where a request goes: (https, host without brackets, port).
fn destination<B>(request: &http::Request<B>) -> (bool, String, u16) {
    let https = request.uri().scheme() == Some(&Scheme::HTTPS);
    let host = request
        .uri()
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(if https { 443 } else { 80 });
    (https, host, port)
}

async fn send(
    policy: &NetworkPolicy,
    mut request: http::Request<WasiBody>,
    log: &mut Outbound,
) -> Result<(http::Response<hyper::body::Incoming>, Driver), (Error, &'static str)> {
    let https = request.uri().scheme() == Some(&Scheme::HTTPS);
    let host = log.host.clone();
    let port = log.port;
    if host.is_empty() {
        return Err((Error::HttpRequestUriInvalid, "no host in the URI"));
    }
    let Some(pattern) = policy.allows(https, &host, port) else {
        policy.stats.denied.fetch_add(1, Ordering::Relaxed);
        return Err((Error::HttpRequestDenied, "not in network.allowed_hosts"));
    };
    if let Some(bucket) = policy.bucket(https, &host, port) {
        let patience = log.deadline.saturating_duration_since(Instant::now());
        match bucket.take(patience) {
            Some(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
            Some(_) => {}
            None => {
                return Err((
                    Error::ConnectionLimitReached,
                    "over network.rate_limit within the request timeout",
                ));
            }
        }
    }

    let addrs: Vec<SocketAddr> =
        if let Some(to) = policy.resolve.get(&(host.to_ascii_lowercase(), port)) {
            vec![*to]
        } else if let Some(ip) = pattern.literal_ip() {
            vec![SocketAddr::new(ip, port)]
        } else {
            let lookup = tokio::time::timeout_at(
                log.deadline.into(),
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
            .map_err(|_| (Error::DnsTimeout, "resolving the host name"))?;
            let addrs: Vec<SocketAddr> = lookup
                .map_err(|_| {
                    (
                        Error::DnsError {
                            rcode: Some("name not resolved".into()),
                            info_code: None,
                        },
                        "resolving the host name",
                    )
                })?
                .collect();
            let localhost = pattern.is_localhost();
            if addrs
                .iter()
                .any(|a| is_restricted(a.ip()) && !(localhost && a.ip().is_loopback()))
            {
                policy.stats.denied.fetch_add(1, Ordering::Relaxed);
                return Err((
                    Error::DestinationIpProhibited,
                    "the name resolves to a non-public address",
                ));
            }
            addrs
        };
    if addrs.is_empty() {
        return Err((Error::DestinationNotFound, "the name has no address"));
    }

    let connecting = async {
        let tcp = TcpStream::connect(&addrs[..]).await.map_err(|err| {
            let code = match err.kind() {
                std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
                _ => Error::DestinationUnavailable,
            };
            (code, "connecting")
        })?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| (Error::HttpRequestUriInvalid, "not a TLS server name"))?;
            let connector = tokio_rustls::TlsConnector::from(policy.tls.clone());
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|err| (tls_error(&err), "TLS handshake"))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|_| (Error::HttpProtocolError, "HTTP handshake"))
    };
    let (mut sender, connection) = tokio::time::timeout_at(log.deadline.into(), connecting)
        .await
        .map_err(|_| (Error::ConnectionTimeout, "connecting"))??;
    let driver = tokio::spawn(connection);

    // The request line carries only the path; the authority travels in `Host`, from the URI.
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .map_err(|_| (Error::HttpRequestUriInvalid, "the path"))?;
    *request.uri_mut() = path;
    let headers = request.headers_mut();
    for name in MANAGED_HEADERS {
        headers.remove(name);
    }
    if let Ok(value) = http::HeaderValue::from_str(&authority) {
        headers.insert(http::header::HOST, value);
    }

    let response = tokio::time::timeout_at(log.deadline.into(), sender.send_request(request))
        .await
        .map_err(|_| (Error::HttpResponseTimeout, "waiting for the response"))?
        .map_err(|err| {
            let code = if err.is_incomplete_message() {
                Error::HttpResponseIncomplete
            } else {
                Error::HttpProtocolError
            };
            (code, "sending the request")
        })?;
    if let Some(len) = declared_length(&response)
        && len > policy.max_response_bytes
    {
        driver.abort();
        return Err((
            Error::HttpResponseBodySize(Some(len)),
            "declared body over network.max_response_bytes",
        ));
    }
    log.status = Some(response.status().as_u16());
    let driver: Driver = Box::new(async move {
        let _ = driver.await;
        Ok(())
    });
    Ok((response, driver))
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

fn declared_length<B>(response: &http::Response<B>) -> Option<u64> {
    response
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `TLS-certificate-error` where rustls says the certificate is the problem.
fn tls_error(err: &std::io::Error) -> Error {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// The wasi:http name of an error code, for the log.
fn code_name(err: &Error) -> &'static str {
    match err {
        Error::HttpRequestDenied => "HTTP-request-denied",
        Error::DestinationIpProhibited => "destination-IP-prohibited",
        Error::DestinationNotFound => "destination-not-found",
        Error::DestinationUnavailable => "destination-unavailable",
        Error::ConnectionRefused => "connection-refused",
        Error::ConnectionTimeout => "connection-timeout",
        Error::DnsTimeout => "DNS-timeout",
        Error::DnsError { .. } => "DNS-error",
        Error::TlsCertificateError => "TLS-certificate-error",
        Error::TlsAlertReceived { .. } => "TLS-alert-received",
        Error::TlsProtocolError => "TLS-protocol-error",
        Error::HttpResponseTimeout => "HTTP-response-timeout",
        Error::HttpResponseBodySize(_) => "HTTP-response-body-size",
        Error::HttpResponseIncomplete => "HTTP-response-incomplete",
        Error::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        Error::ConnectionLimitReached => "connection-limit-reached",
        _ => "HTTP-protocol-error",
    }
}

/// One outbound request, logged once when it ends: connector, request id, method,
/// `scheme://host:port`, status or error code, bytes and ms. Never the path, the query, the
/// headers or a body: tokens travel there.
struct Outbound {
    policy: Arc<NetworkPolicy>,
    tags: Tags,
    method: String,
    scheme: &'static str,
    host: String,
    port: u16,
    started: Instant,
    deadline: Instant,
    status: Option<u16>,
}

impl Outbound {
    fn new<B>(request: &http::Request<B>, policy: Arc<NetworkPolicy>, tags: Tags) -> Self {
        let (https, host, port) = destination(request);
        let started = Instant::now();
        Self {
            deadline: started + Duration::from_millis(policy.request_timeout_ms),
            policy,
            tags,
            method: request.method().to_string(),
            scheme: if https { "https" } else { "http" },
            host,
            port,
            started,
            status: None,
        }
    }

    fn fail(self, err: Error, why: &str) -> Error {
        self.finish(code_name(&err), 0, why);
        err
    }

    fn finish(&self, outcome: &str, bytes: u64, detail: &str) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.policy.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.policy.stats.ms.fetch_add(ms, Ordering::Relaxed);
        tracing::info!(
            connector = &*self.tags.connector,
            request_id = &*self.tags.request_id,
            method = %self.method,
            destination = %format_args!("{}://{}:{}", self.scheme, display_host(&self.host), self.port),
            outcome,
            bytes,
            ms,
            detail,
            "outbound request"
        );
    }
}

fn display_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// A response body cut at `network.max_response_bytes` and at the request's deadline, which
/// logs the request when the guest is done with it.
struct CappedBody {
    inner: hyper::body::Incoming,
    read: u64,
    cap: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    log: Option<Outbound>,
}

impl CappedBody {
    /// The response's status, as the log's outcome.
    fn status(&self) -> String {
        self.log
            .as_ref()
            .and_then(|l| l.status)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    fn end(&mut self, outcome: &str, detail: &str) {
        if let Some(log) = self.log.take() {
            log.finish(outcome, self.read, detail);
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.log.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.read += len;
                if self.read > self.cap {
                    let cap = self.cap;
                    self.end(
                        "HTTP-response-body-size",
                        "body over network.max_response_bytes",
                    );
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(cap)))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(_))) => {
                self.end("HTTP-response-incomplete", "reading the body");
                Poll::Ready(Some(Err(Error::HttpResponseIncomplete)))
            }
            Poll::Ready(None) => {
                let status = self.status();
                self.end(&status, "");
                Poll::Ready(None)
            }
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    self.end("HTTP-response-timeout", "reading the body");
                    return Poll::Ready(Some(Err(Error::HttpResponseTimeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CappedBody {
    fn drop(&mut self) {
        let status = self.status();
        self.end(&status, "body not read to the end");
    }
}
