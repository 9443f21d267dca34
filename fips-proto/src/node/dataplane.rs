//! The node's side of the one-way boundary to the dataplane (sessions,
//! discovery, routing, IPv6; see `routing::mesh`). SessionDatagrams,
//! lookups and TUN packets go to `session::Dataplane` with a read-only
//! `NodeView`, the node's RNG and the outbox; the node then drains the
//! outbox onto its links. Topology changes reach the dataplane as
//! `MeshChange` events. Tree coordinates are copied into `ViewCache` once
//! per change rather than per packet.

use std::time::Instant;

use crate::bloom::{bit_indices, BloomState};
use crate::identity::{Identity, PeerIdentity};
use crate::routing::{Cx, MeshChange, MeshView, PeerInfo};
use crate::session::{Dataplane, DataplaneConfig};
use crate::tree::TreeState;
use crate::wire::link::{LookupRequest, LookupResponse};
use crate::NodeAddr;

use super::peers::PeerTable;
use super::Node;

/// Tree coordinates (ours and each peer's) as of the last `MeshChange`.
pub(super) struct ViewCache {
    stale: bool,
    /// Built at least once (a first parent is no change of parent).
    built: bool,
    mine: Vec<NodeAddr>,
    /// Each peer (ascending), whether it is a tree peer, its coordinates.
    peers: Vec<(NodeAddr, bool, Option<Vec<NodeAddr>>)>,
}

impl ViewCache {
    pub(super) fn new() -> Self {
        ViewCache {
            stale: true,
            built: false,
            mine: Vec::new(),
            peers: Vec::new(),
        }
    }

    /// Rebuilds the cache; returns whether our parent differs from the
    /// one of the previous build. Coordinates cached under the old
    /// position go only then, as the reference does: a parent that moved
    /// and came back between two packets changed nothing they rely on.
    fn refresh(&mut self, tree: &TreeState, peers: &PeerTable) -> bool {
        let mine = tree.my_coords();
        let moved = self.built && mine.get(1) != self.mine.get(1);
        self.mine = mine;
        self.peers = peers
            .keys()
            .map(|a| (*a, tree.is_tree_peer(a), tree.peer_coords(a)))
            .collect();
        self.stale = false;
        self.built = true;
        moved
    }
}

pub(super) fn new_dataplane(me: NodeAddr, link_mtu: u16, epoch: [u8; 8]) -> Dataplane {
    let cfg = DataplaneConfig {
        link_mtu,
        epoch,
        ..DataplaneConfig::default()
    };
    Dataplane::new(cfg, me)
}

/// The node as the dataplane sees it during one call: read only.
struct NodeView<'a> {
    identity: &'a Identity,
    peers: &'a PeerTable,
    bloom: &'a BloomState,
    cache: &'a ViewCache,
    link_mtu: u16,
}

