//! Integration points for the teammates' modules: `fips::dns` (the .fips
//! DNS server) and `fips::enforce` (the eth0 eBPF filter). Each is started
//! here, before the daemon reports ready.
//!
//! Enforcement fails closed: if the filter cannot be attached the daemon
//! does not start.

use serde_json::json;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use fips_proto::identity::PeerIdentity;

use crate::config::{Config, EnforceConfig};
use crate::control::Response;
use crate::{dns, enforce};

use super::shutdown::Shutdown;
use super::DaemonError;

/// The enforcement filter as the daemon sees it.
pub(crate) struct Firewall {
    /// The filtered interface, when enforcement is configured.
    iface: Option<String>,
    enforcer: Option<enforce::Enforcer>,
}

impl Firewall {
    /// No enforcement configured.
    pub(crate) fn disabled() -> Firewall {
        Firewall {
            iface: None,
            enforcer: None,
        }
    }

    /// Attaches (or replaces) the filter for the transport socket. Called
    /// before ready; a failure stops the daemon, so an unfiltered sidecar
    /// never reports ready.
    pub(crate) fn attach(
        cfg: &EnforceConfig,
        socket: &std::net::UdpSocket,
    ) -> Result<Firewall, DaemonError> {
        if !cfg.enabled {
            return Ok(Firewall::disabled());
        }
        let hook = |message: String| DaemonError::Hook {
            what: "enforcement",
            message,
        };
        let policy = enforce::Policy::for_socket(socket)
            .map_err(|e| hook(format!("reading the transport socket: {e}")))?;
        let enforcer = enforce::Enforcer::attach(&cfg.interface, &policy)
            .map_err(|e| hook(format!("attaching the filter to {}: {e}", cfg.interface)))?;
        info!(iface = %cfg.interface, udp_port = policy.udp_port, "enforcement filter attached");
        Ok(Firewall {
            iface: Some(cfg.interface.clone()),
            enforcer: Some(enforcer),
        })
    }

    /// Logs the classifier's drop events until shutdown (needs a runtime).
    pub(crate) fn spawn_drop_log(&mut self, shutdown: &Shutdown) {
        let Some(enforcer) = self.enforcer.as_mut() else {
            return;
        };
        let events = match enforcer.drop_events().map(enforce::AsyncDropEvents::new) {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => return warn!(error = %e, "drop events unavailable"),
            Err(e) => return warn!(error = %e, "drop events unavailable"),
        };
        let (token, guard) = (shutdown.token(), shutdown.guard());
        tokio::spawn(async move {
            let mut events = events;
            let stopped = token.cancelled();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    ev = events.next() => match ev {
                        Ok(ev) => info!("firewall dropped {ev}"),
                        Err(e) => {
                            warn!(error = %e, "drop events stopped");
                            break;
                        }
                    },
                }
            }
            drop(guard);
        });
    }

    pub(crate) fn snapshot(&self) -> Response {
        let snap = match (&self.enforcer, &self.iface) {
            (Some(e), _) => e.snapshot(),
            (None, Some(iface)) => enforce::snapshot_pinned(iface),
            (None, None) => {
                return Response::error(
                    "enforcement is not enabled (enforce.enabled / FIPS_ENFORCE)",
                )
            }
        };
        match snap {
            Ok(s) => Response::ok_from(&s),
            Err(e) => Response::error(e.to_string()),
        }
    }

    /// Detaches the filter (`fipsctl firewall remove`).
    pub(crate) fn remove(&mut self) -> Response {
        let Some(iface) = self.iface.clone() else {
            return Response::error("enforcement is not enabled (enforce.enabled / FIPS_ENFORCE)");
        };
        // Dropping the Enforcer leaves the filter in place; remove() detaches.
        self.enforcer = None;
        match enforce::remove(&iface) {
            Ok(()) => {
                warn!(%iface, "enforcement filter removed on request; the interface is unfiltered");
                Response::Ok(json!({ "removed": true, "interface": iface }))
            }
            Err(e) => Response::error(e.to_string()),
        }
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
