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

/// Hops between two coordinates through their lowest common ancestor:
/// the tree module's own measure, so routing and parent choice agree.
pub use crate::tree::distance as tree_distance;

/// Chooses the next hop for `dest` given its cached coordinates (if any).
pub fn find_next_hop<M: MeshView>(mesh: &M, dest: &NodeAddr, coords: Option<&[NodeAddr]>) -> Route {
    if mesh.link_mtu(dest).is_some() {
        return Route::Peer(*dest);
    }
    let Some(dest_coords) = coords else {
        return Route::NoCoords;
    };
    let my_distance = own_distance(mesh.my_coords(), dest_coords);
    if let Some(p) = best_bloom_candidate(mesh, dest, dest_coords, my_distance) {
        return Route::Peer(p);
    }
    match greedy_tree_hop(mesh, dest, dest_coords, my_distance) {
        Some(p) => Route::Peer(p),
        None => Route::NoProgress,
    }
}

/// Our distance to the destination. When we are on the destination's path
/// our position there is exact even if our own coordinates moved since
/// (measuring from new coordinates against old ones would make a peer
/// look closer than us and bounce packets between us).
fn own_distance(mine: &[NodeAddr], dest_coords: &[NodeAddr]) -> usize {
    if let Some(i) = mine
        .first()
        .and_then(|me| dest_coords.iter().position(|a| a == me))
    {
        return i;
    }
    tree_distance(mine, dest_coords)
}

/// Tree distance from a peer to the destination. A peer on the
/// destination's own path is placed by its position there, which holds even
/// when the peer's announce to us was lost or is stale.
fn peer_distance(p: &PeerInfo<'_>, dest_coords: &[NodeAddr]) -> usize {
    if let Some(i) = dest_coords.iter().position(|a| *a == p.addr) {
        return i;
    }
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
    let mut best: Option<Candidate> = None;
    for p in mesh.peers_for(dest).filter(|p| p.may_reach) {
        let d = peer_distance(&p, dest_coords);
        if d >= my_distance {
            continue;
        }
        let cand = (p.silent, p.link_cost, d, p.addr);
        let better = match &best {
            None => true,
            Some(b) => rank(&cand, b) == Ordering::Less,
        };
        if better {
            best = Some(cand);
        }
    }
    best.map(|b| b.3)
}

/// (silent, link cost, distance, address): a silent peer ranks after every
/// answering one, whatever its last measured cost.
type Candidate = (bool, f64, usize, NodeAddr);

fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    a.0.cmp(&b.0)
        .then(a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal))
        .then(a.2.cmp(&b.2))
        .then(a.3.cmp(&b.3))
}

