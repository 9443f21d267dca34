//! `show_peers` and `show_links`: the core's plain peer views (each peer
//! has one link) under the reference's field names.

use std::time::Instant;

use fips_proto::node::snapshot::PeerView;
use fips_proto::node::{self, Node};
use serde::Serialize;

use super::{direction, Named};

/// `show_peers`.
#[derive(Serialize)]
pub(crate) struct Peers {
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct Peer {
    #[serde(flatten)]
    name: Named,
    connectivity: &'static str,
    /// Our frames went unanswered for `Timers::peer_silent`: routing avoids
    /// it until it answers (not in the reference's reply).
    silent: bool,
    link_id: u64,
    direction: &'static str,
    transport_addr: String,
    transport_type: &'static str,
    is_parent: bool,
    is_child: bool,
    tree_depth: Option<usize>,
    has_tree_position: bool,
    has_bloom_filter: bool,
    filter_sequence: u64,
    current_k_bit: bool,
    our_session_index: String,
    consecutive_decrypt_failures: u32,
    authenticated_at_ms: u64,
    last_seen_ms: u64,
    noise: Noise,
    mmp: Mmp,
    stats: Traffic,
}

#[derive(Serialize)]
struct Noise {
    send_counter: u64,
    highest_recv_counter: u64,
}

#[derive(Serialize)]
struct Mmp {
    srtt_ms: Option<f64>,
    loss_rate: f64,
    etx: f64,
}

#[derive(Serialize)]
struct Traffic {
    bytes_recv: u64,
    bytes_sent: u64,
    packets_recv: u64,
    packets_sent: u64,
}

impl From<node::LinkStats> for Traffic {
    fn from(s: node::LinkStats) -> Self {
        Traffic {
            bytes_recv: s.bytes_recv,
            bytes_sent: s.bytes_sent,
            packets_recv: s.packets_recv,
            packets_sent: s.packets_sent,
        }
    }
}

impl Peer {
    fn of(p: &PeerView) -> Peer {
        Peer {
            name: Named::from(&p.peer),
            connectivity: "connected",
            silent: p.silent,
            link_id: p.link_id,
            direction: direction(p.direction),
            transport_addr: p.transport_addr.to_string(),
            transport_type: "udp",
            is_parent: p.is_parent,
            is_child: p.is_child,
            tree_depth: p.tree_depth,
            has_tree_position: p.tree_depth.is_some(),
            has_bloom_filter: p.has_bloom_filter,
            filter_sequence: p.filter_sequence,
            current_k_bit: p.current_k_bit,
            our_session_index: format!("{:08x}", p.our_session_index),
            consecutive_decrypt_failures: p.consecutive_decrypt_failures,
            authenticated_at_ms: p.authenticated_at_ms,
            last_seen_ms: p.last_seen_ms,
            noise: Noise {
                send_counter: p.noise.send_counter,
                highest_recv_counter: p.noise.highest_recv_counter,
            },
            mmp: Mmp {
                srtt_ms: p.mmp.srtt_ms,
                loss_rate: p.mmp.loss_rate,
                etx: p.mmp.etx,
            },
            stats: p.stats.into(),
        }
    }
}

pub(crate) fn peers(node: &Node, now: Instant) -> Peers {
    Peers {
        peers: node
            .snapshot(now)
            .peers
            .peers
            .iter()
            .map(Peer::of)
            .collect(),
    }
}

/// `show_links`: one UDP link per peer.
#[derive(Serialize)]
pub(crate) struct Links {
    links: Vec<Link>,
}

#[derive(Serialize)]
struct Link {
    link_id: u64,
    transport_id: u32,
    remote_addr: String,
    direction: &'static str,
    state: &'static str,
    created_at_ms: u64,
    stats: LinkStats,
}

#[derive(Serialize)]
struct LinkStats {
    bytes_recv: u64,
    bytes_sent: u64,
    last_recv_ms: u64,
    packets_recv: u64,
    packets_sent: u64,
}

impl Link {
    fn of(p: &PeerView) -> Link {
        let s = &p.stats;
        Link {
            link_id: p.link_id,
            transport_id: 1,
            remote_addr: p.transport_addr.to_string(),
            direction: direction(p.direction),
            state: "connected",
            created_at_ms: p.authenticated_at_ms,
            stats: LinkStats {
                bytes_recv: s.bytes_recv,
                bytes_sent: s.bytes_sent,
                last_recv_ms: p.last_seen_ms,
                packets_recv: s.packets_recv,
                packets_sent: s.packets_sent,
            },
        }
    }
}

/// One link per peer: the links are the peers' links.
pub(crate) fn links(node: &Node, now: Instant) -> Links {
    Links {
        links: node
            .snapshot(now)
            .peers
            .peers
            .iter()
            .map(Link::of)
            .collect(),
    }
}
