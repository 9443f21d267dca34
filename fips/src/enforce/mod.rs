//! eBPF enforcement: the sidecar's eth0 talks only FIPS.
//!
//! Owns loading the embedded classifier (`fips-ebpf`), filling its policy
//! maps, attaching it to eth0 ingress and egress with TCX and in front of
//! ingress with XDP (`xdp.rs`), pinning it so it
//! survives the daemon, replacing it atomically on restart, removing it on
//! request, and reading its counters. It must not decide policy beyond what
//! the daemon passes in [`Policy`].
//!
//! Lifecycle: [`Enforcer::attach`] before the daemon reports ready. The
//! filter stays when the daemon exits or is killed (the bpffs pins hold it)
//! and keeps dropping; a restarted daemon calls `attach` again, which swaps
//! program and policy inside the pinned links in one step. Only [`remove`]
//! takes it away. That holds while the bpffs the pins live on outlives the
//! daemon; [`PinLifetime`] says whether it does.

mod backstop;
mod error;
mod events;
mod loader;
mod metrics;
mod msg1_gate;
mod nfnl;
mod pin;
mod snapshot;
mod sys;
#[cfg(test)]
mod tests;
pub mod tripwire;
mod xdp;

pub use error::EnforceError;
pub use events::{AsyncDropEvents, DropEvent, DropEvents};
pub use fips_common::{
    Direction, Reason, EVENTS_PER_SECOND, VERDICT_DROP, VERDICT_PASS, XDP_DROP, XDP_PASS,
};
pub use loader::Classifier;
pub use metrics::MetricsConns;
pub use msg1_gate::{source_key, KnownSync, Msg1GateEntry, Msg1Rate};
pub use pin::{pin_dir, PinLifetime, BPFFS};
pub use snapshot::{CounterEntry, FirewallSnapshot, LinkEntry, XdpEntry};
pub use sys::{socket_cookie, test_run_repeat};
pub use xdp::XdpMode;

use std::os::fd::AsFd;
use std::path::PathBuf;

/// What may pass eth0, besides IPv4 ARP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The transport's UDP port (ingress destination, egress source).
    pub udp_port: u16,
    /// `SO_COOKIE` of each transport socket: only their egress passes.
    pub socket_cookies: Vec<u64>,
    /// The transport uses IPv6 too: IPv6 UDP on the port and neighbour
    /// discovery pass.
    pub allow_ipv6: bool,
}

impl Policy {
    /// The policy for one bound std transport socket.
    pub fn for_socket(socket: &std::net::UdpSocket) -> std::io::Result<Policy> {
        Policy::for_bound(socket, socket.local_addr()?)
    }

    /// The policy for any bound socket (e.g. a tokio `UdpSocket`) and the
    /// address it is bound to. An IPv6 address (also `[::]`, dual stack)
    /// lets IPv6 UDP and neighbour discovery pass too.
    pub fn for_bound(socket: &impl AsFd, local: std::net::SocketAddr) -> std::io::Result<Policy> {
        Ok(Policy {
            udp_port: local.port(),
            socket_cookies: vec![socket_cookie(socket.as_fd())?],
            allow_ipv6: local.is_ipv6(),
        })
    }
}

/// The attached filter of one interface. Dropping it leaves the filter in
/// place (see the module docs).
pub struct Enforcer {
    iface: String,
    dir: PathBuf,
    classifier: Classifier,
    lifetime: PinLifetime,
    xdp_mode: XdpMode,
    /// Netfilter netlink in the filtered namespace, while a backstop is
    /// installed (snapshots read its counters from any thread).
    backstop: Option<nfnl::Socket>,
}

impl Enforcer {
    /// Loads the classifier with `policy` and attaches it to `iface`, or
    /// replaces the one a previous daemon pinned there.
    pub fn attach(iface: &str, policy: &Policy) -> Result<Enforcer, EnforceError> {
        Enforcer::attach_with_metrics(iface, policy, 0)
    }