fn greedy_tree_hop<M: MeshView>(
    mesh: &M,
    dest: &NodeAddr,
    dest_coords: &[NodeAddr],
    my_distance: usize,
) -> Option<NodeAddr> {
    if my_distance == usize::MAX {
        return None; // another tree: greedy routing needs the same root
    }
    mesh.peers_for(dest)
        .map(|p| (p.silent, peer_distance(&p, dest_coords), p.addr))
        .filter(|(_, d, _)| *d < my_distance)
        .min()
        .map(|(.., a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::routing::testmesh::{TestMesh, TestPeer, TestView};

    fn a(b: u8) -> NodeAddr {
        NodeAddr([b; 16])
    }

    /// Us at depth 1 under root R(0x01); children C1 (0x30) and a lateral
    /// non-tree peer L (0x40) sitting under R too.
    fn mesh() -> (TestView, NodeAddr) {
        let me = Identity::from_secret_bytes([9; 32]).expect("key");
        let my = me.node_addr();
        let root = TestPeer::new(a(1), vec![a(1)]);
        let child = TestPeer::new(a(0x30), vec![a(0x30), my, a(1)]);
        let mut lateral = TestPeer::new(a(0x40), vec![a(0x40), a(1)]);
        lateral.tree = false;
        (
            TestMesh::new(me, vec![my, a(1)], vec![root, child, lateral]).view,
            my,
        )
    }

    #[test]
    fn tree_distance_counts_hops_through_the_common_ancestor() {
        let (r, x, y, z) = (a(1), a(2), a(3), a(4));
        assert_eq!(tree_distance(&[x, r], &[y, r]), 2);
        assert_eq!(tree_distance(&[z, x, r], &[x, r]), 1);
        assert_eq!(tree_distance(&[x, r], &[x, r]), 0);
        assert_eq!(
            tree_distance(&[x, r], &[y, z]),
            usize::MAX,
            "different roots"
        );
        assert_eq!(tree_distance(&[], &[y, r]), usize::MAX);
    }

    #[test]
    fn a_direct_peer_wins_without_coordinates() {
        let (m, _) = mesh();
        assert_eq!(find_next_hop(&m, &a(0x40), None), Route::Peer(a(0x40)));
        assert_eq!(find_next_hop(&m, &a(0x77), None), Route::NoCoords);
    }

    #[test]
    fn bloom_candidates_must_be_strictly_closer_and_rank_by_cost_then_distance() {
        let (mut m, my) = mesh();
        let dest = a(0x50);
        let dest_coords = [dest, a(0x40), a(1)]; // below L
        m.peers[1].reaches.push(dest); // the child claims it, but is farther
        let greedy = find_next_hop(&m, &dest, Some(&dest_coords));
        assert_eq!(
            greedy,
            Route::Peer(a(0x40)),
            "no closer bloom hit: greedy picks the closest"
        );
        m.peers[0].reaches.push(dest);
        m.peers[0].cost = 0.5; // root: distance 2 < our 3, and cheaper than L
        m.peers[2].reaches.push(dest);
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(1)),
            "cost first"
        );
        m.peers[0].cost = 1.0;
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(0x40)),
            "then distance"
        );
        let below_me = [a(0x60), a(0x30), my, a(1)];
        m.peers[1].reaches.push(a(0x60));
        assert_eq!(
            find_next_hop(&m, &a(0x60), Some(&below_me)),
            Route::Peer(a(0x30))
        );
    }

    #[test]
    fn our_position_on_the_destination_path_beats_our_moved_coordinates() {
        let (mut m, my) = mesh();
        // The destination's coordinates still show it below us via the
        // child, but we have since moved under L: measured from our new
        // coordinates the root would look closer than us.
        m.coords = vec![my, a(0x40), a(1)];
        let dest = [a(0x61), a(0x30), my, a(1)];
        assert_eq!(
            find_next_hop(&m, &a(0x61), Some(&dest)),
            Route::Peer(a(0x30))
        );
        m.peers.remove(1);
        assert_eq!(find_next_hop(&m, &a(0x61), Some(&dest)), Route::NoProgress);
    }

    #[test]
    fn no_progress_when_no_peer_is_closer_or_the_root_differs() {
        let (m, my) = mesh();
        let other_tree = [a(0x70), a(0x02)];
        assert_eq!(
            find_next_hop(&m, &a(0x70), Some(&other_tree)),
            Route::NoProgress
        );
        let behind_me = [a(0x71), my, a(1)]; // a child of ours we have no link to
        assert_eq!(
            find_next_hop(&m, &a(0x71), Some(&behind_me)),
            Route::NoProgress
        );
    }

    #[test]
    fn a_silent_peer_is_chosen_only_when_no_answering_peer_makes_progress() {
        let (mut m, _) = mesh();
        let dest = a(0x50);
        let dest_coords = [dest, a(0x40), a(1)];
        m.peers[0].reaches.push(dest);
        m.peers[2].reaches.push(dest);
        m.peers[2].cost = 0.5; // L: closer and cheaper, but silent
        m.peers[2].silent = true;
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(1)),
            "bloom: the answering root, despite the cost"
        );
        m.peers[0].reaches.clear();
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(0x40)),
            "bloom: silent L, as nobody else claims the destination"
        );
        m.peers[2].reaches.clear();
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(1)),
            "greedy: the root (distance 2) over silent L (distance 1)"
        );
        m.peers[0].silent = true;
        assert_eq!(
            find_next_hop(&m, &dest, Some(&dest_coords)),
            Route::Peer(a(0x40)),
            "greedy: all silent, so the closest again"
        );
    }
}
