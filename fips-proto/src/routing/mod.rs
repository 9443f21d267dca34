//! Routing: the `MeshView` the dataplane sees the node through, next-hop
//! selection, the coordinate and identity caches, and per-key throttles.
//! Owns no links and sends nothing itself.

pub mod cache;
pub mod mesh;
pub mod next_hop;
#[cfg(test)]
pub(crate) mod testmesh;
pub mod throttle;

pub use cache::{CoordCache, IdentityCache};
pub use mesh::{fits_link, LinkSendError, MeshView, PeerInfo, LINK_FRAME_OVERHEAD};
pub use next_hop::{find_next_hop, tree_distance, Route};
pub use throttle::Throttle;

use std::collections::HashMap;

use crate::addr::NodeAddr;

/// Positive routing decisions remembered until the mesh topology or the
/// destination's coordinates change, so steady traffic costs one hash lookup
/// instead of a bloom query per peer.
#[derive(Debug, Default)]
pub struct RouteCache {
    version: u64,
    map: HashMap<NodeAddr, NodeAddr>,
}

use crate::limits::ROUTE_CACHE_CAPACITY;

impl RouteCache {
    pub fn get(&mut self, version: u64, dest: &NodeAddr) -> Option<NodeAddr> {
        if version != self.version {
            self.version = version;
            self.map.clear();
            return None;
        }
        self.map.get(dest).copied()
    }

    pub fn put(&mut self, version: u64, dest: NodeAddr, hop: NodeAddr) {
        if version != self.version {
            self.version = version;
            self.map.clear();
        }
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
