//! FMP rekey in the simulator: timing, dual initiation, loss, cutover, death.

use std::time::Duration;

use super::{
    chain, chain_after, latency_ms, lossy, mesh_identities, secs, two_nodes, LinkParams, Sim,
};

#[test]
fn links_survive_rekeys_for_ten_minutes() {
    let mut sim = chain_after(11, 2);
    let ids: Vec<u64> = (0..3)
        .map(|i| sim.node(i).snapshot(sim.now).peers.peers[0].link_id)
        .collect();
    sim.run_for(secs(600));
    for (i, id) in ids.iter().enumerate() {
        let c = sim.node(i).counters();
        assert!(c.rekeys >= 4, "node {i}: {c:?}");
        assert_eq!(
            c.decrypt_failed + c.dead_peers + c.handshake_failed + c.unknown_index + c.replayed,
            0,
            "node {i}: {c:?}"
        );
        // Same link the whole time: never re-established.
        assert_eq!(sim.node(i).snapshot(sim.now).peers.peers[0].link_id, *id);
    }
    assert!(sim.linked(0, 1) && sim.linked(2, 1));
}

#[test]
fn simultaneous_rekeys_resolve_by_the_smaller_address() {
    let mut sim = two_nodes(15);
    let p = latency_ms(40);
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
    let mut sim = chain(16, lossy(15, 0.1, 0.05));
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
    let mut sim = chain_after(17, 40);
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

#[test]
fn a_peer_that_dies_during_a_rekey_is_dropped_when_the_cycle_is_abandoned() {
    let mut sim = chain_after(19, 40);
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

/// A reference node rekeys a busy link after 65536 frames, seconds after it
/// came up, and decides by the K bit whether to try its pending session.
/// Our node must answer as a rekey (pending, K flips on cutover), not take
/// the msg1 as a new link (fresh session, K back at 0), whichever side dialled.
#[test]
fn a_rekey_msg1_on_a_young_link_is_answered_as_a_rekey_so_k_bits_agree() {
    for dialer in [0, 1] {
        let mut sim = two_nodes(31);
        sim.dial(dialer, 1 - dialer, LinkParams::default());
        sim.run_for(secs(10));
        let (a, b) = (
            sim.nodes[0].identity.node_addr(),
            sim.nodes[1].identity.node_addr(),
        );
        let link_b = sim.node(1).snapshot(sim.now).peers.peers[0].link_id;
        // a behaves like the reference: no 30 s floor under its rekeys.
        sim.node_mut(0).timers.rekey_min_age = Duration::ZERO;
        let now = sim.now;
        sim.node_mut(0).start_rekey(now, b);
        sim.run_for(secs(12));
        let (pa, pb) = (&sim.node(0).peers[&b], &sim.node(1).peers[&a]);
        let (ca, cb) = (sim.node(0).counters(), sim.node(1).counters());
        assert_eq!((ca.rekeys, cb.rekeys), (1, 1), "dialer {dialer}: {cb:?}");
        assert!(pa.k_bit && pb.k_bit, "dialer {dialer}: K bits must agree");
        assert_eq!(pa.current.their_index, pb.current.our_index);
        assert_eq!(pa.current.our_index, pb.current.their_index);
        let snap = sim.node(1).snapshot(sim.now);
        assert_eq!(snap.peers.peers[0].link_id, link_b, "dialer {dialer}");
        sim.run_for(secs(60));
        let (ca, cb) = (sim.node(0).counters(), sim.node(1).counters());
        assert_eq!(
            ca.decrypt_failed + cb.decrypt_failed + ca.dead_peers + cb.dead_peers,
            0,
            "dialer {dialer}: {ca:?} {cb:?}"
        );
        assert!(sim.linked(0, 1) && sim.linked(1, 0));
    }
}
