//! The families a scrape returns, encoded by prometheus-client from the
//! published [`NodeFigures`], the DNS counters, the filter's counters and
//! the server's own. Names follow the Prometheus conventions: base units
//! (seconds, bytes, ratios) in the name, `_total` on counters (added by the
//! encoder), one family per meaning with labels for its parts.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;

use super::snapshot::{LinkFigures, NodeFigures};
use crate::enforce::FirewallSnapshot;

/// The wire protocol version this node speaks (for `fips_build_info`).
const WIRE_VERSION: &str = "0.4.1";

/// The metrics server's own figures.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub open: AtomicUsize,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
}

/// What a scrape reads. Each source is read without asking the node task.
#[derive(Debug)]
pub struct Sources {
    pub node: watch::Receiver<Arc<NodeFigures>>,
    /// The filtered interface, when enforcement is on.
    pub firewall_iface: Option<String>,
    pub server: Arc<ServerStats>,
}

/// The registry of one metrics server: everything comes from one collector.
pub fn registry(sources: Sources) -> Registry {
    let mut registry = Registry::with_prefix("fips");
    registry.register_collector(Box::new(sources));
    registry
}

/// Encodes the registry in the Prometheus text format (0.0.4).
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes families into a descriptor encoder.
struct Out<'e, 'a>(&'e mut DescriptorEncoder<'a>);

impl Out<'_, '_> {
    fn family<'l, V: Copy>(
        &mut self,
        (name, help, unit, kind): (&str, &str, Option<Unit>, MetricType),
        rows: impl IntoIterator<Item = (Labels<'l>, V)>,
        encode: impl Fn(V, prometheus_client::encoding::MetricEncoder<'_>) -> std::fmt::Result,
    ) -> std::fmt::Result {
        let mut metric = self.0.encode_descriptor(name, help, unit.as_ref(), kind)?;
        for (labels, v) in rows {
            encode(v, metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn counters<'l>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        rows: impl IntoIterator<Item = (Labels<'l>, u64)>,
    ) -> std::fmt::Result {
        let desc = (name, help, unit, MetricType::Counter);
        self.family(desc, rows, |v, e| ConstCounter::new(v).encode(e))
    }

    fn gauges<'l>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        rows: impl IntoIterator<Item = (Labels<'l>, f64)>,
    ) -> std::fmt::Result {
        let desc = (name, help, unit, MetricType::Gauge);
        self.family(desc, rows, |v, e| ConstGauge::new(v).encode(e))
    }

    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, v: f64) -> std::fmt::Result {
        self.gauges(name, help, unit, [(Vec::new(), v)])
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, v: u64) -> std::fmt::Result {
        self.counters(name, help, unit, [(Vec::new(), v)])
    }

    /// Unitless counters of (label value, figure) under one label name.
    fn counters_by<'l>(
        &mut self,
        (name, help): (&str, &str),
        label: &'static str,
        rows: impl IntoIterator<Item = (&'l str, u64)>,
    ) -> std::fmt::Result {
        self.counters(name, help, None, by(label, rows))
    }
}

/// `rows` of (label value, figure) under one label name.
fn by<'l, V>(
    label: &'static str,
    rows: impl IntoIterator<Item = (&'l str, V)>,
) -> impl Iterator<Item = (Labels<'l>, V)> {
    rows.into_iter().map(move |(v, n)| (vec![(label, v)], n))
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let node = self.node.borrow().clone();
        let mut out = Out(&mut encoder);
        info(&mut out, &node)?;
        peers_and_links(&mut out, &node)?;
        per_link(&mut out, &node.links)?;
        sessions_and_forwarding(&mut out, &node)?;
        handshakes(&mut out, &node)?;
        tree(&mut out, &node)?;
        dns(&mut out)?;
        if let Some(iface) = &self.firewall_iface {
            // The pinned maps and the backstop's rules, read here: a few
            // syscalls on the metrics thread, none on the node's.
            if let Ok(fw) = crate::enforce::snapshot_pinned(iface) {
                firewall(&mut out, &fw)?;
            }
        }
        server(&mut out, &self.server)
    }
}

