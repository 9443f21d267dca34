//! Spanning tree and bloom filters over real links in the simulator.

use std::time::Duration;

use super::{mesh_identities, secs, LinkParams, Sim};

/// The static mesh of identity.json (links a-d a-e c-d b-c d-e c-e).
fn static_mesh(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    for (name, id) in mesh_identities() {
        sim.add_node(&name, id);
    }
    let idx = |n: &str| (n.as_bytes()[0] - b'a') as usize;
    let fast = LinkParams::default();
    // c-e slower than c-d, so c's parent is unambiguous (d).
    let slow = LinkParams {
        latency: Duration::from_millis(100),
        ..fast
    };
    for (x, y) in [("a", "d"), ("a", "e"), ("c", "d"), ("b", "c"), ("d", "e")] {
        sim.dial(idx(x), idx(y), fast);
    }
    sim.dial(idx("c"), idx("e"), slow);
    sim
}

#[test]
fn static_mesh_elects_a_as_root_with_expected_parents() {
    let mut sim = static_mesh(21);
    // Past the 30 s parent hold-down, so c settles on the cheaper link.
    sim.run_for(secs(60));
    let addr = |i: usize| sim.nodes[i].identity.node_addr();
    let (a, b, c, d, e) = (0, 1, 2, 3, 4);
    for i in 0..5 {
        assert_eq!(sim.node(i).tree.root(), addr(a), "node {i}");
    }
    assert!(sim.node(a).tree.is_root());
    assert_eq!(sim.node(d).tree.parent(), Some(addr(a)));
    assert_eq!(sim.node(e).tree.parent(), Some(addr(a)));
    assert_eq!(sim.node(c).tree.parent(), Some(addr(d)));
    assert_eq!(sim.node(b).tree.parent(), Some(addr(c)));
    assert_eq!(
        sim.node(b).tree.my_coords(),
        vec![addr(b), addr(c), addr(d), addr(a)]
    );
    let snap = sim.node(b).snapshot(sim.now);
    assert_eq!(snap.tree.root, addr(a).to_hex());
    assert_eq!(snap.tree.depth, 3);
    assert!(snap.peers.peers[0].is_parent);
    for i in 0..5 {
        let c = sim.node(i).counters();
        assert_eq!(c.tree_sig_failed + c.filter_rejected, 0, "node {i}: {c:?}");
    }
}

#[test]
fn bloom_filters_reach_the_leaf_through_the_tree() {
    let mut sim = static_mesh(22);
    sim.run_for(secs(20));
    let (b, c) = (1, 2);
    let from_c = sim
        .node(b)
        .bloom
        .inbound(&sim.nodes[c].identity.node_addr())
        .cloned();
    let from_c = from_c.expect("b holds c's filter");
    for i in 0..5 {
        assert!(
            from_c.contains(&sim.nodes[i].identity.node_addr()) || i == b,
            "node {i}"
        );
    }
    // Split horizon: c does not echo b back to b.
    assert!(!from_c.contains(&sim.nodes[b].identity.node_addr()));
}

#[test]
fn tree_heals_when_the_root_dies() {
    let mut sim = static_mesh(23);
    sim.run_for(secs(20));
    sim.crash(0);
    sim.run_for(secs(60));
    let addr = |i: usize| sim.nodes[i].identity.node_addr();
    // b is the smallest remaining NodeAddr.
    for i in 1..5 {
        assert_eq!(sim.node(i).tree.root(), addr(1), "node {i}");
    }
}
