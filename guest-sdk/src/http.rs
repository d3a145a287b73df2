//! Outbound HTTP(S) from a plugin: a small blocking client over `wasi:http`.
//!
//! ```ignore
//! use extension_sdk::http;
//!
//! let page = http::get("https://api.example.com/records?page=1")
//!     .bearer(&token)
//!     .send()?
//!     .error_for_status()?
//!     .json::<serde_json::Value>()?;
//! let created = http::post_json("https://api.example.com/records", &record)?.send()?;
//! ```
//!
//! The host decides where a plugin may connect (the operator's `[network]` policy); a refused
//! request fails with an [`Error`] whose `code` is the `wasi:http` error code, e.g.
//! `HTTP-request-denied` or `destination-IP-prohibited`. Redirects are returned as they are
//! (status 3xx with `location`), never followed. `?` turns an [`Error`] into a [`FnError`]
//! with the same code and message.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::FnError;

/// Bytes written to the request body per write (wasi's `blocking-write-and-flush` takes at
/// most 4096).
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Why a request failed: the `wasi:http` error code (or `invalid-url`, `not-json`, `status`)
/// and a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// A stable code: `HTTP-request-denied`, `connection-refused`, `invalid-url`, …
    pub code: String,
    /// What happened, for a person.
    pub message: String,
}