fn info(out: &mut Out<'_, '_>, n: &NodeFigures) -> std::fmt::Result {
    let build = vec![
        ("version", env!("CARGO_PKG_VERSION")),
        ("wire_version", WIRE_VERSION),
    ];
    out.gauges(
        "build_info",
        "This daemon's version and the FIPS wire version it speaks.",
        None,
        [(build, 1.0)],
    )?;
    let node = vec![
        ("npub", n.npub.as_str()),
        ("node_addr", n.node_addr.as_str()),
    ];
    out.gauges("node_info", "This node's identity.", None, [(node, 1.0)])?;
    out.gauge(
        "uptime",
        "Time since the node started.",
        Some(Unit::Seconds),
        n.uptime_seconds as f64,
    )
}

fn peers_and_links(out: &mut Out<'_, '_>, n: &NodeFigures) -> std::fmt::Result {
    let peers = [
        ("connected", n.peers_connected),
        ("silent", n.peers_silent),
        ("connecting", n.peers_connecting),
    ];
    out.gauges(
        "peers",
        "Peers by state: connected, silent (our frames unanswered for 3 s), connecting (outbound handshake in flight).",
        None,
        by("state", peers.map(|(s, v)| (s, v as f64))),
    )?;
    let links = [("up", n.links_up), ("handshake", n.links_handshaking)];
    out.gauges(
        "links",
        "Links by state: up (authenticated) or handshake (not yet authenticated).",
        None,
        by("state", links.map(|(s, v)| (s, v as f64))),
    )
}

fn per_link(out: &mut Out<'_, '_>, links: &[LinkFigures]) -> std::fmt::Result {
    fn peer(l: &LinkFigures) -> Labels<'_> {
        vec![("peer", l.peer.as_str())]
    }
    out.gauges(
        "link_rtt",
        "Smoothed round-trip time of the link (link-layer MMP), by peer alias or short npub.",
        Some(Unit::Seconds),
        links.iter().filter_map(|l| Some((peer(l), l.rtt_seconds?))),
    )?;
    out.gauges(
        "link_loss",
        "Frame loss ratio of the link (link-layer MMP, 0 to 1).",
        Some(Unit::Other("ratio".into())),
        links.iter().filter_map(|l| Some((peer(l), l.loss_ratio?))),
    )?;
    let each_way = |f: fn(&LinkFigures) -> (u64, u64)| {
        links.iter().flat_map(move |l| {
            let (tx, rx) = f(l);
            [
                (
                    vec![("peer", l.peer.as_str()), ("direction", "transmit")],
                    tx,
                ),
                (
                    vec![("peer", l.peer.as_str()), ("direction", "receive")],
                    rx,
                ),
            ]
        })
    };
    out.counters(
        "link",
        "Bytes carried by the link, each way.",
        Some(Unit::Bytes),
        each_way(|l| (l.bytes_sent, l.bytes_recv)),
    )?;
    out.counters(
        "link_packets",
        "Packets carried by the link, each way.",
        None,
        each_way(|l| (l.packets_sent, l.packets_recv)),
    )
}

fn sessions_and_forwarding(out: &mut Out<'_, '_>, n: &NodeFigures) -> std::fmt::Result {
    out.gauges(
        "sessions",
        "End-to-end sessions by state.",
        None,
        by("state", n.sessions.iter().map(|(s, v)| (*s, *v as f64))),
    )?;
    let d = &n.dataplane;
    let traffic = [
        ("originated", d.data_sent),
        ("delivered", d.data_received),
        ("forwarded", d.forwarded),
    ];
    out.counters_by(
        (
            "mesh_packets",
            "Mesh packets this node originated, delivered to its TUN, or forwarded for others.",
        ),
        "kind",
        traffic,
    )?;
    out.counters_by(
        ("dropped_packets", "Packets dropped by the node, by reason (link_*: link layer, the rest: sessions and forwarding, tun_*: from or to fips0)."),
        "reason",
        drops(n),
    )
}

