//! Prometheus metrics, opt-in (`metrics.bind_addr`, `FIPS_METRICS_ADDR`).
//!
//! The node task copies its figures out once per stats tick
//! ([`Publisher::publish`], a `watch` channel); the metrics server reads
//! the latest copy on its own thread, with the DNS counters (atomics), the
//! filter's counters (pinned maps) and its own, and encodes them with
//! prometheus-client. A scrape never sends the node task a request, and
//! costs it nothing but the one copy per second, whatever the scrape rate.
//!
//! With enforcement on, the server's port is opened in the eth0 filter and
//! only its own connections may send (see `server.rs` and
//! `fips-ebpf/src/metrics.rs`). This module must not touch the `Node`
//! beyond reading it in `snapshot.rs`.

pub mod encode;
pub mod server;
pub mod snapshot;

pub use encode::{registry, render, ServerStats, Sources};
pub use server::MetricsServer;
pub use snapshot::{NodeFigures, Publisher, MAX_LABELLED_PEERS};

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "cannot listen for metrics on {addr}: {source} (another process holds the port? \
         choose another metrics.bind_addr / FIPS_METRICS_ADDR)"
    )]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot mark the metrics listener (SO_MARK, needs CAP_NET_ADMIN, which enforcement \
         needs too): {source}"
    )]
    Mark {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the metrics thread: {source}")]
    Thread {
        #[source]
        source: std::io::Error,
    },
}
