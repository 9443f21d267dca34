//! `show_status`, `show_tree` and `show_transports`: the core's snapshot
//! plus what only the daemon knows (process, socket, TUN, UDP address,
//! stats history) and the fields the reference's fipstop reads that the
//! snapshot does not carry (the parent's name, the root's npub, tree
//! counters, dashboard sparklines).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use fips_proto::limits::Bounds as CoreBounds;
use fips_proto::node::snapshot::{self, RunState, Snapshot};
use fips_proto::node::{AdmissionStats, LinkStats, Node};
use fips_proto::NodeAddr;
use serde::Serialize;

use super::dataplane::Forwarding;
use super::history::Samples;
use super::{display_name, hexes};
use crate::control::history::{Metric, StatsHistory};
use crate::limits::DaemonBounds;

/// One-second samples shown inline by `show_status` (the reference's 30).
const SPARK: usize = 30;

/// What the daemon knows beyond the node.
pub(crate) struct DaemonFacts<'a> {
    pub control_socket: &'a Path,
    pub tun_name: Option<&'a str>,
    pub history: &'a StatsHistory,
}

/// `show_status`.
#[derive(Serialize)]
pub(crate) struct Status<'a> {
    #[serde(flatten)]
    node: NodeStatus,
    version: &'static str,
    pid: u32,
    exe_path: String,
    control_socket: String,
    tun_name: Option<&'a str>,
    tun_state: &'static str,
    transport_count: u32,
    /// We always forward: there is no leaf-only mode.
    is_leaf_only: bool,
    persistent: bool,
    sparklines: Sparklines,
    transport_peer_counts: PeerCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarding: Option<Forwarding>,
    /// Every bounded store, the core's and the daemon's (see the `limits`
    /// modules): fill, cap, evicted, refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    bounds: Option<Bounds>,
    msg1_admission: AdmissionStats,
}

/// The core's status under the reference's names.
#[derive(Serialize)]
struct NodeStatus {
    npub: String,
    node_addr: String,
    ipv6_addr: String,
    state: &'static str,
    is_root: bool,
    root: String,
    peer_count: usize,
    link_count: usize,
    connection_count: usize,
    session_count: usize,
    effective_ipv6_mtu: u16,
    estimated_mesh_size: Option<u64>,
    uptime_secs: u64,
}

impl NodeStatus {
    fn of(snap: &Snapshot) -> Self {
        let s = &snap.status;
        NodeStatus {
            npub: s.identity.npub(),
            node_addr: s.node_addr.to_hex(),
            ipv6_addr: s.node_addr.ipv6().to_string(),
            state: match s.state {
                RunState::Running => "running",
                RunState::Draining => "draining",
                RunState::Stopped => "stopped",
            },
            is_root: snap.tree.is_root(),
            root: snap.tree.root().to_hex(),
            peer_count: s.peer_count,
            // One link per peer.
            link_count: s.peer_count,
            connection_count: s.connection_count,
            session_count: s.session_count,
            effective_ipv6_mtu: s.effective_ipv6_mtu,
            estimated_mesh_size: s.estimated_mesh_size,
            uptime_secs: s.uptime.as_secs(),
        }
    }
}

#[derive(Serialize)]
struct Sparklines {
    mesh_size: Samples,
    tree_depth: Samples,
    peer_count: Samples,
    bytes_in: Samples,
    bytes_out: Samples,
    loss_rate: Samples,
}

impl Sparklines {
    fn of(history: &StatsHistory) -> Self {
        let spark = |m: Metric| Samples(history.recent(m, SPARK));
        Sparklines {
            mesh_size: spark(Metric::MeshSize),
            tree_depth: spark(Metric::TreeDepth),
            peer_count: spark(Metric::PeerCount),
            bytes_in: spark(Metric::BytesIn),
            bytes_out: spark(Metric::BytesOut),
            loss_rate: spark(Metric::LossRate),
        }
    }
}

#[derive(Serialize)]
struct PeerCounts {
    udp: usize,
}

#[derive(Serialize)]
struct Bounds {
    #[serde(flatten)]
    core: CoreBounds,
    #[serde(flatten)]
    daemon: DaemonBounds,
}

pub(crate) fn status<'a>(node: &Node, daemon: &DaemonFacts<'a>, now: Instant) -> Status<'a> {
    let snap = node.snapshot(now);
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        exe_path: exe,
        control_socket: daemon.control_socket.display().to_string(),
        tun_name: daemon.tun_name,
        tun_state: if daemon.tun_name.is_some() {
            "up"
        } else {
            "disabled"
        },
        transport_count: 1,
        is_leaf_only: false,
        persistent: true,
        sparklines: Sparklines::of(daemon.history),
        transport_peer_counts: PeerCounts {
            udp: snap.status.peer_count,
        },
        forwarding: node.dataplane().map(|d| d.counters().into()),
        bounds: node.dataplane().map(|d| Bounds {
            core: d.bounds(),
            daemon: DaemonBounds::now(),
        }),
        msg1_admission: node.admission_stats(),
        node: NodeStatus::of(&snap),
    }
}