fn drops(n: &NodeFigures) -> [(&'static str, u64); 17] {
    let (c, d) = (&n.node, &n.dataplane);
    [
        ("link_malformed", c.malformed),
        ("link_unknown_index", c.unknown_index),
        ("link_decrypt_failed", c.decrypt_failed),
        ("link_replayed", c.replayed),
        ("link_malformed_inner", c.malformed_inner),
        ("no_route", d.no_route),
        ("mtu_exceeded", d.mtu_exceeded),
        ("ttl_exhausted", d.ttl_exhausted),
        ("malformed", d.malformed),
        ("decrypt_failed", d.decrypt_failed),
        ("unknown_session", d.unknown_session),
        ("looped", d.looped),
        ("tun_malformed", d.tun_malformed),
        ("tun_too_big", d.tun_too_big),
        ("tun_unreachable", d.tun_unreachable),
        ("tun_queue_full", d.tun_queue_full),
        ("tun_out_dropped", d.tun_out_dropped),
    ]
}

fn handshakes(out: &mut Out<'_, '_>, n: &NodeFigures) -> std::fmt::Result {
    let c = &n.node;
    let link = [
        ("completed", n.links_established),
        ("failed", c.handshake_failed),
        ("refused_rate_limit", c.msg1_rate_limited),
        ("refused_peer_limit", c.peer_limit),
        ("refused_link_limit", c.link_limit),
        ("refused_connection_limit", c.connection_limit),
        ("duplicate", c.msg1_duplicate),
        ("cross_connection_dropped", c.cross_connection_dropped),
    ];
    out.counters_by(
        ("link_handshakes", "Link (Noise IK) handshakes by outcome; refused_*: initiations turned away before any ECDH."),
        "outcome",
        link,
    )?;
    let d = &n.dataplane;
    let session = [
        ("established", d.sessions_established),
        ("timeout", d.handshake_timeouts),
        ("refused", d.sessions_refused),
    ];
    out.counters_by(
        (
            "session_handshakes",
            "End-to-end session (Noise XK) handshakes by outcome.",
        ),
        "outcome",
        session,
    )?;
    out.counter("link_rekeys", "Completed link rekeys.", None, c.rekeys)
}

fn tree(out: &mut Out<'_, '_>, n: &NodeFigures) -> std::fmt::Result {
    out.gauge(
        "tree_depth",
        "This node's depth in the spanning tree (0 at the root).",
        None,
        n.tree_depth as f64,
    )?;
    out.gauges(
        "tree_root_info",
        "The spanning tree's root (node address) as this node sees it.",
        None,
        [(vec![("root", n.tree_root.as_str())], 1.0)],
    )?;
    out.gauge(
        "tree_is_root",
        "1 when this node is the root.",
        None,
        f64::from(u8::from(n.tree_is_root)),
    )?;
    if let Some(size) = n.mesh_size_estimate {
        out.gauge(
            "mesh_size_estimate",
            "Nodes in the mesh, estimated from the bloom filters.",
            None,
            size as f64,
        )?;
    }
    Ok(())
}

fn dns(out: &mut Out<'_, '_>) -> std::fmt::Result {
    out.counters_by(
        (
            "dns_responses",
            "Responses of the .fips DNS server by response code.",
        ),
        "rcode",
        crate::dns::stats::responses(),
    )?;
    let dropped = crate::limits::DNS_DROPPED.load(Ordering::Relaxed);
    out.counter(
        "dns_dropped_queries",
        "DNS queries dropped unanswered (too many in flight).",
        None,
        dropped,
    )
}

fn firewall(out: &mut Out<'_, '_>, fw: &FirewallSnapshot) -> std::fmt::Result {
    let rows = || {
        fw.counters.iter().map(|c| {
            let labels = vec![
                ("direction", c.direction.as_str()),
                ("reason", c.reason.as_str()),
                ("verdict", c.verdict.as_str()),
            ];
            (labels, c)
        })
    };
    out.counters(
        "firewall_packets",
        "Frames the eth0 filter judged, by hook (ingress, egress, xdp), reason and verdict.",
        None,
        rows().map(|(l, c)| (l, c.packets)),
    )?;
    out.counters(
        "firewall",
        "Bytes of the frames the eth0 filter judged.",
        Some(Unit::Bytes),
        rows().map(|(l, c)| (l, c.bytes)),
    )
}

fn server(out: &mut Out<'_, '_>, s: &ServerStats) -> std::fmt::Result {
    let open = s.open.load(Ordering::Relaxed) as f64;
    out.gauge(
        "metrics_open_connections",
        "Open connections to this metrics server.",
        None,
        open,
    )?;
    let rows = [
        ("accepted", s.accepted.load(Ordering::Relaxed)),
        ("refused", s.refused.load(Ordering::Relaxed)),
    ];
    out.counters_by(
        (
            "metrics_connections",
            "Connections to this metrics server, accepted or refused (over the connection limit).",
        ),
        "outcome",
        rows,
    )
}

#[cfg(test)]
mod tests;
