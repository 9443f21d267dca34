//! Starts the metrics server (`crate::metrics`) when configured: binds it
//! before the filter is attached (the filter opens the port it got), and
//! serves once the filter can register its connections.
//!
//! A metrics server that cannot start is an ERROR, not a stopped daemon:
//! the mesh and the filter matter more than the figures, and an app that
//! took the port first must not be able to keep the sidecar down. The
//! filter then keeps the port closed.

use std::sync::Arc;

use tracing::{error, info, warn};

use crate::config::Config;
use crate::metrics::{self, MetricsServer, Publisher, ServerStats, Sources};

use super::hooks::Firewall;
use super::shutdown::Shutdown;

/// Binds the configured metrics address (marked for the filter when
/// enforcement is on); `None` when not configured or it failed.
pub(crate) fn bind(config: &Config) -> Option<MetricsServer> {
    let addr = config.metrics?;
    match MetricsServer::bind(addr, config.enforce.enabled) {
        Ok(server) => Some(server),
        Err(e) => {
            error!(error = %e, "no metrics server");
            None
        }
    }
}

/// Serves `server` on its own thread; the publisher goes to the node task.
pub(crate) fn start(
    server: Option<MetricsServer>,
    firewall: &mut Firewall,
    shutdown: &Shutdown,
) -> Option<Publisher> {
    let server = server?;
    let addr = server.local_addr();
    let conns = match firewall.metrics_conns() {
        Ok(conns) => conns,
        Err(e) => {
            // Without the set no connection of ours could leave eth0.
            error!(error = %e, "no metrics server: the filter's connection map is unavailable");
            return None;
        }
    };
    let (publisher, figures) = Publisher::new();
    let sources = Sources {
        node: figures,
        firewall_iface: firewall.iface().map(str::to_string),
        server: Arc::new(ServerStats::default()),
    };
    let stats = sources.server.clone();
    let filtered = conns.is_some();
    let registry = metrics::registry(sources);
    match server.spawn(registry, stats, conns, shutdown.token()) {
        Ok(_) => {
            info!(%addr, through_filter = filtered, "metrics server listening (GET /metrics)");
            Some(publisher)
        }
        Err(e) => {
            warn!(error = %e, "no metrics server");
            None
        }
    }
}