impl Error {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The URL in messages goes without its query: tokens travel there.
    fn wasi(code: &ErrorCode, url: &str) -> Self {
        let name = code_name(code);
        let url = url.split(['?', '#']).next().unwrap_or(url);
        Self::new(name, format!("request to {url} failed: {name}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

impl From<Error> for FnError {
    fn from(err: Error) -> Self {
        FnError::new(err.code, err.message)
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// A `GET` request.
pub fn get(url: &str) -> Request {
    Request::new("GET", url)
}

/// A `POST` request.
pub fn post(url: &str) -> Request {
    Request::new("POST", url)
}

/// A `POST` request with `value` as its JSON body.
pub fn post_json(url: &str, value: &impl Serialize) -> Result<Request, Error> {
    post(url).json(value)
}

impl Request {
    /// A request with any method (`PUT`, `PATCH`, `DELETE`, …).
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// `Authorization: Bearer <token>` (integrator.io's one-time `bearerToken`, an API key).
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// The body, as bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body, with `content-type: application/json`.
    pub fn json(self, value: &impl Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::new("not-json", e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, Error> {
        let url = Url::parse(&self.url)?;
        let fields: Vec<(String, Vec<u8>)> = self.headers;
        let headers = Fields::from_list(&fields)
            .map_err(|e| Error::new("invalid-header", format!("{e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let method = match self.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        let invalid = |what: &str| Error::new("invalid-url", format!("{what} of {}", self.url));
        request
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&if url.https {
                Scheme::Https
            } else {
                Scheme::Http
            }))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(&url.authority))
            .map_err(|()| invalid("authority"))?;
        request
            .set_path_with_query(Some(&url.path))
            .map_err(|()| invalid("path"))?;
        let body = request
            .body()
            .map_err(|()| Error::new("internal", "request body taken twice"))?;
        let pending = outgoing_handler::handle(request, None)
            .map_err(|code| Error::wasi(&code, &self.url))?;
        {
            let stream = body
                .write()
                .map_err(|()| Error::new("internal", "request body stream taken twice"))?;
            for chunk in self.body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| stream_error(e, &self.url))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|code| Error::wasi(&code, &self.url))?;
        let response = loop {
            match pending.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(Error::wasi(&code, &self.url)),
                Some(Err(())) => return Err(Error::new("internal", "response taken twice")),
                None => pending.subscribe().block(),
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| Error::new("internal", "response body taken twice"))?;
        let body = read_all(&incoming, &self.url)?;
        drop(incoming);
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn read_all(incoming: &IncomingBody, url: &str) -> Result<Vec<u8>, Error> {
    let stream = incoming
        .stream()
        .map_err(|()| Error::new("internal", "response stream taken twice"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(err) => return Err(stream_error(err, url)),
        }
    }
}

fn stream_error(err: StreamError, url: &str) -> Error {
    let code = match err {
        StreamError::Closed => ErrorCode::ConnectionTerminated,
        StreamError::LastOperationFailed(io) => match wasip2::http::types::http_error_code(&io) {
            Some(code) => code,
            // A body that failed while streaming carries the host's error without the
            // `http-error-code` downcast; its debug text names the code.
            None => body_error_code(&io.to_debug_string()),
        },
    };
    Error::wasi(&code, url)
}

fn body_error_code(debug: &str) -> ErrorCode {
    let text = debug.to_ascii_lowercase();
    if text.contains("body size") || text.contains("bodysize") {
        ErrorCode::HttpResponseBodySize(None)
    } else if text.contains("timeout") {
        ErrorCode::HttpResponseTimeout
    } else if text.contains("incomplete") {
        ErrorCode::HttpResponseIncomplete
    } else {
        ErrorCode::HttpProtocolError
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                "not-json",
                format!(
                    "the response (status {}) is not the JSON expected: {e}",
                    self.status
                ),
            )
        })
    }

    /// This response if its status is 2xx, else an error with code `status` naming it.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(Error::new(
                "status",
                format!(
                    "the server answered {}: {}",
                    self.status,
                    truncated(&self.text(), 512)
                ),
            ))
        }
    }
}

fn truncated(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

struct Url {
    https: bool,
    authority: String,
    path: String,
}

impl Url {
    fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::new("invalid-url", format!("{url:?}: {why}"));
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("the scheme must be http or https"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("no host, or credentials in the URL"));
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Self {
            https,
            authority: authority.to_string(),
            path,
        })
    }
}

/// The `wasi:http` name of an error code.
fn code_name(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::DnsTimeout => "DNS-timeout",
        ErrorCode::DnsError(_) => "DNS-error",
        ErrorCode::DestinationNotFound => "destination-not-found",
        ErrorCode::DestinationUnavailable => "destination-unavailable",
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited",
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable",
        ErrorCode::ConnectionRefused => "connection-refused",
        ErrorCode::ConnectionTerminated => "connection-terminated",
        ErrorCode::ConnectionTimeout => "connection-timeout",
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout",
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout",
        ErrorCode::ConnectionLimitReached => "connection-limit-reached",
        ErrorCode::TlsProtocolError => "TLS-protocol-error",
        ErrorCode::TlsCertificateError => "TLS-certificate-error",
        ErrorCode::TlsAlertReceived(_) => "TLS-alert-received",
        ErrorCode::HttpRequestDenied => "HTTP-request-denied",
        ErrorCode::HttpRequestLengthRequired => "HTTP-request-length-required",
        ErrorCode::HttpRequestBodySize(_) => "HTTP-request-body-size",
        ErrorCode::HttpRequestMethodInvalid => "HTTP-request-method-invalid",
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        ErrorCode::HttpRequestUriTooLong => "HTTP-request-URI-too-long",
        ErrorCode::HttpRequestHeaderSectionSize(_) => "HTTP-request-header-section-size",
        ErrorCode::HttpRequestHeaderSize(_) => "HTTP-request-header-size",
        ErrorCode::HttpRequestTrailerSectionSize(_) => "HTTP-request-trailer-section-size",
        ErrorCode::HttpRequestTrailerSize(_) => "HTTP-request-trailer-size",
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete",
        ErrorCode::HttpResponseHeaderSectionSize(_) => "HTTP-response-header-section-size",
        ErrorCode::HttpResponseHeaderSize(_) => "HTTP-response-header-size",
        ErrorCode::HttpResponseBodySize(_) => "HTTP-response-body-size",
        ErrorCode::HttpResponseTrailerSectionSize(_) => "HTTP-response-trailer-section-size",
        ErrorCode::HttpResponseTrailerSize(_) => "HTTP-response-trailer-size",
        ErrorCode::HttpResponseTransferCoding(_) => "HTTP-response-transfer-coding",
        ErrorCode::HttpResponseContentCoding(_) => "HTTP-response-content-coding",
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout",
        ErrorCode::HttpUpgradeFailed => "HTTP-upgrade-failed",
        ErrorCode::HttpProtocolError => "HTTP-protocol-error",
        ErrorCode::LoopDetected => "loop-detected",
        ErrorCode::ConfigurationError => "configuration-error",
        ErrorCode::InternalError(_) => "internal-error",
    }
}
