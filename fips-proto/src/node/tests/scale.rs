//! A random hub-and-leaf mesh of 150 nodes (the small version of the
//! `meshsim` example): the tree settles, every sampled session reaches its
//! destination on near-shortest paths, and the mesh heals when its
//! best-connected hub dies.

use std::time::Duration;

use crate::node::sim::{Mesh, MeshSpec, Window};

const NODES: usize = 150;
/// Sampled sessions take at most this many times the shortest path's
/// hops on average (tree routing; measured 1.2-1.5 on such meshes).
const MEAN_STRETCH_BOUND: f64 = 2.0;
/// ... and at most this many times on any one pair.
const MAX_STRETCH_BOUND: f64 = 5.0;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Stop as soon as the tree settles, or at `limit`.
fn within(limit: Duration) -> Window {
    Window {
        observe: Duration::ZERO,
        limit,
    }
}

#[test]
fn a_random_mesh_of_150_nodes_settles_routes_near_shortest_and_heals_after_a_hub_dies() {
    let mut mesh = Mesh::build(&MeshSpec::new(NODES, 7));
    assert_eq!(mesh.hubs, 5);
    let start = mesh.converge(ms(250), secs(5), within(secs(30)));
    let settled = start.settled_after.expect("the tree settles after start");
    assert!(settled < secs(5), "settled after {settled:?}");

    let bloom = mesh.bloom_fill();
    assert_eq!(bloom.missing_from_parent, 0, "{bloom:?}");
    assert!(bloom.max_fill < 0.2, "not saturated: {bloom:?}");

    let l = mesh.lookups(40, 7, secs(8));
    assert_eq!((l.pairs, l.reached), (40, 40), "{l:?}");
    assert_eq!(l.measured, 40, "every pair's hops were seen: {l:?}");
    assert!(l.mean_stretch() <= MEAN_STRETCH_BOUND, "{l:?}");
    assert!(l.max_stretch <= MAX_STRETCH_BOUND, "{l:?}");
    assert_eq!(l.false_forwards, 0, "{l:?}");

    let hub = mesh.best_connected_hub();
    mesh.sim.crash(hub);
    let after = mesh.converge(ms(250), secs(5), within(secs(10)));
    let healed = after.settled_after.expect("the connected rest re-settles");
    // A silent parent is left after `peer_silent` (3 s).
    assert!(healed < secs(8), "healed after {healed:?}");
    assert!(after.moved > 0, "the dead hub's subtree moved: {after:?}");
}
