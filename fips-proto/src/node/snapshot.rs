//! Read-only views of the node for the control socket: its peers and links
//! as plain data, its status and tree under the reference control-socket
//! JSON's field names. No secrets in here.

use std::net::SocketAddr;
use std::time::Instant;

use serde::Serialize;

use crate::identity::PeerIdentity;
use crate::NodeAddr;

use super::inspect::LinkLayerView;
use super::link::{Direction, Peer};
use super::Node;
use crate::tree::distance;

/// What [`Node::snapshot`] reports. `peers` is plain data (`fips::control`
/// writes it as the reference's `show_peers` and, as each peer has one
/// link, `show_links`); `status` and `tree` still carry the reference's
/// strings.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub status: Status,
    pub peers: Peers,
    pub tree: Tree,
}

/// Where the node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// Said goodbye to its peers; keeps its links, takes no new ones.
    Draining,
    Stopped,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub npub: String,
    pub node_addr: String,
    pub ipv6_addr: String,
    pub state: &'static str,
    pub is_root: bool,
    pub root: String,
    pub peer_count: usize,
    pub link_count: usize,
    pub connection_count: usize,
    pub session_count: usize,
    pub effective_ipv6_mtu: u16,
    pub estimated_mesh_size: Option<u64>,
    pub uptime_secs: u64,
}

#[derive(Clone, Debug)]
pub struct Peers {
    pub peers: Vec<PeerView>,
}

/// Who a peer is: what every view of a peer starts with.
#[derive(Clone, Debug)]
pub struct PeerName {
    pub addr: NodeAddr,
    pub identity: PeerIdentity,
    /// The alias it was configured with, if any.
    pub alias: Option<String>,
}

/// One authenticated peer and its link.
#[derive(Clone, Debug)]
pub struct PeerView {
    pub peer: PeerName,
    /// Our frames went unanswered for `Timers::peer_silent`: routing avoids
    /// it until it answers.
    pub silent: bool,
    pub link_id: u64,
    pub direction: Direction,
    pub transport_addr: SocketAddr,
    pub is_parent: bool,
    pub is_child: bool,
    /// Its depth in the tree; `None` before it announced a position.
    pub tree_depth: Option<usize>,
    pub has_bloom_filter: bool,
    pub filter_sequence: u64,
    pub current_k_bit: bool,
    pub our_session_index: u32,
    pub consecutive_decrypt_failures: u32,
    /// Unix ms (when its link came up).
    pub authenticated_at_ms: u64,
    /// Unix ms of the last authenticated frame.
    pub last_seen_ms: u64,
    pub noise: NoiseView,
    /// What MMP measures on its link.
    pub mmp: LinkLayerView,
    pub stats: TrafficStats,
}

