//! The node's side of the one-way boundary to the dataplane (sessions,
//! discovery, routing, IPv6; see `routing::mesh`). SessionDatagrams,
//! lookups and TUN packets go to `session::Dataplane` with a read-only
//! `NodeView`, the node's RNG and the outbox; the node then drains the
//! outbox onto its links. Topology changes reach the dataplane as
//! `MeshChange` events. Our own coordinates are copied into `ViewCache`
//! once per change; each peer's are read from the tree, which keeps them
//! with its announce (copying every peer's on each change was most of a
//! 10,000-leaf hub's CPU while it forwarded traffic).

use std::time::Instant;

use crate::bloom::{bit_indices, BloomState};
use crate::identity::{Identity, PeerIdentity};
use crate::routing::{Cx, MeshChange, MeshView, PeerInfo};
use crate::session::{Dataplane, DataplaneConfig};
use crate::tree::TreeState;
use crate::wire::link::{LookupRequest, LookupResponse};
use crate::NodeAddr;

use super::link::Peer;
use super::peers::PeerTable;
use super::Node;

/// Our tree coordinates as of the last `MeshChange`.
pub(super) struct ViewCache {
    stale: bool,
    /// Built at least once (a first parent is no change of parent).
    built: bool,
    mine: Vec<NodeAddr>,
}

impl ViewCache {
    pub(super) fn new() -> Self {
        ViewCache {
            stale: true,
            built: false,
            mine: Vec::new(),
        }
    }

    /// Rebuilds the cache; returns whether our parent differs from the
    /// one of the previous build. Coordinates cached under the old
    /// position go only then, as the reference does: a parent that moved
    /// and came back between two packets changed nothing they rely on.
    fn refresh(&mut self, tree: &TreeState) -> bool {
        let mine = tree.my_coords();
        let moved = self.built && mine.get(1) != self.mine.get(1);
        self.mine = mine;
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
    tree: &'a TreeState,
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
        if self.view.stale && self.view.refresh(&self.tree) {
            self.dataplane.handle_mesh_change(MeshChange::Parent);
        }
        let view = NodeView {
            identity: &self.identity,
            peers: &self.peers,
            tree: &self.tree,
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
    fn info(&self, addr: &NodeAddr, peer: &Peer, bits: &[usize; 5]) -> PeerInfo<'a> {
        let may_reach = self.bloom.inbound(addr).is_some_and(|f| {
            let bytes = f.as_bytes();
            bits.iter().all(|&i| bytes[i / 8] >> (i % 8) & 1 == 1)
        });
        PeerInfo {
            addr: *addr,
            is_tree_peer: self.tree.is_tree_peer(addr),
            may_reach,
            coords: self.tree.peer_coords_ref(addr),
            link_mtu: self.link_mtu,
            link_cost: peer.mmp.link_cost().unwrap_or(1.0),
            silent: peer.silent,
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
        self.peers
            .iter()
            .map(move |(addr, peer)| self.info(addr, peer, &bits))
    }

    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        let peer = self.peers.get(addr)?;
        Some(self.info(addr, peer, &bit_indices(target)))
    }

    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        self.peers.contains_key(peer).then_some(self.link_mtu)
    }
}
