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
    for (i, id) in ids.iter().enumerate() {
        let c = sim.node(i).counters();
        assert!(c.rekeys >= 4, "node {i}: {c:?}");
        assert_eq!(
            c.decrypt_failed + c.dead_peers + c.handshake_failed,
            0,
            "node {i}: {c:?}"
        );
        // Same link the whole time: never re-established.
        assert_eq!(sim.node(i).snapshot(sim.now).peers.peers[0].link_id, *id);
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
        // What went out on the losing session was sent again on the winner.
        let other = sim.nodes[1 - i].identity.node_addr();
        assert!(
            sim.node(i).bloom.inbound(&other).is_some(),
            "node {i} lacks the filter"
        );
        assert!(
            sim.node(i).tree.peer_coords(&other).is_some(),
            "node {i} lacks the announce"
        );
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

#[test]
fn shutdown_sends_disconnect_and_the_peer_drops_the_link_at_once() {
    let mut sim = chain(12, LinkParams::default());
    sim.run_for(secs(5));
    let now = sim.now;
    sim.node_mut(0).shutdown(now);
    sim.run_for(Duration::from_millis(100));
    assert!(!sim.linked(1, 0));
    assert!(sim.linked(1, 2));
    assert_eq!(sim.node(1).counters().dead_peers, 0);
    assert!(
        sim.node(0).poll_timeout().is_none(),
        "a stopped node has no timers"
    );
}

#[test]
fn disconnect_removes_the_peer_on_both_sides_and_stops_redialling() {
    let mut sim = chain(13, LinkParams::default());
    sim.run_for(secs(5));
    let (now, b) = (sim.now, sim.nodes[1].identity.node_addr());
    sim.node_mut(0).disconnect(now, &b);
    sim.run_for(secs(120));
    assert!(!sim.linked(0, 1) && !sim.linked(1, 0));
    assert!(sim.linked(2, 1));
}

#[test]
fn unanswered_dial_resends_msg1_then_backs_off() {
    let mut sim = chain(14, LinkParams::default());
    sim.crash(1);
    sim.run_for(secs(80));
    let start = sim.start;
    let sent: Vec<u64> = sim
        .capture
        .iter()
        .filter(|c| c.from == 0 && c.bytes.first() == Some(&0x01))
        .map(|c| c.at.duration_since(start).as_secs())
        .collect();
    // 1 s ×2 resends within the 30 s timeout, then 5 s, 10 s, ... between dials.
    assert_eq!(sent, vec![0, 1, 3, 7, 15, 35, 36, 38, 42, 50, 75, 76, 78]);
    assert_eq!(sim.node(0).counters().handshake_timeouts, 2);
    sim.restart(1);
    sim.run_for(secs(120));
    assert!(sim.linked(0, 1), "the dial succeeds once b is back");
}

#[test]
fn simultaneous_rekeys_resolve_by_the_smaller_address() {
    let mut sim = Sim::new(15);
    for (name, id) in mesh_identities().into_iter().take(2) {
        sim.add_node(&name, id);
    }
    let p = LinkParams {
        latency: Duration::from_millis(40),
        ..LinkParams::default()
    };
    sim.dial(0, 1, p);
    sim.run_for(secs(40));
    let (a, b) = (
        sim.nodes[0].identity.node_addr(),
        sim.nodes[1].identity.node_addr(),
    );
    assert!(a < b);
    let now = sim.now;
    sim.node_mut(0).start_rekey(now, b);
    sim.node_mut(1).start_rekey(now, a);
    sim.run_for(secs(5));
    let (ca, cb) = (sim.node(0).counters(), sim.node(1).counters());
    assert_eq!(
        ca.rekey_msg1_dropped, 1,
        "a (smaller) drops b's msg1: {ca:?}"
    );
    assert_eq!(
        cb.rekey_msg1_dropped, 0,
        "b abandons its own and answers a: {cb:?}"
    );
    assert_eq!((ca.rekeys, cb.rekeys), (1, 1));
    // Both ends now run the session a initiated.
    let (pa, pb) = (&sim.node(0).peers[&b], &sim.node(1).peers[&a]);
    assert_eq!(pa.current.initiator, a);
    assert_eq!(pa.current.their_index, pb.current.our_index);
    assert!(pb.rekey.is_none());
    sim.run_for(secs(60));
    let (ca, cb) = (sim.node(0).counters(), sim.node(1).counters());
    assert_eq!(
        ca.decrypt_failed + cb.decrypt_failed + ca.dead_peers + cb.dead_peers,
        0
    );
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
}

#[test]
fn rekeys_survive_a_lossy_link() {
    let lossy = LinkParams {
        latency: Duration::from_millis(15),
        loss: 0.1,
        duplicate: 0.05,
    };
    let mut sim = chain(16, lossy);
    sim.run_for(secs(5));
    let id = sim.node(0).snapshot(sim.now).peers.peers[0].link_id;
    sim.run_for(secs(900));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
    assert_eq!(sim.node(0).snapshot(sim.now).peers.peers[0].link_id, id);
    let c = sim.node(0).counters();
    assert!(c.rekeys >= 5, "{c:?}");
    assert_eq!(c.dead_peers + c.decrypt_failed, 0, "{c:?}");
}

#[test]
fn a_responder_cuts_over_when_a_frame_authenticates_under_pending() {
    let mut sim = chain(17, LinkParams::default());
    sim.run_for(secs(40));
    let b = sim.nodes[1].identity.node_addr();
    let now = sim.now;
    // a starts a rekey by hand; b answers and holds the session as pending.
    sim.node_mut(0).start_rekey(now, b);
    sim.run_for(Duration::from_millis(20));
    let a_addr = sim.nodes[0].identity.node_addr();
    assert!(sim.node(1).peers[&a_addr].pending.is_some());
    // a's cutover comes first; its next frame promotes pending on b.
    let now = sim.now;
    sim.node_mut(0).cutover(now, b);
    sim.node_mut(0)
        .send_link_message(now, &b, &crate::wire::link::LinkMessage::Heartbeat);
    sim.run_for(Duration::from_millis(20));
    let pb = &sim.node(1).peers[&a_addr];
    assert!(pb.pending.is_none() && pb.previous.is_some());
    assert!(pb.k_bit);
    assert_eq!(sim.node(1).counters().rekeys, 1);
}

/// Every key we emit exists at the same place in the reference's JSON.
fn assert_keys_subset(ours: &serde_json::Value, theirs: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                let tv = t
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is not a reference field"));
                assert_keys_subset(v, tv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            if let (Some(o0), Some(t0)) = (o.first(), t.first()) {
                assert_keys_subset(o0, t0, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}

#[test]
fn snapshot_field_names_follow_the_reference_control_json() {
    let mut sim = chain(18, LinkParams::default());
    sim.run_for(secs(20));
    let snap = serde_json::to_value(sim.node(1).snapshot(sim.now)).expect("serializes");
    let reference = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json");
    let cases = [
        ("status", include_str!("testdata/a-show-status.json")),
        ("peers", include_str!("testdata/b-show-peers.json")),
        ("links", include_str!("testdata/b-show-links.json")),
        ("tree", include_str!("testdata/b-show-tree.json")),
    ];
    for (name, json) in cases {
        assert_keys_subset(&snap[name], &reference(json), name);
    }
    assert_eq!(snap["status"]["peer_count"], 2);
    assert_eq!(snap["peers"]["peers"][0]["connectivity"], "connected");
    assert_eq!(
        snap["tree"]["root"],
        sim.nodes[0].identity.node_addr().to_hex()
    );
}

#[test]
fn a_peer_that_dies_during_a_rekey_is_dropped_when_the_cycle_is_abandoned() {
    let mut sim = chain(19, LinkParams::default());
    sim.run_for(secs(40));
    let b = sim.nodes[1].identity.node_addr();
    sim.crash(1);
    let now = sim.now;
    sim.node_mut(0).start_rekey(now, b);
    // Dead check deferred while msg1 is resent (~31 s), then dropped.
    sim.run_for(secs(30));
    assert!(sim.linked(0, 1));
    sim.run_for(secs(5));
    assert!(!sim.linked(0, 1));
    assert_eq!(sim.node(0).counters().dead_peers, 1);
}

#[test]
fn random_and_mutated_datagrams_never_panic_and_are_counted() {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let mut sim = chain(20, LinkParams::default());
    sim.run_for(secs(45));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let samples: Vec<Vec<u8>> = sim
        .capture
        .iter()
        .rev()
        .take(50)
        .map(|c| c.bytes.clone())
        .collect();
    for round in 0..3000 {
        let d = if round % 2 == 0 {
            let mut v = vec![0u8; (rng.next_u32() % 1500) as usize];
            rng.fill_bytes(&mut v);
            if let Some(b) = v.first_mut() {
                *b &= 0x03; // a valid-looking phase
            }
            v
        } else {
            let mut v = samples[round % samples.len()].clone();
            let i = rng.next_u32() as usize % v.len();
            v[i] ^= 1 << (rng.next_u32() % 8);
            v
        };
        sim.inject(1, 0, &d);
    }
    let c = sim.node(0).counters();
    let dropped =
        c.malformed + c.unknown_index + c.decrypt_failed + c.replayed + c.handshake_failed;
    assert!(dropped >= 2900, "{c:?}");
    sim.run_for(secs(30));
    assert!(sim.linked(0, 1) && sim.linked(2, 1));
}

#[test]
fn busy_links_rekey_by_message_count_but_never_before_30s() {
    let mut sim = Sim::new(24);
    sim.timers.rekey_after_messages = 20;
    for (name, id) in mesh_identities().into_iter().take(2) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, LinkParams::default());
    sim.run_for(secs(29));
    assert_eq!(
        sim.node(0).counters().rekeys + sim.node(1).counters().rekeys,
        0
    );
    sim.run_for(secs(100));
    let (a, b) = (sim.node(0).counters(), sim.node(1).counters());
    assert!(a.rekeys >= 3 && b.rekeys >= 3, "{a:?} {b:?}");
    assert_eq!(
        a.decrypt_failed + b.decrypt_failed + a.dead_peers + b.dead_peers,
        0
    );
}
