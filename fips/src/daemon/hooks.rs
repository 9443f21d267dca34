//! Where the daemon starts `fips::dns` (the .fips DNS server) and
//! `fips::enforce` (the eth0 eBPF filter), both before it reports ready,
//! and answers the control socket's questions about the filter.
//!
//! Enforcement fails closed: if the filter cannot be attached the daemon
//! does not start.

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use fips_proto::identity::PeerIdentity;

use crate::config::{Config, EnforceConfig};
use crate::control::{reply, Response};
use crate::enforce::tripwire::TripwireReport;
use crate::{dns, enforce};

use super::shutdown::Shutdown;
use super::DaemonError;

/// The enforcement filter as the daemon sees it.
pub(crate) struct Firewall {
    /// The filtered interface, when enforcement is configured.
    iface: Option<String>,
    enforcer: Option<enforce::Enforcer>,
    /// The packet-socket tripwire's findings, while it runs.
    tripwire: Option<watch::Receiver<TripwireReport>>,
    /// Whether the last known-peer sync warned (warn once per episode).
    known_sync_warned: bool,
}

impl Firewall {
    /// No enforcement configured.
    pub(crate) fn disabled() -> Firewall {
        Firewall {
            iface: None,
            enforcer: None,
            tripwire: None,
            known_sync_warned: false,
        }
    }

    /// Attaches (or replaces) the filter for the transport socket. Called
    /// before ready; a failure stops the daemon, so an unfiltered sidecar
    /// never reports ready.
    pub(crate) fn attach(
        cfg: &EnforceConfig,
        socket: &std::net::UdpSocket,
        metrics_port: u16,
    ) -> Result<Firewall, DaemonError> {
        if !cfg.enabled {
            return Ok(Firewall::disabled());
        }
        let policy = enforce::Policy::for_socket(socket)
            .map_err(|source| DaemonError::EnforcePolicy { source })?;
        let enforcer =
            enforce::Enforcer::attach_with_metrics(&cfg.interface, &policy, metrics_port).map_err(
                |source| DaemonError::EnforceAttach {
                    iface: cfg.interface.clone(),
                    source,
                },
            )?;
        info!(
            iface = %cfg.interface,
            udp_port = policy.udp_port,
            metrics_tcp_port = metrics_port,
            xdp = enforcer.xdp_mode().name(),
            egress_backstop = enforcer.backstop(),
            "enforcement filter attached"
        );
        warn_if_not_fail_closed(&enforcer);
        Ok(Firewall {
            iface: Some(cfg.interface.clone()),
            enforcer: Some(enforcer),
            tripwire: None,
            known_sync_warned: false,
        })
    }

    /// Copies the node's known peers into XDP's msg1 gate, which lets
    /// their handshakes through whatever their rate. Warns once while the
    /// sync fails or the set is over the map's cap.
    pub(crate) fn sync_known_peers(&mut self, ips: impl IntoIterator<Item = std::net::IpAddr>) {
        let Some(enforcer) = self.enforcer.as_mut() else {
            return;
        };
        let problem = match enforcer.set_known_peers(ips) {
            Ok(sync) if sync.over_cap > 0 => Some(format!(
                "{} known peer address(es) over the XDP msg1 gate's cap of {}: their \
                 handshakes are rate-limited like unknown senders'",
                sync.over_cap,
                fips_common::MSG1_KNOWN_CAP
            )),
            Ok(_) => None,
            Err(e) => Some(format!(
                "cannot update the XDP msg1 gate's known peers: {e}"
            )),
        };
        if let Some(message) = problem.as_deref().filter(|_| !self.known_sync_warned) {
            warn!("{message}");
        }
        self.known_sync_warned = problem.is_some();
    }

    /// The filtered interface, with enforcement on.
    pub(crate) fn iface(&self) -> Option<&str> {
        self.iface.as_deref()
    }

    /// The filter's set of metrics connections allowed out; `None` without
    /// enforcement (nothing to register with).
    pub(crate) fn metrics_conns(
        &mut self,
    ) -> Result<Option<enforce::MetricsConns>, enforce::EnforceError> {
        self.enforcer
            .as_mut()
            .map(|e| e.metrics_conns())
            .transpose()
    }

    /// Starts watching for packet sockets (only with enforcement on: without
    /// the filter there is nothing for them to get past).
    pub(crate) fn spawn_tripwire(&mut self) {
        if self.enforcer.is_none() {
            return;
        }
        match super::tripwire::spawn() {
            Ok(rx) => self.tripwire = Some(rx),
            Err(e) => warn!(error = %e, "cannot start the packet-socket tripwire thread"),
        }
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
            while let Some(ev) = token.run_until_cancelled(events.next()).await {
                match ev {
                    Ok(ev) => info!("firewall dropped {ev}"),
                    Err(e) => {
                        warn!(error = %e, "drop events stopped");
                        break;
                    }
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
            Ok(mut s) => {
                if let Some(report) = &self.tripwire {
                    let report = report.borrow();
                    s.packet_sockets = report.open.clone();
                    s.packet_sockets_seen = report.seen;
                }
                Response::ok_from(&s)
            }
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
                Response::ok_from(&reply::FirewallRemoved {
                    removed: true,
                    interface: &iface,
                })
            }
            Err(e) => Response::error(e.to_string()),
        }
    }
}

/// A filter that dies with the daemon is no fail-closed filter: say so at
/// start, with the fix.
fn warn_if_not_fail_closed(enforcer: &enforce::Enforcer) {
    if enforcer.pin_lifetime() == enforce::PinLifetime::UntilExit {
        warn!(
            pins = %enforcer.pin_dir().display(),
            "no bpffs was mounted at {}, so the daemon mounted one in a mount namespace of its \
             own (`ip netns exec` gives its process a private /sys): the filter is pinned only \
             until the daemon exits: if the daemon dies, its XDP and TC programs on {} go with \
             it (not fail-closed). \
             Mount bpffs on the host (mount -t bpf bpf {}) and start the daemon with \
             `nsenter --net=/var/run/netns/NAME`, or give the container a bpffs volume",
            enforce::BPFFS,
            enforcer.iface(),
            enforce::BPFFS,
        );
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
        name_idle: config.identity_idle,
        ..dns::DnsConfig::default()
    };
    let server = dns::DnsServer::bind(dns_config, identities).await?;
    let (token, guard) = (shutdown.token(), shutdown.guard());
    tokio::spawn(async move {
        if let Err(e) = server.run(token.cancelled()).await {
            error!(error = %e, "DNS server stopped");
        }
        drop(guard);
    });
    Ok(())
}