impl Node {
    /// Runs `f` with the dataplane and its call context over this node,
    /// then sends what it left in the outbox.
    fn with_dataplane(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Dataplane, &mut Cx<'_, NodeView<'_>>),
    ) {
        if self.view.stale && self.view.refresh(&self.tree, &self.peers) {
            self.dataplane.handle_mesh_change(MeshChange::Parent);
        }
        let view = NodeView {
            identity: &self.identity,
            peers: &self.peers,
            bloom: &self.bloom,
            cache: &self.view,
            link_mtu: self.link_mtu,
        };
        let mut cx = Cx {
            mesh: &view,
            rng: &mut *self.rng,
            out: &mut self.link_out,
        };
        f(&mut self.dataplane, &mut cx);
        self.drain_link_out(now);
    }

    /// The mesh changed: the dataplane forgets routes; the view is rebuilt
    /// before the next call, which tells the dataplane if our parent moved.
    pub(super) fn mesh_changed(&mut self, change: MeshChange) {
        self.view.stale = true;
        self.dataplane.handle_mesh_change(change);
    }

    pub(super) fn dataplane_session_datagram(
        &mut self,
        now: Instant,
        from: NodeAddr,
        msg: &mut [u8],
    ) {
        self.with_dataplane(now, |dp, cx| dp.handle_session_datagram(now, from, msg, cx));
    }

    pub(super) fn dataplane_lookup_request(
        &mut self,
        now: Instant,
        from: NodeAddr,
        req: LookupRequest,
    ) {
        self.with_dataplane(now, |dp, cx| dp.handle_lookup_request(now, from, req, cx));
    }

    pub(super) fn dataplane_lookup_response(
        &mut self,
        now: Instant,
        from: NodeAddr,
        resp: LookupResponse,
    ) {
        self.with_dataplane(now, |dp, cx| dp.handle_lookup_response(now, from, resp, cx));
    }

    pub(super) fn dataplane_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        self.with_dataplane(now, |dp, cx| dp.handle_tun_packet(now, packet, cx));
    }

    /// Called from `handle_timeout` on every wake-up.
    pub(super) fn dataplane_timeout(&mut self, now: Instant) {
        if self.dataplane.poll_timeout().is_some_and(|t| t <= now) {
            self.with_dataplane(now, |dp, cx| dp.handle_timeout(now, cx));
        }
    }

    /// Forgets identities unused for `identity_idle` (linked peers and
    /// sessions are kept) and schedules the next sweep.
    pub(super) fn sweep_identities(&mut self, now: Instant) {
        let idle = self.timers.identity_idle;
        self.next_identity_sweep = now + crate::limits::identity_sweep_every(idle);
        self.dataplane.expire_identities(now, idle);
    }

    /// Pins (link up) or unpins (link down) a peer's identity.
    pub(super) fn dataplane_pin_identity(&mut self, now: Instant, peer: PeerIdentity, pin: bool) {
        if pin {
            self.dataplane.pin_identity(now, peer);
        } else {
            self.dataplane.unpin_identity(&peer.node_addr());
        }
    }

    /// Fill and refusals of the dataplane's bounded stores (always `Some`;
    /// an `Option` for callers written when the dataplane was optional).
    pub fn bounds(&self) -> Option<crate::limits::Bounds> {
        Some(self.dataplane.bounds())
    }

    /// The dataplane's state, for snapshots and tests (always `Some`, as
    /// `bounds`).
    pub fn dataplane(&self) -> Option<&Dataplane> {
        Some(&self.dataplane)
    }
}

impl<'a> NodeView<'a> {
    fn info(
        &self,
        entry: &'a (NodeAddr, bool, Option<Vec<NodeAddr>>),
        bits: &[usize; 5],
    ) -> PeerInfo<'a> {
        let (addr, is_tree_peer, coords) = entry;
        let may_reach = self.bloom.inbound(addr).is_some_and(|f| {
            let bytes = f.as_bytes();
            bits.iter().all(|&i| bytes[i / 8] >> (i % 8) & 1 == 1)
        });
        let peer = self.peers.get(addr);
        let link_cost = peer.and_then(|p| p.mmp.link_cost()).unwrap_or(1.0);
        let silent = peer.is_some_and(|p| p.silent);
        PeerInfo {
            addr: *addr,
            is_tree_peer: *is_tree_peer,
            may_reach,
            coords: coords.as_deref(),
            link_mtu: self.link_mtu,
            link_cost,
            silent,
        }
    }
}

impl MeshView for NodeView<'_> {
    fn identity(&self) -> &Identity {
        self.identity
    }

    fn my_coords(&self) -> &[NodeAddr] {
        &self.cache.mine
    }

    fn peers_for(&self, target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>> {
        let bits = bit_indices(target);
        self.cache
            .peers
            .iter()
            .filter(|(a, ..)| self.peers.contains_key(a))
            .map(move |e| self.info(e, &bits))
    }

    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        if !self.peers.contains_key(addr) {
            return None;
        }
        // Ascending, as the peer table's keys it was built from.
        let i = self
            .cache
            .peers
            .binary_search_by(|(a, ..)| a.cmp(addr))
            .ok()?;
        Some(self.info(&self.cache.peers[i], &bit_indices(target)))
    }

    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        self.peers.contains_key(peer).then_some(self.link_mtu)
    }
}
