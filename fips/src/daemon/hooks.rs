//! Integration points for the teammates' modules: `fips::dns` (the .fips
//! DNS server) and `fips::enforce` (the eth0 eBPF filter). Each is started
//! here, before the daemon reports ready.
//!
//! Enforcement is meant to fail closed: once wired, a filter that cannot
//! be attached stops the daemon before ready.

use serde_json::json;
use tokio::sync::mpsc;
use tracing::error;

use fips_proto::identity::PeerIdentity;

use crate::config::{Config, EnforceConfig};
use crate::control::Response;
use crate::dns;

use super::shutdown::Shutdown;
use super::DaemonError;

/// The enforcement filter as the daemon sees it.
///
/// INTEGRATION POINT (fips::enforce, owner: ebpf): until that module lands
/// in main, `attach` logs that eth0 is NOT filtered and carries on; then it
/// becomes `enforce::Policy::for_socket` + `enforce::Enforcer::attach`,
/// failing the start (closed) when the filter cannot be attached.
pub(crate) struct Firewall {
    iface: Option<String>,
}

impl Firewall {
    /// Attaches the filter for the transport socket (before ready).
    pub(crate) fn attach(
        cfg: &EnforceConfig,
        _socket: &std::net::UdpSocket,
    ) -> Result<Firewall, DaemonError> {
        if !cfg.enabled {
            return Ok(Firewall { iface: None });
        }
        error!(iface = %cfg.interface, "enforcement requested but this build has no eBPF filter yet: the interface is NOT filtered");
        Ok(Firewall {
            iface: Some(cfg.interface.clone()),
        })
    }

    pub(crate) fn snapshot(&self) -> Response {
        match &self.iface {
            None => Response::error("enforcement is not enabled (enforce.enabled / FIPS_ENFORCE)"),
            Some(iface) => Response::Ok(json!({ "interface": iface, "attached": false })),
        }
    }

    /// Detaches the filter (`fipsctl firewall remove`).
    pub(crate) fn remove(&mut self) -> Response {
        Response::error("no enforcement filter is attached")
    }
}

/// Starts the DNS server (sockets bound when this returns); identities it
/// answers for go to `identities`, for the node to route to them.
pub(crate) async fn start_dns(
    config: &Config,
    identities: mpsc::Sender<PeerIdentity>,
    shutdown: &Shutdown,
) -> Result<(), DaemonError> {
    if !config.dns.enabled {
        return Ok(());
    }
    let aliases = config
        .peers
        .iter()
        .filter_map(|p| p.alias.as_ref().map(|a| (a.clone(), p.identity)))
        .collect();
    let dns_config = dns::DnsConfig {
        bind: config.dns.bind,
        upstream: config.dns.upstream,
        aliases,
        ..dns::DnsConfig::default()
    };
    let server = dns::DnsServer::bind(dns_config, identities)
        .await
        .map_err(|e| DaemonError::Hook {
            what: "DNS",
            message: e.to_string(),
        })?;
    let (token, guard) = (shutdown.token(), shutdown.guard());
    tokio::spawn(async move {
        if let Err(e) = server.run(token.cancelled()).await {
            error!(error = %e, "DNS server stopped");
        }
        drop(guard);
    });
    Ok(())
}
