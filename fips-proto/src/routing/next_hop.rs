//! Next-hop selection (`find_next_hop` of the reference): a direct peer;
//! else, with the destination's cached coordinates, the bloom candidate
//! strictly closer in tree distance (ranked by link cost, distance,
//! address); else greedy tree routing within the same root. Every multi-hop
//! choice requires strict progress, which is what keeps stale state from
//! looping packets.

use std::cmp::Ordering;

use super::mesh::{MeshView, PeerInfo};
use crate::addr::NodeAddr;

/// Outcome of a routing decision for a destination that is not us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Peer(NodeAddr),
    /// No cached coordinates: the sender gets CoordsRequired.
    NoCoords,
    /// Coordinates known but no peer is closer: PathBroken.
    NoProgress,
}

/// Hops between two coordinates through their lowest common ancestor;
/// `usize::MAX` when they are in different trees (or either is empty).
pub fn tree_distance(a: &[NodeAddr], b: &[NodeAddr]) -> usize {
    match (a.last(), b.last()) {
        (Some(ra), Some(rb)) if ra == rb => {}
        _ => return usize::MAX,
    }
    let common = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (a.len() - common) + (b.len() - common)
}

/// Chooses the next hop for `dest` given its cached coordinates (if any).
pub fn find_next_hop<M: MeshView>(mesh: &M, dest: &NodeAddr, coords: Option<&[NodeAddr]>) -> Route {
    if mesh.peer(dest, dest).is_some() {
        return Route::Peer(*dest);
    }
    let Some(dest_coords) = coords else {
        return Route::NoCoords;
    };
    let my_distance = tree_distance(mesh.my_coords(), dest_coords);
    if let Some(p) = best_bloom_candidate(mesh, dest, dest_coords, my_distance) {
        return Route::Peer(p);
    }
    match greedy_tree_hop(mesh, dest, dest_coords, my_distance) {
        Some(p) => Route::Peer(p),
        None => Route::NoProgress,
    }
}

fn peer_distance(p: &PeerInfo<'_>, dest_coords: &[NodeAddr]) -> usize {
    p.coords
        .map(|c| tree_distance(c, dest_coords))
        .unwrap_or(usize::MAX)
}

fn best_bloom_candidate<M: MeshView>(
    mesh: &M,
    dest: &NodeAddr,
    dest_coords: &[NodeAddr],
    my_distance: usize,
) -> Option<NodeAddr> {
    let mut best: Option<(f64, usize, NodeAddr)> = None;
    for p in mesh.peers_for(dest).filter(|p| p.may_reach) {
        let d = peer_distance(&p, dest_coords);
        if d >= my_distance {
            continue;
        }
        let cand = (p.link_cost, d, p.addr);
        let better = match &best {
            None => true,
            Some(b) => rank(&cand, b) == Ordering::Less,
        };
        if better {
            best = Some(cand);
        }
    }
    best.map(|b| b.2)
}

fn rank(a: &(f64, usize, NodeAddr), b: &(f64, usize, NodeAddr)) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
        .then(a.2.cmp(&b.2))
}

fn greedy_tree_hop<M: MeshView>(
    mesh: &M,
    dest: &NodeAddr,
    dest_coords: &[NodeAddr],
    my_distance: usize,
) -> Option<NodeAddr> {
    if mesh.my_coords().last() != dest_coords.last() {
        return None;
    }
    mesh.peers_for(dest)
        .filter(|p| p.coords.is_some())
        .map(|p| (peer_distance(&p, dest_coords), p.addr))
        .filter(|(d, _)| *d < my_distance)
        .min()
        .map(|(_, a)| a)
}
