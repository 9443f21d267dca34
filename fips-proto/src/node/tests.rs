//! Node behaviour in the simulator: link setup, liveness, rekey, restart,
//! cross-connection, hostile input; and the IK known-answer exchange.

use std::time::Duration;

use super::sim::{mesh_identities, LinkParams, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// a – b – c, a and c dial b.
fn chain(seed: u64, params: LinkParams) -> Sim {
    let mut sim = Sim::new(seed);
    let ids = mesh_identities();
    for (name, id) in ids.into_iter().take(3) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, params);
    sim.dial(2, 1, params);
    sim
}

#[test]
fn three_node_chain_links_up_and_heartbeats_keep_it_alive() {
    let mut sim = chain(1, LinkParams::default());
    sim.run_for(secs(2));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
    assert!(sim.linked(2, 1) && sim.linked(1, 2));
    assert!(!sim.linked(0, 2));
    let before = sim.node(0).snapshot(sim.now).peers.peers[0]
        .stats
        .packets_recv;
    sim.run_for(secs(95));
    let snap = sim.node(0).snapshot(sim.now);
    assert_eq!(snap.peers.peers.len(), 1);
    // At least one heartbeat per 10 s arrived, plus reports.
    assert!(snap.peers.peers[0].stats.packets_recv >= before + 9);
    for i in 0..3 {
        let c = sim.node(i).counters();
        assert_eq!(
            c.decrypt_failed + c.replayed + c.malformed + c.dead_peers,
            0,
            "{c:?}"
        );
    }
}

#[test]
fn links_form_despite_loss_and_duplication() {
    let lossy = LinkParams {
        latency: Duration::from_millis(20),
        loss: 0.3,
        duplicate: 0.2,
    };
    let mut sim = chain(7, lossy);
    sim.run_for(secs(60));
    assert!(sim.linked(0, 1) && sim.linked(1, 0) && sim.linked(2, 1) && sim.linked(1, 2));
    let dup: u64 = (0..3).map(|i| sim.node(i).counters().replayed).sum();
    assert!(
        dup > 0,
        "duplicated frames must be caught by the replay window"
    );
}

#[test]
fn static_mesh_forms_all_six_links() {
    let mut sim = Sim::new(3);
    for (name, id) in mesh_identities() {
        sim.add_node(&name, id);
    }
    let idx = |n: &str| (n.as_bytes()[0] - b'a') as usize;
    let links = [
        ("a", "d"),
        ("a", "e"),
        ("c", "d"),
        ("b", "c"),
        ("d", "e"),
        ("c", "e"),
    ];
    for (x, y) in links {
        sim.dial(idx(x), idx(y), LinkParams::default());
    }
    sim.run_for(secs(5));
    for (x, y) in links {
        assert!(
            sim.linked(idx(x), idx(y)) && sim.linked(idx(y), idx(x)),
            "{x}-{y}"
        );
    }
    assert_eq!(sim.node(idx("c")).peer_addrs().len(), 3);
    assert_eq!(sim.node(idx("b")).peer_addrs().len(), 1);
}

#[test]
fn links_survive_rekeys_for_ten_minutes() {
    let mut sim = chain(11, LinkParams::default());
    sim.run_for(secs(2));
    let ids: Vec<u64> = (0..3)
        .map(|i| sim.node(i).snapshot(sim.now).peers.peers[0].link_id)
        .collect();
    sim.run_for(secs(600));
    for i in 0..3 {
        let c = sim.node(i).counters();
        assert!(c.rekeys >= 4, "node {i}: {c:?}");
        assert_eq!(
            c.decrypt_failed + c.dead_peers + c.handshake_failed,
            0,
            "node {i}: {c:?}"
        );
        // Same link the whole time: never re-established.
        assert_eq!(sim.node(i).snapshot(sim.now).peers.peers[0].link_id, ids[i]);
    }
    assert!(sim.linked(0, 1) && sim.linked(2, 1));
}

#[test]
fn dead_peer_is_dropped_within_35s_and_relinks_after_restart() {
    let mut sim = chain(5, LinkParams::default());
    sim.run_for(secs(40));
    assert!(sim.linked(0, 1));
    sim.crash(0);
    sim.run_for(secs(35));
    assert!(!sim.linked(1, 0), "b still lists a after 35 s of silence");
    assert_eq!(sim.node(1).counters().dead_peers, 1);
    sim.restart(0);
    sim.run_for(secs(3));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
}

#[test]
fn restarted_peer_with_new_epoch_is_reaccepted_before_the_dead_timeout() {
    let mut sim = chain(6, LinkParams::default());
    sim.run_for(secs(10));
    sim.crash(0);
    sim.run_for(secs(2));
    sim.restart(0);
    sim.run_for(secs(2));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
    assert_eq!(sim.node(1).counters().peer_restarts, 1);
    assert_eq!(sim.node(1).counters().dead_peers, 0);
}

#[test]
fn cross_connection_resolves_to_one_link() {
    let mut sim = Sim::new(9);
    for (name, id) in mesh_identities().into_iter().take(2) {
        sim.add_node(&name, id);
    }
    let p = LinkParams {
        latency: Duration::from_millis(30),
        ..LinkParams::default()
    };
    sim.dial(0, 1, p);
    sim.dial(1, 0, p);
    sim.run_for(secs(5));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
    let a = &sim.node(0).peers[&sim.nodes[1].identity.node_addr()];
    let b = &sim.node(1).peers[&sim.nodes[0].identity.node_addr()];
    // Both ends hold the same session: the one a (smaller NodeAddr) initiated.
    assert_eq!(a.current.their_index, b.current.our_index);
    assert_eq!(b.current.their_index, a.current.our_index);
    assert_eq!(a.current.initiator, sim.nodes[0].identity.node_addr());
    sim.run_for(secs(120));
    for i in 0..2 {
        let c = sim.node(i).counters();
        assert_eq!(c.decrypt_failed + c.dead_peers, 0, "{c:?}");
    }
}

#[test]
fn malformed_replayed_and_forged_datagrams_are_counted_and_dropped() {
    let mut sim = chain(4, LinkParams::default());
    sim.run_for(secs(15));
    let frame = sim
        .capture
        .iter()
        .rev()
        .find(|c| c.from == 1 && c.to == 0 && c.bytes[0] == 0)
        .expect("an established frame b->a")
        .bytes
        .clone();
    sim.inject(1, 0, &frame);
    assert_eq!(sim.node(0).counters().replayed, 1);

    for junk in [
        &[][..],
        &[0x00][..],
        &[0x7f, 0, 0, 0, 1, 2][..],
        &[0x01; 113][..],
    ] {
        sim.inject(1, 0, junk);
    }
    assert_eq!(sim.node(0).counters().malformed, 4);

    let mut forged = frame.clone();
    forged[8] = forged[8].wrapping_add(100); // a fresh counter, tag no longer matches
    sim.inject(1, 0, &forged);
    assert_eq!(sim.node(0).counters().decrypt_failed, 1);

    let mut stray = frame;
    stray[4] ^= 0xff; // unknown receiver index
    sim.inject(1, 0, &stray);
    assert_eq!(sim.node(0).counters().unknown_index, 1);

    sim.run_for(secs(30));
    assert!(sim.linked(0, 1), "hostile input must not hurt the link");
}

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
