//! What the node task publishes for the metrics server: plain figures
//! copied out of the `Node` once per stats tick, so a scrape reads this
//! and never asks the node task anything.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use fips_proto::node::{AdmissionStats, Counters, Node};
use fips_proto::session::DataplaneCounters;
use tokio::sync::watch;

use crate::control::reply::display_name;

/// Peers with labels of their own in the per-link families; the rest are
/// summed under [`OTHER_PEERS`]. So each per-link family has at most
/// `MAX_LABELLED_PEERS + 1` series, whatever the number of peers.
pub const MAX_LABELLED_PEERS: usize = 32;
/// The `peer` label of the peers beyond [`MAX_LABELLED_PEERS`].
pub const OTHER_PEERS: &str = "_other";

/// One link's figures, labelled by the peer's alias or short npub.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkFigures {
    pub peer: String,
    /// Smoothed RTT; `None` before the first measurement (and for
    /// [`OTHER_PEERS`]).
    pub rtt_seconds: Option<f64>,
    /// Loss ratio 0..1 (`None` for [`OTHER_PEERS`]).
    pub loss_ratio: Option<f64>,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub packets_sent: u64,
    pub packets_recv: u64,
}

/// Everything the node-side families are made from.
#[derive(Clone, Debug, Default)]
pub struct NodeFigures {
    pub npub: String,
    pub node_addr: String,
    pub uptime_seconds: u64,
    /// Peers by state: `connected`, `silent` (frames unanswered), and
    /// `connecting` (an outbound handshake in flight).
    pub peers_connected: u64,
    pub peers_silent: u64,
    pub peers_connecting: u64,
    /// Links (authenticated) and handshakes not yet a link.
    pub links_up: u64,
    pub links_handshaking: u64,
    pub links: Vec<LinkFigures>,
    /// Sessions by state name.
    pub sessions: Vec<(&'static str, u64)>,
    pub tree_depth: u64,
    pub tree_is_root: bool,
    pub tree_root: String,
    pub mesh_size_estimate: Option<u64>,
    pub node: Counters,
    pub dataplane: DataplaneCounters,
    pub admission: AdmissionStats,
    /// Link handshakes that completed (peer up events) since start.
    pub links_established: u64,
}

impl NodeFigures {
    /// Copies the figures out of `node` (the node task calls this).
    pub fn collect(node: &Node, now: Instant, links_established: u64) -> NodeFigures {
        let snap = node.snapshot(now);
        let silent = snap.peers.peers.iter().filter(|p| p.silent).count() as u64;
        let total = snap.peers.peers.len() as u64;
        let connecting = node.connections_view(now).connections.len() as u64;
        let mut labelled: Vec<LinkFigures> = snap
            .peers
            .peers
            .iter()
            .map(|p| LinkFigures {
                peer: display_name(&p.peer),
                rtt_seconds: p.mmp.srtt_ms.map(|ms| ms / 1000.0),
                loss_ratio: Some(p.mmp.loss_rate),
                bytes_sent: p.stats.bytes_sent,
                bytes_recv: p.stats.bytes_recv,
                packets_sent: p.stats.packets_sent,
                packets_recv: p.stats.packets_recv,
            })
            .collect();
        labelled.sort_by(|a, b| a.peer.cmp(&b.peer));
        let links = bound_labels(labelled);
        let dp = node.dataplane();
        NodeFigures {
            npub: snap.status.identity.npub(),
            node_addr: snap.status.node_addr.to_hex(),
            uptime_seconds: snap.status.uptime.as_secs(),
            peers_connected: total - silent,
            peers_silent: silent,
            peers_connecting: connecting,
            links_up: total,
            links_handshaking: connecting,
            links,
            sessions: dp.map(session_states).unwrap_or_default(),
            tree_depth: snap.tree.depth() as u64,
            tree_is_root: snap.tree.is_root(),
            tree_root: snap.tree.root().to_hex(),
            mesh_size_estimate: snap.status.estimated_mesh_size,
            node: node.counters().clone(),
            dataplane: dp.map(|d| d.counters().clone()).unwrap_or_default(),
            admission: node.admission_stats(),
            links_established,
        }
    }
}

fn session_states(dp: &fips_proto::session::Dataplane) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = Vec::new();
    for s in dp.sessions() {
        match out.iter_mut().find(|(state, _)| *state == s.state) {
            Some(row) => row.1 += 1,
            None => out.push((s.state, 1)),
        }
    }
    out
}

/// Keeps the first [`MAX_LABELLED_PEERS`] (sorted by label, so a peer keeps
/// its series while it stays), makes labels unique, and sums the rest
/// under [`OTHER_PEERS`].
pub(crate) fn bound_labels(sorted: Vec<LinkFigures>) -> Vec<LinkFigures> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(sorted.len().min(MAX_LABELLED_PEERS + 1));
    let mut other: Option<LinkFigures> = None;
    for (i, mut link) in sorted.into_iter().enumerate() {
        if i >= MAX_LABELLED_PEERS {
            let o = other.get_or_insert_with(|| LinkFigures {
                peer: OTHER_PEERS.into(),
                ..LinkFigures::default()
            });
            o.bytes_sent += link.bytes_sent;
            o.bytes_recv += link.bytes_recv;
            o.packets_sent += link.packets_sent;
            o.packets_recv += link.packets_recv;
            continue;
        }
        // Two peers may share an alias or a short npub: keep both series.
        let base = link.peer.clone();
        let mut n = 2;
        while !seen.insert(link.peer.clone()) {
            link.peer = format!("{base}#{n}");
            n += 1;
        }
        out.push(link);
    }
    out.extend(other);
    out
}

/// The node task's end: publishes a new [`NodeFigures`] on each tick.
pub struct Publisher {
    tx: watch::Sender<Arc<NodeFigures>>,
    links_established: u64,
}

impl Publisher {
    /// A publisher and the receiver the metrics server reads.
    pub fn new() -> (Publisher, watch::Receiver<Arc<NodeFigures>>) {
        let (tx, rx) = watch::channel(Arc::new(NodeFigures::default()));
        let p = Publisher {
            tx,
            links_established: 0,
        };
        (p, rx)
    }

    /// A link handshake completed (the node reported a peer up).
    pub fn link_established(&mut self) {
        self.links_established += 1;
    }

    /// Replaces the published figures: one copy out of the node per tick,
    /// whatever the scrape rate.
    pub fn publish(&self, node: &Node, now: Instant) {
        let figures = NodeFigures::collect(node, now, self.links_established);
        self.tx.send_replace(Arc::new(figures));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(peer: &str, bytes: u64) -> LinkFigures {
        LinkFigures {
            peer: peer.into(),
            bytes_sent: bytes,
            ..LinkFigures::default()
        }
    }

    #[test]
    fn peers_beyond_the_bound_are_summed_under_one_label() {
        let links: Vec<_> = (0..MAX_LABELLED_PEERS + 5)
            .map(|i| link(&format!("p{i:03}"), 10))
            .collect();
        let out = bound_labels(links);
        assert_eq!(out.len(), MAX_LABELLED_PEERS + 1);
        let other = out.last().expect("other");
        assert_eq!(other.peer, OTHER_PEERS);
        assert_eq!(other.bytes_sent, 50);
        assert_eq!(other.rtt_seconds, None);
    }

    #[test]
    fn two_peers_with_one_alias_get_distinct_labels() {
        let out = bound_labels(vec![link("gw", 1), link("gw", 2), link("gw", 3)]);
        let labels: Vec<_> = out.iter().map(|l| l.peer.as_str()).collect();
        assert_eq!(labels, ["gw", "gw#2", "gw#3"]);
    }
}