    /// Like [`Enforcer::attach`], also opening TCP `metrics_port` (0: none)
    /// for the daemon's metrics server: inbound to it, outbound only from
    /// the connections registered in [`Enforcer::metrics_conns`].
    pub fn attach_with_metrics(
        iface: &str,
        policy: &Policy,
        metrics_port: u16,
    ) -> Result<Enforcer, EnforceError> {
        let ifindex = interface_index(iface)?;
        // Load first: a missing capability is reported before bpffs is touched.
        let mut classifier = Classifier::load(policy)?;
        if metrics_port != 0 {
            classifier.set_metrics_port(metrics_port)?;
        }
        let dir = pin_dir(iface)?;
        let lifetime = pin::prepare_dir(&dir)?;
        // Housekeeping only: leftovers of dead namespaces never block us.
        match pin::collect_dead() {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed the pins of {n} filter(s) whose interface is gone"),
            Err(e) => tracing::warn!("could not clean up dead filter pins: {e}"),
        }
        let xdp_mode = match install(&mut classifier, iface, ifindex, &dir) {
            Ok(mode) => mode,
            Err(e) => {
                pin::discard_if_unused(&dir);
                return Err(e);
            }
        };
        let backstop = install_backstop(iface, policy, metrics_port);
        Ok(Enforcer {
            iface: iface.to_owned(),
            dir,
            classifier,
            lifetime,
            xdp_mode,
            backstop,
        })
    }

    /// Whether the netfilter egress backstop is installed (see `backstop.rs`).
    pub fn backstop(&self) -> bool {
        self.backstop.is_some()
    }

