//! Routing: the boundary the dataplane sees the node through (`MeshView`,
//! `Outbox`, `MeshChange`), next-hop selection, the coordinate and identity caches, and per-key throttles.
//! Owns no links and sends nothing itself.

pub mod cache;
pub mod mesh;
pub mod next_hop;
#[cfg(test)]
pub(crate) mod testmesh;
pub mod throttle;

pub use cache::{CoordCache, IdentityCache};
pub use mesh::{
    fits_link, Cx, LinkSendError, MeshChange, MeshView, Outbox, PeerInfo, LINK_FRAME_OVERHEAD,
};
pub use next_hop::{find_next_hop, tree_distance, Route};
pub use throttle::Throttle;

use std::collections::HashMap;

use crate::addr::NodeAddr;

/// Positive routing decisions remembered until the mesh changes (a
/// `MeshChange` clears them) or the destination's coordinates change, so
/// steady traffic costs one hash lookup instead of a bloom query per peer.
#[derive(Debug, Default)]
pub struct RouteCache {
    map: HashMap<NodeAddr, NodeAddr>,
}

use crate::limits::ROUTE_CACHE_CAPACITY;

impl RouteCache {
    pub fn get(&self, dest: &NodeAddr) -> Option<NodeAddr> {
        self.map.get(dest).copied()
    }

    pub fn put(&mut self, dest: NodeAddr, hop: NodeAddr) {
        if self.map.len() >= ROUTE_CACHE_CAPACITY {
            self.map.clear();
        }
        self.map.insert(dest, hop);
    }

    pub fn forget(&mut self, dest: &NodeAddr) {
        self.map.remove(dest);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}
