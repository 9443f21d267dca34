//! The dispatch point for the dataplane (sessions, discovery, routing, IPv6):
//! SessionDatagrams, lookups and TUN packets go to `session::Dataplane`,
//! which sees the node through `NodeMesh`, its `MeshView`.
//!
//! The dataplane is taken out of the node for the duration of a call, so
//! `NodeMesh` can borrow the whole node mutably (to send on links) without
//! aliasing it. Tree coordinates are copied into `MeshCache` once per
//! topology change rather than per packet.

use std::time::Instant;

use crate::bloom::bit_indices;
use crate::identity::{Identity, PeerIdentity};
use crate::routing::{LinkSendError, MeshView, PeerInfo};
use crate::session::{Dataplane, DataplaneConfig};
use crate::wire::link::{LookupRequest, LookupResponse};
use crate::NodeAddr;

use super::Node;

/// The dataplane and the topology snapshot it routes with.
pub(crate) struct DataplaneHook {
    pub(crate) dp: Dataplane,
    cache: MeshCache,
}

/// Tree coordinates (ours and each peer's) as of `version`.
#[derive(Default)]
struct MeshCache {
    version: Option<u64>,
    mine: Vec<NodeAddr>,
    peers: Vec<(NodeAddr, bool, Option<Vec<NodeAddr>>)>,
}

impl DataplaneHook {
    pub(crate) fn new(me: NodeAddr, link_mtu: u16, epoch: [u8; 8]) -> Box<Self> {
        let cfg = DataplaneConfig {
            link_mtu,
            epoch,
            ..DataplaneConfig::default()
        };
        Box::new(DataplaneHook {
            dp: Dataplane::new(cfg, me),
            cache: MeshCache::default(),
        })
    }
}

/// The node as the dataplane's `MeshView`.
struct NodeMesh<'a> {
    node: &'a mut Node,
    cache: &'a MeshCache,
    now: Instant,
}

impl Node {
    /// Runs `f` with the dataplane and a `MeshView` over this node.
    fn with_dataplane(&mut self, now: Instant, f: impl FnOnce(&mut Dataplane, &mut NodeMesh<'_>)) {
        let Some(mut hook) = self.dataplane.take() else {
            return;
        };
        if hook.cache.version != Some(self.topology) {
            self.refresh_mesh_cache(&mut hook);
        }
        let DataplaneHook { dp, cache } = &mut *hook;
        let mut mesh = NodeMesh {
            node: self,
            cache,
            now,
        };
        f(dp, &mut mesh);
        self.dataplane = Some(hook);
    }

    fn refresh_mesh_cache(&self, hook: &mut DataplaneHook) {
        let mine = self.tree.my_coords();
        // Our position moved: coordinates cached under the old one go.
        if hook.cache.version.is_some() && mine.get(1) != hook.cache.mine.get(1) {
            hook.dp.parent_changed();
        }
        hook.cache.peers = self
            .peers
            .keys()
            .map(|a| (*a, self.tree.is_tree_peer(a), self.tree.peer_coords(a)))
            .collect();
        hook.cache.mine = mine;
        hook.cache.version = Some(self.topology);
    }

    pub(super) fn dataplane_session_datagram(
        &mut self,
        now: Instant,
        from: NodeAddr,
        msg: &mut [u8],
    ) {
        self.with_dataplane(now, |dp, mesh| {
            dp.handle_session_datagram(now, from, msg, mesh)
        });
    }

    pub(super) fn dataplane_lookup_request(
        &mut self,
        now: Instant,
        from: NodeAddr,
        req: LookupRequest,
    ) {
        self.with_dataplane(now, |dp, mesh| {
            dp.handle_lookup_request(now, from, req, mesh)
        });
    }

    pub(super) fn dataplane_lookup_response(
        &mut self,
        now: Instant,
        from: NodeAddr,
        resp: LookupResponse,
    ) {
        self.with_dataplane(now, |dp, mesh| {
            dp.handle_lookup_response(now, from, resp, mesh)
        });
    }

    pub(super) fn dataplane_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        self.with_dataplane(now, |dp, mesh| dp.handle_tun_packet(now, packet, mesh));
    }

