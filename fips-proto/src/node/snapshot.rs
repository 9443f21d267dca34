//! Read-only views of the node for the control socket and metrics: its
//! status, peers and tree as plain data (addresses, public identities,
//! enums, numbers). No secrets in here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::identity::PeerIdentity;
use crate::NodeAddr;

use super::inspect::LinkLayerView;
use super::link::{Direction, LinkStats, Peer};
use super::Node;
use crate::tree::distance;

/// What [`Node::snapshot`] reports, as plain data: `fips::control`
/// writes it as the reference's `show_status`, `show_peers`, `show_links`
/// (each peer has one link) and `show_tree`.
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

/// The node as a whole (its place in the tree is in [`Tree`]).
#[derive(Clone, Debug)]
pub struct Status {
    pub identity: PeerIdentity,
    pub node_addr: NodeAddr,
    pub state: RunState,
    pub peer_count: usize,
    /// Outbound handshakes waiting for msg2.
    pub connection_count: usize,
    pub session_count: usize,
    pub effective_ipv6_mtu: u16,
    /// Members estimated from the bloom filters; `None` before any filter.
    pub estimated_mesh_size: Option<u64>,
    pub uptime: Duration,
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
    pub stats: LinkStats,
}

#[derive(Clone, Copy, Debug)]
pub struct NoiseView {
    pub send_counter: u64,
    pub highest_recv_counter: u64,
}

/// Our place in the spanning tree and our peers' places.
#[derive(Clone, Debug)]
pub struct Tree {
    pub my_node_addr: NodeAddr,
    /// `None` at the root.
    pub parent: Option<NodeAddr>,
    /// Us, our parent, ..., the root.
    pub my_coords: Vec<NodeAddr>,
    pub declaration_sequence: u64,
    /// The peers that announced a position.
    pub peers: Vec<TreePeerView>,
}

impl Tree {
    pub fn root(&self) -> NodeAddr {
        self.my_coords.last().copied().unwrap_or(self.my_node_addr)
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// Hops from us to the root.
    pub fn depth(&self) -> usize {
        self.my_coords.len().saturating_sub(1)
    }
}

#[derive(Clone, Debug)]
pub struct TreePeerView {
    pub peer: PeerName,
    /// The peer, its parent, ..., its root.
    pub coords: Vec<NodeAddr>,
    /// Tree hops between it and us.
    pub distance_to_us: usize,
}

/// What the once-a-second stats history samples: the status, our place
/// in the tree and each link's figures, without the coordinates, session
/// views and name lookups a full `snapshot` builds for every peer (a hub
/// samples thousands of links each second).
#[derive(Clone, Debug)]
pub struct StatsSample {
    pub status: Status,
    /// `None` at the root.
    pub parent: Option<NodeAddr>,
    /// Hops from us to the root.
    pub depth: usize,
    pub links: Vec<LinkSample>,
}

#[derive(Clone, Debug)]
pub struct LinkSample {
    pub peer: PeerName,
    pub mmp: LinkLayerView,
    pub stats: LinkStats,
}

impl Node {
    /// See [`StatsSample`].
    pub fn stats_sample(&self, now: Instant) -> StatsSample {
        StatsSample {
            status: self.status_view(now),
            parent: self.tree.parent(),
            depth: self.tree.depth(),
            links: self
                .peers
                .values()
                .map(|p| LinkSample {
                    peer: self.peer_name(p.addr, p.identity),
                    mmp: LinkLayerView::of(&p.mmp),
                    stats: p.stats,
                })
                .collect(),
        }
    }

    fn run_state(&self) -> RunState {
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
            identity: *self.identity.public(),
            node_addr: self.my_addr,
            state: self.run_state(),
            peer_count: self.peers.len(),
            connection_count: self.peers.dials().count(),
            session_count: self.dataplane().map_or(0, |d| d.session_count()),
            effective_ipv6_mtu: self.tun_mtu,
            estimated_mesh_size: self.bloom.estimated_mesh_size().map(|n| n.round() as u64),
            uptime: now.saturating_duration_since(self.start),
        }
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
        let coords = self.tree.peer_coords(&p.addr).unwrap_or_default();
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
            stats: p.stats,
        }
    }

    fn tree_view(&self) -> Tree {
        let mine = self.tree.my_coords();
        let peers: Vec<TreePeerView> = self
            .peers
            .values()
            .filter_map(|p| {
                let coords = self.tree.peer_coords(&p.addr)?;
                Some(TreePeerView {
                    peer: self.peer_name(p.addr, p.identity),
                    distance_to_us: distance(&mine, &coords),
                    coords,
                })
            })
            .collect();
        Tree {
            my_node_addr: self.my_addr,
            parent: self.tree.parent(),
            my_coords: mine,
            declaration_sequence: self.tree.seq(),
            peers,
        }
    }
}