/// `show_tree`.
#[derive(Serialize)]
pub(crate) struct Tree {
    #[serde(flatten)]
    tree: TreeView,
    parent_display_name: String,
    /// When the root is us, a peer or in the identity cache.
    root_npub: Option<String>,
    stats: TreeStats,
}

/// The core's tree under the reference's names.
#[derive(Serialize)]
struct TreeView {
    my_node_addr: String,
    root: String,
    is_root: bool,
    depth: usize,
    /// Ourselves at the root.
    parent: String,
    my_coords: Vec<String>,
    declaration_sequence: u64,
    declaration_signed: bool,
    peer_tree_count: usize,
    peers: Vec<TreePeer>,
}

#[derive(Serialize)]
struct TreePeer {
    node_addr: String,
    display_name: String,
    coords: Vec<String>,
    depth: usize,
    root: String,
    distance_to_us: usize,
}

impl From<&snapshot::Tree> for TreeView {
    fn from(t: &snapshot::Tree) -> Self {
        let peers: Vec<TreePeer> = t.peers.iter().map(TreePeer::from).collect();
        TreeView {
            my_node_addr: t.my_node_addr.to_hex(),
            root: t.root().to_hex(),
            is_root: t.is_root(),
            depth: t.depth(),
            parent: t.parent.unwrap_or(t.my_node_addr).to_hex(),
            my_coords: hexes(&t.my_coords),
            declaration_sequence: t.declaration_sequence,
            declaration_signed: true,
            peer_tree_count: peers.len(),
            peers,
        }
    }
}

impl From<&snapshot::TreePeerView> for TreePeer {
    fn from(p: &snapshot::TreePeerView) -> Self {
        let c = &p.coords;
        TreePeer {
            node_addr: p.peer.addr.to_hex(),
            display_name: display_name(&p.peer),
            coords: hexes(c),
            depth: c.len().saturating_sub(1),
            root: c.last().copied().unwrap_or(p.peer.addr).to_hex(),
            distance_to_us: p.distance_to_us,
        }
    }
}

/// Only the counters we keep: parent switches as the 1 s sampler saw
/// them, and the announces the core refused.
#[derive(Serialize)]
struct TreeStats {
    parent_switches: u64,
    sig_failed: u64,
    stale: u64,
    ancestry_invalid: u64,
}

pub(crate) fn tree(node: &Node, history: &StatsHistory, now: Instant) -> Tree {
    let Snapshot { tree, peers, .. } = node.snapshot(now);
    let peer = |addr: NodeAddr| {
        let mut names = peers.peers.iter().map(|p| &p.peer);
        names.find(|p| p.addr == addr)
    };
    let parent = tree.parent.unwrap_or(tree.my_node_addr);
    let parent_display_name = match peer(parent) {
        Some(p) => display_name(p),
        None => format!("{}...", &parent.to_hex()[..8]),
    };
    let root_npub = if tree.is_root() {
        Some(node.identity().npub())
    } else if let Some(p) = peer(tree.root()) {
        Some(p.identity.npub())
    } else {
        let cache = node.identity_cache_view(now);
        cache
            .entries
            .into_iter()
            .find(|e| e.peer.addr == tree.root())
            .map(|e| e.peer.identity.npub())
    };
    let c = node.counters();
    Tree {
        tree: TreeView::from(&tree),
        parent_display_name,
        root_npub,
        stats: TreeStats {
            parent_switches: history.parent_switches(),
            sig_failed: c.tree_sig_failed,
            stale: c.tree_stale,
            ancestry_invalid: c.tree_rejected,
        },
    }
}

/// `show_transports`: the one UDP transport. No `name`: the reference
/// writes one only for a named transport.
#[derive(Serialize)]
pub(crate) struct Transports {
    transports: [Transport; 1],
    msg1_admission: AdmissionStats,
}

#[derive(Serialize)]
struct Transport {
    transport_id: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    mtu: u16,
    local_addr: Option<String>,
    stats: LinkTotals,
}

/// The transport's traffic: the sums over its up links.
#[derive(Serialize)]
struct LinkTotals {
    packets_sent: u64,
    packets_recv: u64,
    bytes_sent: u64,
    bytes_recv: u64,
}

impl LinkTotals {
    fn of(peers: &[snapshot::PeerView]) -> Self {
        let sum = |f: fn(&LinkStats) -> u64| peers.iter().map(|p| f(&p.stats)).sum();
        LinkTotals {
            packets_sent: sum(|s| s.packets_sent),
            packets_recv: sum(|s| s.packets_recv),
            bytes_sent: sum(|s| s.bytes_sent),
            bytes_recv: sum(|s| s.bytes_recv),
        }
    }
}

pub(crate) fn transports(node: &Node, udp_local: Option<SocketAddr>, now: Instant) -> Transports {
    Transports {
        transports: [Transport {
            transport_id: 1,
            kind: "udp",
            state: "up",
            mtu: node.link_mtu(),
            local_addr: udp_local.map(|a| a.to_string()),
            stats: LinkTotals::of(&node.snapshot(now).peers.peers),
        }],
        msg1_admission: node.admission_stats(),
    }
}