    /// How the XDP program in front of ingress runs.
    pub fn xdp_mode(&self) -> XdpMode {
        self.xdp_mode
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn pin_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Whether the filter outlives this process (see [`PinLifetime`]).
    pub fn pin_lifetime(&self) -> PinLifetime {
        self.lifetime
    }

    /// Takes the set of metrics connections allowed out (once).
    pub fn metrics_conns(&mut self) -> Result<MetricsConns, EnforceError> {
        self.classifier.metrics_conns()
    }

    /// Takes the drop event reader (once; later calls fail).
    pub fn drop_events(&mut self) -> Result<DropEvents, EnforceError> {
        DropEvents::new(self.classifier.take_map(fips_common::MAP_EVENTS)?)
    }

    pub fn snapshot(&self) -> Result<FirewallSnapshot, EnforceError> {
        let c = &self.classifier;
        let mut snap = snapshot::build(
            &self.iface,
            &self.dir,
            self.backstop.as_ref(),
            snapshot::SnapshotMaps {
                policy: c.map(fips_common::MAP_POLICY)?,
                sockets: c.map(fips_common::MAP_SOCKETS)?,
                counters: c.map(fips_common::MAP_COUNTERS)?,
                budget: c.map(fips_common::MAP_EVENT_BUDGET)?,
            },
        )?;
        snap.pinned = Some(self.lifetime);
        snap.msg1_gate = Some(c.msg1_gate()?);
        Ok(snap)
    }

    /// Keeps XDP's msg1 gate exempting exactly these addresses (the
    /// node's known peers, `Node::known_source_ips`).
    pub fn set_known_peers(
        &mut self,
        ips: impl IntoIterator<Item = std::net::IpAddr>,
    ) -> Result<KnownSync, EnforceError> {
        self.classifier.set_known_peers(ips)
    }
}

/// The snapshot of the filter pinned for `iface` in this network namespace,
/// whether or not a daemon runs.
pub fn snapshot_pinned(iface: &str) -> Result<FirewallSnapshot, EnforceError> {
    let dir = pin_dir(iface)?;
    if !dir.exists() {
        return Err(EnforceError::NotAttached {
            iface: iface.to_owned(),
            dir,
        });
    }
    let [policy, sockets, counters, budget] =
        pin::MAPS.map(|name| snapshot::open_pinned(&dir, name));
    let netlink = nfnl::open().map_err(netfilter_err("opening netfilter netlink"))?;
    snapshot::build(
        iface,
        &dir,
        Some(&netlink),
        snapshot::SnapshotMaps {
            policy: &policy?,
            sockets: &sockets?,
            counters: &counters?,
            budget: &budget?,
        },
    )
}

/// Detaches the filter of `iface` (for `fipsctl firewall remove`); from
/// then on eth0 is unfiltered until the daemon attaches again.
pub fn remove(iface: &str) -> Result<(), EnforceError> {
    let dir = pin_dir(iface)?;
    xdp::detach(&dir)?;
    let netlink = nfnl::open().map_err(netfilter_err("opening netfilter netlink"))?;
    backstop::remove(&netlink, iface)
        .map_err(netfilter_err("deleting the egress backstop table"))?;
    pin::remove(iface, &dir)
}

/// Deletes only the netfilter egress backstop of `iface` (tests, and an
/// operator comparing with and without it); false when there was none.
pub fn remove_backstop(iface: &str) -> Result<bool, EnforceError> {
    let netlink = nfnl::open().map_err(netfilter_err("opening netfilter netlink"))?;
    backstop::remove(&netlink, iface).map_err(netfilter_err("deleting the egress backstop table"))
}

fn netfilter_err(what: &'static str) -> impl FnOnce(std::io::Error) -> EnforceError {
    move |source| EnforceError::Netfilter { what, source }
}

/// The backstop is a second line behind TC egress, for frames sent past
/// it: a kernel without the netdev egress hook (before 5.16, or
/// CONFIG_NETFILTER_EGRESS off, or nf_tables not loaded on the host) gets
/// a warning, not a daemon that refuses to start.
fn install_backstop(iface: &str, policy: &Policy, metrics_port: u16) -> Option<nfnl::Socket> {
    let installed = nfnl::open().and_then(|netlink| {
        let ports = backstop::Ports {
            udp: policy.udp_port,
            metrics: metrics_port,
        };
        backstop::install(&netlink, iface, ports, policy.allow_ipv6)?;
        Ok(netlink)
    });
    match installed {
        Ok(netlink) => Some(netlink),
        Err(e) => {
            tracing::warn!(
                %iface,
                error = %e,
                "no netfilter egress backstop (nf_tables netdev egress hook, Linux 5.16+, \
                 module nf_tables loaded on the host): a process with CAP_NET_RAW can send any \
                 frame past TC with PACKET_QDISC_BYPASS; drop NET_RAW from every container \
                 in the namespace (cap_drop: [NET_RAW])"
            );
            None
        }
    }
}

/// Attaches (or replaces) and pins; see [`Enforcer::attach`]. TC first:
/// XDP only narrows what TC ingress would drop anyway.
fn install(
    classifier: &mut Classifier,
    iface: &str,
    ifindex: u32,
    dir: &std::path::Path,
) -> Result<XdpMode, EnforceError> {
    pin::clear_stale(dir, ifindex)?;
    if let Some(earlier) = pinned_counters(dir) {
        classifier.add_counters(&earlier)?;
    }
    pin::attach_or_replace(classifier, iface, dir)?;
    let mode = xdp::attach_or_replace(classifier, ifindex, dir)?;
    pin::pin_maps(classifier, dir)?;
    Ok(mode)
}

/// Counters of the filter being replaced, if one is pinned and readable.
/// Unreadable old counters are not worth failing the attach over: the new
/// filter simply starts from zero.
fn pinned_counters(dir: &std::path::Path) -> Option<Vec<snapshot::CounterRow>> {
    let map = snapshot::open_pinned(dir, fips_common::MAP_COUNTERS).ok()?;
    loader::read_counters(&map).ok()
}

/// The index of `iface` in the calling thread's network namespace.
pub(crate) fn interface_index(iface: &str) -> Result<u32, EnforceError> {
    let missing = || EnforceError::NoInterface {
        iface: iface.to_owned(),
    };
    let name = std::ffi::CString::new(iface).map_err(|_| missing())?;
    // SAFETY: `name` is NUL-terminated.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}
