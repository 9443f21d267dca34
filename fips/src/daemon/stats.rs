//! Feeds the stats history once a second from the node's views, and adds
//! to `show_tree` and `show_status` the fields the reference's fipstop
//! reads that the core's snapshot does not carry (the parent's name, the
//! root's npub, tree counters, dashboard sparklines).

use std::time::Instant;

use fips_proto::node::snapshot::{PeerView, Snapshot};
use fips_proto::node::Node;
use serde_json::{json, Value};

use crate::control::history::{samples_json, Metric, NodeSample, PeerSample, StatsHistory};

/// One-second samples shown inline by `show_status` (the reference's 30).
const SPARK: usize = 30;

/// Records one tick. Costs one snapshot and one MMP view of the node.
pub(crate) fn record(history: &mut StatsHistory, node: &Node, now: Instant) {
    let snap = node.snapshot(now);
    let mmp = node.mmp_view();
    let ecn = |addr: &str| {
        mmp.peers
            .iter()
            .find(|m| m.peer == addr)
            .map_or(0, |m| u64::from(m.link_layer.ecn_ce_count))
    };
    let peers: Vec<PeerSample> = snap
        .peers
        .peers
        .iter()
        .map(|p| peer_sample(p, ecn(&p.node_addr)))
        .collect();
    history.tick(now, &node_sample(&snap, &peers), &peers);
}

fn peer_sample(p: &PeerView, ecn_ce_total: u64) -> PeerSample {
    PeerSample {
        node_addr: p.node_addr.clone(),
        npub: p.npub.clone(),
        display_name: p.display_name.clone(),
        srtt_ms: p.mmp.srtt_ms,
        loss_rate: Some(p.mmp.loss_rate),
        bytes_in_total: p.stats.bytes_recv,
        bytes_out_total: p.stats.bytes_sent,
        packets_in_total: p.stats.packets_recv,
        packets_out_total: p.stats.packets_sent,
        ecn_ce_total,
    }
}

/// Node totals are the sums over the up links (a link that goes takes its
/// bytes with it; the history counts that as no traffic, never negative).
fn node_sample(snap: &Snapshot, peers: &[PeerSample]) -> NodeSample {
    let sum = |f: fn(&PeerSample) -> u64| peers.iter().map(f).sum();
    let losses: Vec<f64> = peers.iter().filter_map(|p| p.loss_rate).collect();
    NodeSample {
        mesh_size: snap.status.estimated_mesh_size,
        tree_depth: snap.tree.depth as u64,
        peer_count: snap.status.peer_count as u64,
        parent: snap.tree.parent.clone(),
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

/// `show_tree` with the parent's display name, the root's npub (when the
/// root is us, a peer or in the identity cache) and the tree counters.
pub(crate) fn tree(node: &Node, history: &StatsHistory, now: Instant) -> Value {
    let snap = node.snapshot(now);
    let mut v = serde_json::to_value(&snap.tree).unwrap_or_default();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    let t = &snap.tree;
    let peer = |addr: &str| snap.peers.peers.iter().find(|p| p.node_addr == addr);
    let parent_name = match peer(&t.parent) {
        Some(p) => p.display_name.clone(),
        None => short_hex(&t.parent),
    };
    let root_npub = if t.is_root {
        Some(node.identity().npub())
    } else if let Some(p) = peer(&t.root) {
        Some(p.npub.clone())
    } else {
        let cache = node.identity_cache_view(now);
        cache
            .entries
            .into_iter()
            .find(|e| e.node_addr == t.root)
            .map(|e| e.npub)
    };
    let c = node.counters();
    obj.insert("parent_display_name".into(), json!(parent_name));
    obj.insert("root_npub".into(), json!(root_npub));
    // Only the counters we keep: parent switches as the 1 s sampler saw
    // them, and the announces the core refused.
    obj.insert(
        "stats".into(),
        json!({
            "parent_switches": history.parent_switches(),
            "sig_failed": c.tree_sig_failed,
            "stale": c.tree_stale,
            "ancestry_invalid": c.tree_rejected,
        }),
    );
    v
}

/// The UDP transport's traffic: the sums over its up links.
pub(crate) fn link_totals(node: &Node, now: Instant) -> Value {
    let links = node.snapshot(now).links.links;
    let sum =
        |f: fn(&fips_proto::node::snapshot::LinkView) -> u64| -> u64 { links.iter().map(f).sum() };
    json!({
        "packets_sent": sum(|l| l.stats.packets_sent),
        "packets_recv": sum(|l| l.stats.packets_recv),
        "bytes_sent": sum(|l| l.stats.bytes_sent),
        "bytes_recv": sum(|l| l.stats.bytes_recv),
    })
}

fn short_hex(hex: &str) -> String {
    format!("{}...", &hex[..hex.len().min(8)])
}

/// Adds the dashboard's fields to a `show_status` reply.
pub(crate) fn status_extras(obj: &mut serde_json::Map<String, Value>, history: &StatsHistory) {
    let spark = |m: Metric| samples_json(&history.recent(m, SPARK));
    obj.insert(
        "sparklines".into(),
        json!({
            "mesh_size": spark(Metric::MeshSize),
            "tree_depth": spark(Metric::TreeDepth),
            "peer_count": spark(Metric::PeerCount),
            "bytes_in": spark(Metric::BytesIn),
            "bytes_out": spark(Metric::BytesOut),
            "loss_rate": spark(Metric::LossRate),
        }),
    );
    let peers = obj.get("peer_count").cloned().unwrap_or(json!(0));
    obj.insert("transport_peer_counts".into(), json!({ "udp": peers }));
}
