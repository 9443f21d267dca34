//! The metrics HTTP server: `GET /metrics` on its own thread and runtime,
//! so a scrape never runs on the node task's thread.
//!
//! hyper serves each connection; the accept loop is ours because the
//! filter needs to know every accepted socket: with enforcement on, each
//! connection's socket cookie goes into the classifier's `FIPS_METRICS`
//! map before a byte is answered and leaves it a few seconds after the
//! connection closes (its FIN and last ACKs still leave through the same
//! socket). Open connections are capped at [`MAX_OPEN`], and a connection
//! lives at most [`MAX_LIFETIME`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::encode::{self, ServerStats};
use super::MetricsError;
use crate::daemon::ShutdownToken;
use crate::enforce::{socket_cookie, MetricsConns};

/// Connections served at once; more are closed at accept. Prometheus keeps
/// one open per target.
pub const MAX_OPEN: usize = 16;
/// A connection is closed after this, keep-alive or not (a client that
/// never leaves cannot hold a slot for good).
pub const MAX_LIFETIME: Duration = Duration::from_secs(120);
/// A request's headers must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closed connection's cookie stays allowed: its FIN, the
/// retransmission of unacknowledged data, and the last ACKs.
pub const LINGER: Duration = Duration::from_secs(5);

/// A bound metrics listener, not yet serving.
pub struct MetricsServer {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr`; with `mark`, the listener carries
    /// `fips_common::METRICS_MARK` (accepted sockets inherit it), which
    /// the netfilter backstop requires (needs CAP_NET_ADMIN).
    pub fn bind(addr: SocketAddr, mark: bool) -> Result<MetricsServer, MetricsError> {
        use socket2::{Domain, Protocol, Socket, Type};
        let bind_err = |source| MetricsError::Bind { addr, source };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(bind_err)?;
        if mark {
            socket
                .set_mark(fips_common::METRICS_MARK)
                .map_err(|source| MetricsError::Mark { source })?;
        }
        socket.set_reuse_address(true).map_err(bind_err)?;
        socket.set_nonblocking(true).map_err(bind_err)?;
        socket.bind(&addr.into()).map_err(bind_err)?;
        socket.listen(64).map_err(bind_err)?;
        let listener: std::net::TcpListener = socket.into();
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok(MetricsServer { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves on a thread of its own until `stop`. `conns`: the filter's
    /// set of connections allowed out (enforcement on), or none.
    pub fn spawn(
        self,
        registry: Registry,
        stats: Arc<ServerStats>,
        conns: Option<MetricsConns>,
        stop: ShutdownToken,
    ) -> Result<std::thread::JoinHandle<()>, MetricsError> {
        let thread = |source| MetricsError::Thread { source };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(thread)?;
        let shared = Shared {
            registry: Arc::new(registry),
            stats,
            conns: conns.map(|c| Arc::new(Mutex::new(c))),
        };
        let listener = self.listener;
        std::thread::Builder::new()
            .name("fips-metrics".into())
            .spawn(move || {
                rt.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => serve(l, shared, stop).await,
                        Err(e) => warn!(error = %e, "metrics server stopped"),
                    }
                })
            })
            .map_err(thread)
    }
}

#[derive(Clone)]
struct Shared {
    registry: Arc<Registry>,
    stats: Arc<ServerStats>,
    conns: Option<Arc<Mutex<MetricsConns>>>,
}

async fn serve(listener: TcpListener, shared: Shared, stop: ShutdownToken) {
    while let Some(accepted) = stop.run_until_cancelled(listener.accept()).await {
        match accepted {
            Ok((stream, peer)) => admit(stream, peer, &shared),
            Err(e) => {
                // Out of descriptors, or a connection reset before
                // accept: not the listener's end.
                debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Registers the connection with the filter and serves it, or closes it
/// when over the limit.
fn admit(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let stats = &shared.stats;
    if stats.open.load(Ordering::Relaxed) >= MAX_OPEN {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        debug!(%peer, "metrics connection refused: {MAX_OPEN} already open");
        return;
    }
    let cookie = match &shared.conns {
        None => None,
        Some(conns) => match register(conns, &stream) {
            Ok(cookie) => Some(cookie),
            Err(e) => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                debug!(%peer, error = %e, "metrics connection refused");
                return;
            }
        },
    };
    stats.open.fetch_add(1, Ordering::Relaxed);
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    tokio::spawn(async move {
        serve_one(stream, shared.registry.clone()).await;
        shared.stats.open.fetch_sub(1, Ordering::Relaxed);
        if let (Some(conns), Some(cookie)) = (shared.conns, cookie) {
            tokio::time::sleep(LINGER).await;
            lock(&conns).remove(cookie);
        }
    });
}

fn register(conns: &Mutex<MetricsConns>, stream: &TcpStream) -> Result<u64, String> {
    let cookie = socket_cookie(stream).map_err(|e| format!("SO_COOKIE: {e}"))?;
    lock(conns).insert(cookie).map_err(|e| e.to_string())?;
    Ok(cookie)
}

fn lock(conns: &Mutex<MetricsConns>) -> std::sync::MutexGuard<'_, MetricsConns> {
    // A panic while holding it cannot leave the map inconsistent (each
    // call is one syscall), so a poisoned lock is still usable.
    conns.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve_one(stream: TcpStream, registry: Arc<Registry>) {
    let service = hyper::service::service_fn(move |req| {
        let registry = registry.clone();
        async move { Ok::<_, Infallible>(respond(&req, &registry)) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(MAX_LIFETIME, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "metrics connection ended"),
        Err(_) => debug!("metrics connection closed after {MAX_LIFETIME:?}"),
    }
}

/// `GET /metrics` (or HEAD); anything else gets 404 or 405.
pub(crate) fn respond(req: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    answer(req.method(), req.uri().path(), registry)
}

fn answer(method: &Method, path: &str, registry: &Registry) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    if path != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "only /metrics is served here\n".into(),
        );
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match encode::render(registry) {
        Ok(text) => {
            let mut r = reply(StatusCode::OK, text);
            r.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(encode::CONTENT_TYPE),
            );
            r
        }
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding failed\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_the_metrics_path_are_answered() {
        let registry = Registry::default();
        let status = |m: Method, p: &str| answer(&m, p, &registry).status();
        assert_eq!(status(Method::GET, "/metrics"), StatusCode::OK);
        assert_eq!(status(Method::HEAD, "/metrics"), StatusCode::OK);
        assert_eq!(status(Method::GET, "/"), StatusCode::NOT_FOUND);
        assert_eq!(
            status(Method::POST, "/metrics"),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn the_answer_carries_the_text_format_content_type() {
        let r = answer(&Method::GET, "/metrics", &Registry::default());
        assert_eq!(r.headers()[CONTENT_TYPE], encode::CONTENT_TYPE);
    }
}
