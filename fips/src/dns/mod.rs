//! The embedded `.fips` DNS server, built on hickory-server.
//!
//! It owns the sockets of the DNS listener (UDP and TCP on one port) and the
//! answers: `<npub>.fips` and `<name>.fips` (hosts file, peer aliases) AAAA,
//! PTR for their fd00::/8 addresses, SOA/NS for the zones. Every identity it
//! names is sent to the node (`on_identity`) before the answer leaves, so
//! the first packet to that address can be routed. Other names are refused,
//! or forwarded when an upstream is configured: no DNS leaves the namespace
//! unless the operator asked for it. It does not touch the node itself.
//!
//! Use: `DnsServer::bind(cfg, tx).await?` (sockets bound and answering when
//! it returns, so the daemon can report ready), then `server.run(shutdown)`.

mod answer;
pub(crate) mod forward;
mod handler;
mod hosts;
mod names;
mod offline;
pub mod stats;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tracing::info;

pub use answer::TTL;
pub use fips_proto::identity::PeerIdentity;
pub use names::NameBook;
pub use offline::Responder;

use forward::Upstream;
use handler::FipsHandler;

/// Where the sidecar listens unless told otherwise.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);
pub const DEFAULT_HOSTS_FILE: &str = "/etc/fips/hosts";
/// TCP connections idle longer than this are closed.
const TCP_IDLE: Duration = Duration::from_secs(5);
/// Outbound answers queued per TCP connection.
const TCP_QUEUE: usize = 16;
/// Attempts at finding a port free for both UDP and TCP when port 0 is asked.
const EPHEMERAL_TRIES: usize = 16;

#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// UDP and TCP listen address (`dns.bind_addr`, `dns.port`). Port 0
    /// picks a free port, the same for both.
    pub bind: SocketAddr,
    /// `dns.upstream` / `FIPS_DNS_UPSTREAM`: where other names go. None
    /// (the default) refuses them.
    pub upstream: Option<SocketAddr>,
    /// How long one forwarded query may take before SERVFAIL.
    pub upstream_timeout: Duration,
    pub hosts_file: PathBuf,
    /// Configured peers' aliases (`peers[].alias`).
    pub aliases: Vec<(String, PeerIdentity)>,
    /// Requests handled at once; more are dropped.
    pub max_in_flight: usize,
    /// Forwards in flight at once; more get SERVFAIL.
    pub max_forwards: usize,
    /// A name nobody asked for in this long is forgotten
    /// (`node.identity_idle_secs`).
    pub name_idle: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            bind: DEFAULT_BIND,
            upstream: None,
            upstream_timeout: Duration::from_secs(2),
            hosts_file: PathBuf::from(DEFAULT_HOSTS_FILE),
            aliases: Vec::new(),
            max_in_flight: crate::limits::DNS_IN_FLIGHT,
            max_forwards: crate::limits::DNS_FORWARDS,
            name_idle: fips_proto::limits::IDENTITY_IDLE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(
        "cannot bind the DNS {protocol} socket to {addr} (is another DNS server running there?)"
    )]
    Bind {
        protocol: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the DNS server stopped unexpectedly")]
    Serve {
        #[source]
        source: hickory_server::net::NetError,
    },
    #[error("{given:?} is not a DNS upstream: expected an IP address with an optional port, e.g. 127.0.0.11:53")]
    BadUpstream { given: String },
}

/// Parses `dns.upstream` / `FIPS_DNS_UPSTREAM`: `IP`, `IP:port`, `[IPv6]:port`.
pub fn parse_upstream(given: &str) -> Result<SocketAddr, DnsError> {
    let s = given.trim();
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| DnsError::BadUpstream {
            given: given.to_owned(),
        })
}

pub struct DnsServer {
    server: Server<FipsHandler>,
    local_addr: SocketAddr,
    book: Arc<NameBook>,
    name_idle: Duration,
}

impl DnsServer {
    /// Binds UDP and TCP and starts answering on the current tokio runtime.
    pub async fn bind(
        cfg: DnsConfig,
        on_identity: mpsc::Sender<PeerIdentity>,
    ) -> Result<DnsServer, DnsError> {
        let (udp, tcp) = bind_both(cfg.bind).await?;
        let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            protocol: "UDP",
            addr: cfg.bind,
            source,
        })?;
        let book = Arc::new(NameBook::new(cfg.hosts_file.clone(), &cfg.aliases));
        let handler = FipsHandler {
            book: Arc::clone(&book),
            upstream: cfg.upstream.map(|addr| Upstream {
                addr,
                timeout: cfg.upstream_timeout,
            }),
            on_identity,
            in_flight: Semaphore::new(cfg.max_in_flight.max(1)),
            forwards: Semaphore::new(cfg.max_forwards.max(1)),
        };
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, TCP_QUEUE);
        info!(addr = %local_addr, upstream = ?cfg.upstream, "DNS listening (UDP and TCP)");
        Ok(DnsServer {
            server,
            local_addr,
            book,
            name_idle: cfg.name_idle,
        })
    }

    /// The bound address (UDP and TCP share the port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then closes the sockets.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DnsError> {
        let sweep = sweep_idle_names(Arc::clone(&self.book), self.name_idle);
        tokio::select! {
            never = sweep => match never {},
            result = self.server.block_until_done() => result.map_err(|source| DnsError::Serve { source }),
            () = shutdown => self.server.shutdown_gracefully().await.map_err(|source| DnsError::Serve { source }),
        }
    }
}

/// Forgets idle names every quarter of the idle time (1 s to 60 s), as
/// the node sweeps its identity cache.
async fn sweep_idle_names(book: Arc<NameBook>, idle: Duration) -> std::convert::Infallible {
    let every = fips_proto::limits::identity_sweep_every(idle);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        book.expire_idle(std::time::Instant::now(), idle);
    }
}

async fn bind_both(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let tries = if addr.port() == 0 { EPHEMERAL_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                protocol: "UDP",
                addr,
                source,
            })?;
        let port_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            protocol: "UDP",
            addr,
            source,
        })?;
        match TcpListener::bind(port_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) => {
                last = Some(DnsError::Bind {
                    protocol: "TCP",
                    addr: port_addr,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or(DnsError::Bind {
        protocol: "TCP",
        addr,
        source: io::ErrorKind::AddrInUse.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_accepts_ip_with_or_without_port() {
        assert_eq!(
            parse_upstream("127.0.0.11").ok(),
            Some("127.0.0.11:53".parse().expect("lit"))
        );
        assert_eq!(
            parse_upstream(" 10.0.0.1:5353 ").ok(),
            Some("10.0.0.1:5353".parse().expect("lit"))
        );
        assert_eq!(
            parse_upstream("::1").ok(),
            Some("[::1]:53".parse().expect("lit"))
        );
        let err = parse_upstream("dns.google").expect_err("names are not addresses");
        assert!(err.to_string().contains("expected an IP address"));
    }
}
