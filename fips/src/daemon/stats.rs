//! Feeds the stats history once a second from the node's views (read back
//! by `show_stats_*` and `show_status`'s sparklines).

use std::time::Instant;

use fips_proto::node::snapshot::{LinkSample, StatsSample};
use fips_proto::node::Node;

use crate::control::history::{NodeSample, PeerLabel, PeerSample, StatsHistory};

/// Records one tick. Costs one pass over the links (`Node::stats_sample`).
pub(crate) fn record(history: &mut StatsHistory, node: &Node, now: Instant) {
    let snap = node.stats_sample(now);
    let peers: Vec<PeerSample> = snap.links.iter().map(peer_sample).collect();
    history.tick(now, &node_sample(&snap, &peers), &peers);
}

fn peer_sample(p: &LinkSample) -> PeerSample {
    PeerSample {
        node_addr: p.peer.addr.to_hex(),
        label: PeerLabel::Peer(p.peer.clone()),
        srtt_ms: p.mmp.srtt_ms,
        loss_rate: Some(p.mmp.loss_rate),
        bytes_in_total: p.stats.bytes_recv,
        bytes_out_total: p.stats.bytes_sent,
        packets_in_total: p.stats.packets_recv,
        packets_out_total: p.stats.packets_sent,
        ecn_ce_total: u64::from(p.mmp.ecn_ce_count),
    }
}

/// Node totals are the sums over the up links (a link that goes takes its
/// bytes with it; the history counts that as no traffic, never negative).
fn node_sample(snap: &StatsSample, peers: &[PeerSample]) -> NodeSample {
    let sum = |f: fn(&PeerSample) -> u64| peers.iter().map(f).sum();
    let losses: Vec<f64> = peers.iter().filter_map(|p| p.loss_rate).collect();
    NodeSample {
        mesh_size: snap.status.estimated_mesh_size,
        tree_depth: snap.depth as u64,
        peer_count: snap.status.peer_count as u64,
        parent: snap.parent.unwrap_or(snap.status.node_addr).to_hex(),
        bytes_in_total: sum(|p| p.bytes_in_total),
        bytes_out_total: sum(|p| p.bytes_out_total),
        packets_in_total: sum(|p| p.packets_in_total),
        packets_out_total: sum(|p| p.packets_out_total),
        loss_rate: if losses.is_empty() {
            0.0
        } else {
            losses.iter().sum::<f64>() / losses.len() as f64
        },
        active_sessions: snap.status.session_count as u64,
    }
}