#[derive(Clone, Copy, Debug)]
pub struct NoiseView {
    pub send_counter: u64,
    pub highest_recv_counter: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct TrafficStats {
    pub bytes_recv: u64,
    pub bytes_sent: u64,
    pub packets_recv: u64,
    pub packets_sent: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tree {
    pub my_node_addr: String,
    pub root: String,
    pub is_root: bool,
    pub depth: usize,
    pub parent: String,
    pub my_coords: Vec<String>,
    pub declaration_sequence: u64,
    pub declaration_signed: bool,
    pub peer_tree_count: usize,
    pub peers: Vec<TreePeerView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TreePeerView {
    pub node_addr: String,
    pub display_name: String,
    pub coords: Vec<String>,
    pub depth: usize,
    pub root: String,
    pub distance_to_us: usize,
}

/// `npub1cld9...2pe6`, as the reference abbreviates npubs: the one
/// abbreviation every `display_name` uses.
pub fn short_npub(npub: &str) -> String {
    if npub.len() <= 13 {
        return npub.to_owned();
    }
    format!("{}...{}", &npub[..9], &npub[npub.len() - 4..])
}

fn hexes(addrs: &[NodeAddr]) -> Vec<String> {
    addrs.iter().map(NodeAddr::to_hex).collect()
}

impl Node {
    pub fn run_state(&self) -> RunState {
        match (self.shut_down, self.draining) {
            (true, _) => RunState::Stopped,
            (false, true) => RunState::Draining,
            (false, false) => RunState::Running,
        }
    }

    /// Everything the control socket shows about links and the tree.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            status: self.status_view(now),
            peers: Peers {
                peers: self.peers.values().map(|p| self.peer_view(p)).collect(),
            },
            tree: self.tree_view(),
        }
    }

    fn status_view(&self, now: Instant) -> Status {
        Status {
            npub: self.identity.public().npub(),
            node_addr: self.my_addr.to_hex(),
            ipv6_addr: self.my_addr.ipv6().to_string(),
            state: match self.run_state() {
                RunState::Stopped => "stopped",
                RunState::Draining => "draining",
                RunState::Running => "running",
            },
            is_root: self.tree.is_root(),
            root: self.tree.root().to_hex(),
            peer_count: self.peers.len(),
            link_count: self.peers.len(),
            connection_count: self.peers.dials().count(),
            session_count: self.dataplane().map_or(0, |d| d.session_count()),
            effective_ipv6_mtu: self.tun_mtu,
            estimated_mesh_size: self.bloom.estimated_mesh_size().map(|n| n.round() as u64),
            uptime_secs: now.saturating_duration_since(self.start).as_secs(),
        }
    }

    pub(super) fn display_name(&self, addr: &NodeAddr) -> String {
        let alias = self.alias(addr);
        let npub = self
            .peers
            .get(addr)
            .map(|p| p.identity)
            .or_else(|| self.peers.slot(addr).map(|s| s.cfg.identity))
            .or_else(|| self.dataplane().and_then(|d| d.identity_cache().peek(addr)))
            .map(|i| short_npub(&i.npub()));
        alias.or(npub).unwrap_or_else(|| addr.short())
    }

    fn peer_coords(&self, addr: &NodeAddr) -> Vec<NodeAddr> {
        self.tree.peer_coords(addr).unwrap_or_default()
    }

    /// The alias `addr` was configured with, if any.
    fn alias(&self, addr: &NodeAddr) -> Option<String> {
        self.peers.slot(addr).and_then(|s| s.cfg.alias.clone())
    }

    pub(super) fn peer_name(&self, addr: NodeAddr, identity: PeerIdentity) -> PeerName {
        PeerName {
            addr,
            identity,
            alias: self.alias(&addr),
        }
    }

    fn peer_view(&self, p: &Peer) -> PeerView {
        let coords = self.peer_coords(&p.addr);
        PeerView {
            peer: self.peer_name(p.addr, p.identity),
            silent: p.silent,
            link_id: p.link_id,
            direction: p.direction,
            transport_addr: p.remote,
            is_parent: self.tree.parent() == Some(p.addr),
            is_child: coords.get(1) == Some(&self.my_addr),
            tree_depth: coords.len().checked_sub(1),
            has_bloom_filter: self.bloom.inbound(&p.addr).is_some(),
            filter_sequence: self.bloom.inbound_seq(&p.addr).unwrap_or(0),
            current_k_bit: p.k_bit,
            our_session_index: p.current.our_index,
            consecutive_decrypt_failures: p.decrypt_failures,
            authenticated_at_ms: p.authenticated_at_ms,
            last_seen_ms: p.last_recv_unix_ms,
            noise: NoiseView {
                send_counter: p.current.send_counter,
                highest_recv_counter: p.current.highest_recv.unwrap_or(0),
            },
            mmp: LinkLayerView::of(&p.mmp),
            stats: TrafficStats {
                bytes_recv: p.stats.bytes_recv,
                bytes_sent: p.stats.bytes_sent,
                packets_recv: p.stats.packets_recv,
                packets_sent: p.stats.packets_sent,
            },
        }
    }

    fn tree_view(&self) -> Tree {
        let mine = self.tree.my_coords();
        let peers: Vec<TreePeerView> = self
            .peers
            .keys()
            .filter_map(|a| {
                let c = self.tree.peer_coords(a)?;
                Some(TreePeerView {
                    node_addr: a.to_hex(),
                    display_name: self.display_name(a),
                    coords: hexes(&c),
                    depth: c.len().saturating_sub(1),
                    root: c.last().copied().unwrap_or(*a).to_hex(),
                    distance_to_us: distance(&mine, &c),
                })
            })
            .collect();
        Tree {
            my_node_addr: self.my_addr.to_hex(),
            root: self.tree.root().to_hex(),
            is_root: self.tree.is_root(),
            depth: mine.len().saturating_sub(1),
            parent: self.tree.parent().unwrap_or(self.my_addr).to_hex(),
            my_coords: hexes(&mine),
            declaration_sequence: self.tree.seq(),
            declaration_signed: true,
            peer_tree_count: peers.len(),
            peers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short_npub;

    #[test]
    fn npub_is_abbreviated_like_the_reference() {
        let n = "npub1cld9yay0u24davpu6c35l4vldrhzvaq66pcqtg9a0j2cnjrn9rtsxx2pe6";
        assert_eq!(short_npub(n), "npub1cld9...2pe6");
    }
}
