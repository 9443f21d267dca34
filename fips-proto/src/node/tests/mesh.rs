//! Spanning tree and bloom filters over real links in the simulator.

use super::{latency_ms, mesh_identities, secs, LinkParams, Sim};

/// The static mesh of identity.json, c-e slower than c-d so c's parent is
/// unambiguous (d).
fn static_mesh(seed: u64) -> Sim {
    let slow = latency_ms(100);
    super::static_mesh(seed, |link| {
        if link == (2, 4) {
            slow
        } else {
            LinkParams::default()
        }
    })
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
    assert_eq!(sim.node(b).tree.root(), addr(a));
    assert_eq!(snap.tree.depth(), 3);
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

#[test]
fn unchanged_filter_and_announce_are_sent_again_after_the_mesh_refresh() {
    let mut sim = Sim::new(24);
    let ids = mesh_identities();
    for (name, id) in ids.into_iter().take(2) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, LinkParams::default());
    sim.run_for(secs(5));
    let a = sim.nodes[0].identity.node_addr();
    let seq_before = sim.node(1).bloom.inbound_seq(&a).expect("b has a's filter");
    let stale_before = sim.node(1).counters().tree_stale;
    // One refresh interval (15 s ± 25 %) later.
    sim.run_for(secs(20));
    let seq_after = sim.node(1).bloom.inbound_seq(&a).expect("b has a's filter");
    assert!(seq_after > seq_before, "{seq_after} > {seq_before}");
    assert!(
        sim.node(1).counters().tree_stale > stale_before,
        "b got a's announce again (same seq, dropped as a copy)"
    );
}

#[test]
fn a_leaf_sends_its_filter_again_after_choosing_its_parent() {
    // A reference parent merges a child's filter only once it is a tree
    // peer and does not re-merge the one it stored before: the leaf must
    // resend after its parent switch even though its content ({self}) is
    // unchanged.
    let mut sim = Sim::new(23);
    let ids = mesh_identities();
    let a = sim.add_node(&ids[0].0, ids[0].1.clone());
    let b = sim.add_node(&ids[1].0, ids[1].1.clone());
    sim.dial(b, a, LinkParams::default());
    sim.run_for(secs(3)); // well inside the 15 s mesh refresh
    let b_addr = sim.node(b).node_addr();
    assert_eq!(sim.node(b).tree.parent(), Some(sim.node(a).node_addr()));
    let seq = sim
        .node(a)
        .bloom
        .inbound_seq(&b_addr)
        .expect("a has b's filter");
    assert!(seq >= 2, "b sent its filter once only (seq {seq})");
}

/// A declaration is signed once and every peer gets that copy: on a hub,
/// each periodic re-send to thousands of peers used to sign again.
#[test]
fn every_peer_gets_the_same_signed_copy_of_one_declaration() {
    let mut sim = static_mesh(21);
    sim.run_for(secs(60));
    let (now, d) = (sim.now, 3);
    let public = *sim.nodes[d].identity.public();
    let first = sim.node_mut(d).signed_announce(now);
    let again = sim.node_mut(d).signed_announce(now + secs(30));
    assert_eq!(first, again, "signed again for an unchanged declaration");
    assert!(public.verify(&first.declaration_bytes(), &first.signature));
    // d's parent (a) goes: a new declaration gets a new signature.
    sim.crash(0);
    sim.run_for(secs(60));
    let now = sim.now;
    let later = sim.node_mut(d).signed_announce(now);
    assert!(later.seq > first.seq, "d declared again");
    assert_ne!(later.signature, first.signature);
    assert!(public.verify(&later.declaration_bytes(), &later.signature));
}