    /// Called from `handle_timeout` on every wake-up.
    pub(super) fn dataplane_timeout(&mut self, now: Instant) {
        if self.dataplane_poll_timeout().is_some_and(|t| t <= now) {
            self.with_dataplane(now, |dp, mesh| dp.handle_timeout(now, mesh));
        }
    }

    /// The dataplane's earliest deadline (session idle, lookup retries, ...).
    pub(super) fn dataplane_poll_timeout(&self) -> Option<Instant> {
        self.dataplane.as_ref().and_then(|h| h.dp.poll_timeout())
    }

    /// A peer link went down: remembered routes through it are gone.
    pub(super) fn dataplane_peer_down(&mut self, _now: Instant, _peer: NodeAddr) {
        self.topology += 1;
    }

    /// Our tree coordinates changed. The coordinate cache is flushed only
    /// when the parent changes (see `refresh_mesh_cache`), as the reference
    /// does; a change further up keeps the cache.
    pub(super) fn dataplane_coords_changed(&mut self, _now: Instant) {
        self.topology += 1;
    }

    pub(super) fn dataplane_poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        self.dataplane.as_mut().is_some_and(|h| h.dp.poll_tun(buf))
    }

    pub(super) fn dataplane_learn_identity(&mut self, now: Instant, peer: PeerIdentity) {
        if let Some(h) = self.dataplane.as_mut() {
            h.dp.learn_identity(now, peer);
        }
    }

    /// Pins (link up) or unpins (link down) a peer's identity.
    pub(super) fn dataplane_pin_identity(&mut self, now: Instant, peer: PeerIdentity, pin: bool) {
        if let Some(h) = self.dataplane.as_mut() {
            if pin {
                h.dp.pin_identity(now, peer);
            } else {
                h.dp.unpin_identity(&peer.node_addr());
            }
        }
    }

    /// Fill and refusals of the dataplane's bounded stores.
    pub fn bounds(&self) -> Option<crate::limits::Bounds> {
        self.dataplane().map(|d| d.bounds())
    }

    /// The dataplane's state, for snapshots and tests.
    pub fn dataplane(&self) -> Option<&Dataplane> {
        self.dataplane.as_ref().map(|h| &h.dp)
    }
}

impl NodeMesh<'_> {
    fn info<'s>(
        &'s self,
        entry: &'s (NodeAddr, bool, Option<Vec<NodeAddr>>),
        bits: &[usize; 5],
    ) -> PeerInfo<'s> {
        let (addr, is_tree_peer, coords) = entry;
        let may_reach = self.node.bloom.inbound(addr).is_some_and(|f| {
            let bytes = f.as_bytes();
            bits.iter().all(|&i| bytes[i / 8] >> (i % 8) & 1 == 1)
        });
        let peer = self.node.peers.get(addr);
        let link_cost = peer.and_then(|p| p.mmp.link_cost()).unwrap_or(1.0);
        let silent = peer.is_some_and(|p| p.silent);
        PeerInfo {
            addr: *addr,
            is_tree_peer: *is_tree_peer,
            may_reach,
            coords: coords.as_deref(),
            link_mtu: self.node.link_mtu,
            link_cost,
            silent,
        }
    }
}

impl MeshView for NodeMesh<'_> {
    fn identity(&self) -> &Identity {
        &self.node.identity
    }

    fn my_coords(&self) -> &[NodeAddr] {
        &self.cache.mine
    }

    fn peers_for(&self, target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>> {
        let bits = bit_indices(target);
        self.cache
            .peers
            .iter()
            .filter(|(a, ..)| self.node.peers.contains_key(a))
            .map(move |e| self.info(e, &bits))
    }

    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        if !self.node.peers.contains_key(addr) {
            return None;
        }
        let e = self.cache.peers.iter().find(|(a, ..)| a == addr)?;
        Some(self.info(e, &bit_indices(target)))
    }

    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        self.node
            .peers
            .contains_key(peer)
            .then_some(self.node.link_mtu)
    }

    fn topology_version(&self) -> u64 {
        self.node.topology
    }

    fn send_link(&mut self, peer: &NodeAddr, msg: &[u8]) -> Result<(), LinkSendError> {
        self.node.send_link_bytes(self.now, peer, msg)
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        self.node.rng.fill_bytes(out);
    }
}
