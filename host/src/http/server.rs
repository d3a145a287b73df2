//! The connection layer: accepts TCP connections and serves the router over HTTP/1.1 on each,
//! with the hygiene a server facing the internet needs and `axum::serve` does not offer:
//!
//! - a cap on open connections (`max_connections`): past it, new connections wait in the
//!   kernel's backlog instead of exhausting file descriptors (the soft descriptor limit is
//!   raised to the hard one at start, [`raise_fd_limit`]);
//! - a header-read timeout: a request's head must be complete within `header_read_timeout`
//!   of its first byte, so half-sent headers do not hold a connection;
//! - an idle keep-alive timeout: a connection with no request in progress is closed after
//!   `idle_timeout`;
//! - (the body-read timeout lives with the body reader, `routes::read_body`);
//! - graceful shutdown: stop accepting, let each connection finish the request it is serving,
//!   close idle ones, and return once all have closed.
//!
//! It also counts open connections for `GET /openConnections`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
/// Default time a request head may take from its first byte.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time a request body may take after its head.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 60_000;
/// Default idle keep-alive timeout: above the 60 s idle timeout of common load balancers, so
/// the balancer, not the host, closes first (a host closing first races the balancer's next
/// request on that connection).
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 65_000;
/// File descriptors kept out of the connection cap: plugin files, the compile cache, the
/// watcher, outbound requests.
const RESERVED_FDS: u64 = 256;

/// The connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Open connections at most.
    pub max_connections: u64,
    /// Time from a request head's first byte to its end.
    pub header_read_timeout: Duration,
    /// Time from a request head's end to its body's end.
    pub body_read_timeout: Duration,
    /// Time a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(DEFAULT_BODY_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
        }
    }
}

/// Open connections, shared with the routes.
#[derive(Debug, Default)]
pub struct ConnectionCount(AtomicUsize);

impl ConnectionCount {
    /// Connections open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Raises the soft open-files limit to the hard one, and returns the soft limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn run(
    listener: TcpListener,
    app: Router,
    settings: ConnectionSettings,
    count: Arc<ConnectionCount>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fds = raise_fd_limit().unwrap_or(1024);
    let cap = settings
        .max_connections
        .min(fds.saturating_sub(RESERVED_FDS).max(1))
        .min(Semaphore::MAX_PERMITS as u64) as u32;
    if u64::from(cap) < settings.max_connections {
        tracing::warn!(
            max_connections = settings.max_connections,
            applied = cap,
            open_files_limit = fds,
            "connection cap lowered to fit the open-files limit"
        );
    }
    let slots = Arc::new(Semaphore::new(cap as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (app, count, stop) = (app.clone(), count.clone(), stop_rx.clone());
        tokio::spawn(async move {
            count.0.fetch_add(1, Ordering::Relaxed);
            serve_connection(stream, peer, app, settings, stop).await;
            count.0.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it has closed: having them all back means drained.
    let _ = slots.acquire_many(cap).await;
    Ok(())
}

/// Where a connection is in its request cycle, for the timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in progress since this instant.
    Idle(Instant),
    /// A request head started arriving at this instant.
    Head(Instant),
    /// This many requests are being served.
    Busy(usize),
}

/// A connection's phase, and a wake-up for its watchdog whenever the phase changes (so a new
/// deadline is armed at once, not when the old one expires).
#[derive(Debug)]
struct PhaseCell {
    phase: Mutex<Phase>,
    changed: tokio::sync::Notify,
}

type Shared = Arc<PhaseCell>;

impl PhaseCell {
    fn get(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn set(cell: &Shared, update: impl FnOnce(Phase) -> Phase) {
    let mut p = cell.phase.lock().unwrap_or_else(|e| e.into_inner());
    let next = update(*p);
    let moved = std::mem::discriminant(&next) != std::mem::discriminant(&*p);
    *p = next;
    drop(p);
    if moved {
        cell.changed.notify_one();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    settings: ConnectionSettings,
    mut stop: watch::Receiver<bool>,
) {
    let phase: Shared = Arc::new(PhaseCell {
        phase: Mutex::new(Phase::Idle(Instant::now())),
        changed: tokio::sync::Notify::new(),
    });
    let io = Watched {
        inner: stream,
        phase: phase.clone(),
    };
    let service_phase = phase.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let (app, phase) = (app.clone(), service_phase.clone());
        set(&phase, |p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let response = app.oneshot(request).await;
            set(&phase, |p| match p {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            });
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        let expiry = match phase.get() {
            Phase::Idle(since) => Some((since + settings.idle_timeout, "idle")),
            Phase::Head(since) => Some((since + settings.header_read_timeout, "header read")),
            Phase::Busy(_) => None,
        };
        let sleep = async {
            match expiry {
                Some((at, _)) => tokio::time::sleep_until(at.into()).await,
                // Busy: nothing expires until the phase changes.
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = phase.changed.notified() => {}
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = sleep => {
                let now = Instant::now();
                if let Some((_, what)) = expiry.filter(|(at, _)| now >= *at) {
                    tracing::debug!(%peer, timeout = what, "closing connection");
                    return;
                }
            }
        }
    }
}

/// The TCP stream, noting when a request head starts arriving on an idle connection.
struct Watched {
    inner: TcpStream,
    phase: Shared,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            set(&self.phase, |p| match p {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
