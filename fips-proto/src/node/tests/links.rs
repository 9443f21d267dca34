//! Link setup, liveness, restart, cross-connection, disconnect and backoff.

use std::time::Duration;

use crate::node::snapshot::RunState;

use super::{
    chain, chain_after, latency_ms, lossy, mesh_identities, secs, static_mesh, static_mesh_links,
    two_nodes, LinkParams, Sim,
};

#[test]
fn three_node_chain_links_up_and_heartbeats_keep_it_alive() {
    let mut sim = chain_after(1, 2);
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
    let mut sim = chain(7, lossy(20, 0.3, 0.2));
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
    let mut sim = static_mesh(3, |_| LinkParams::default());
    sim.run_for(secs(5));
    for (x, y) in static_mesh_links() {
        assert!(
            sim.linked(x, y) && sim.linked(y, x),
            "{}-{}",
            sim.nodes[x].name,
            sim.nodes[y].name
        );
    }
    let idx = |n: &str| (n.as_bytes()[0] - b'a') as usize;
    assert_eq!(sim.node(idx("c")).peer_addrs().len(), 3);
    assert_eq!(sim.node(idx("b")).peer_addrs().len(), 1);
}

#[test]
fn dead_peer_is_dropped_within_35s_and_relinks_after_restart() {
    let mut sim = chain_after(5, 40);
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
    let mut sim = chain_after(6, 10);
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
    let mut sim = two_nodes(9);
    let p = latency_ms(30);
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
fn shutdown_sends_disconnect_and_the_peer_drops_the_link_at_once() {
    let mut sim = chain_after(12, 5);
    let now = sim.now;
    sim.node_mut(0).shutdown(now);
    sim.run_for(Duration::from_millis(100));
    assert!(!sim.linked(1, 0));
    assert!(sim.linked(1, 2));
    assert_eq!(sim.node(1).counters().dead_peers, 0);
    assert!(
        sim.node_mut(0).poll_timeout().is_none(),
        "a stopped node has no timers"
    );
}

#[test]
fn drain_says_goodbye_at_once_keeps_its_links_and_refuses_new_ones_until_shutdown() {
    let mut sim = chain_after(15, 5);
    let now = sim.now;
    sim.node_mut(1).begin_drain(now);
    sim.run_for(Duration::from_millis(100));
    assert!(
        !sim.linked(0, 1) && !sim.linked(2, 1),
        "the peers dropped it at once"
    );
    assert_eq!(sim.node(0).counters().dead_peers, 0);
    assert_eq!(
        sim.node(1).peer_count(),
        2,
        "a draining node keeps its links"
    );
    assert_eq!(
        sim.node(1).snapshot(sim.now).status.state,
        RunState::Draining
    );
    // The peers dial again; a draining node takes no new link.
    sim.run_for(secs(10));
    assert!(!sim.linked(0, 1) && !sim.linked(2, 1));
    let now = sim.now;
    sim.node_mut(1).shutdown(now);
    assert_eq!(sim.node(1).peer_count(), 0);
    assert!(
        sim.node_mut(1).poll_transmit(&mut Vec::new()).is_none(),
        "no second Disconnect after the drain"
    );
}

#[test]
fn disconnect_removes_the_peer_on_both_sides_and_stops_redialling() {
    let mut sim = chain_after(13, 5);
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
fn mutual_auto_connect_peers_relink_after_a_restart() {
    let mut sim = two_nodes(25);
    let p = LinkParams::default();
    sim.dial(0, 1, p);
    sim.dial(1, 0, p);
    sim.run_for(secs(40));
    for victim in [0, 1] {
        sim.crash(victim);
        sim.run_for(secs(3));
        sim.restart(victim);
        sim.run_for(secs(5));
        assert!(
            sim.linked(0, 1) && sim.linked(1, 0),
            "after restarting {victim}"
        );
        let survivor = 1 - victim;
        assert!(
            sim.node_mut(survivor).poll_timeout() > Some(sim.now),
            "no timer stuck in the past"
        );
    }
    sim.run_for(secs(60));
    let (a, b) = (sim.node(0).counters(), sim.node(1).counters());
    assert_eq!(
        a.decrypt_failed + b.decrypt_failed + a.dead_peers + b.dead_peers,
        0
    );
}

#[test]
fn mutual_dials_over_lossy_links_always_converge_on_one_session() {
    let mut dead = 0;
    for seed in 0..24u64 {
        let mut sim = Sim::new(100 + seed);
        for (name, id) in mesh_identities().into_iter().take(2) {
            sim.add_node(&name, id);
        }
        let p = lossy(1 + seed * 7, 0.25, 0.1);
        sim.dial(0, 1, p);
        sim.dial(1, 0, p);
        sim.run_for(secs(240));
        let (a, b) = (
            sim.nodes[0].identity.node_addr(),
            sim.nodes[1].identity.node_addr(),
        );
        // A rekey may be in flight at any instant; within a minute both ends
        // must agree on one session.
        let agreed = (0..60).any(|_| {
            sim.run_for(secs(1));
            let (Some(pa), Some(pb)) = (sim.node(0).peers.get(&b), sim.node(1).peers.get(&a))
            else {
                return false;
            };
            pa.current.their_index == pb.current.our_index
                && pb.current.their_index == pa.current.our_index
        });
        assert!(
            agreed,
            "seed {seed}: the two ends never agreed on a session"
        );
        let (ca, cb) = (sim.node(0).counters(), sim.node(1).counters());
        assert_eq!(ca.decrypt_failed + cb.decrypt_failed, 0, "seed {seed}");
        dead += ca.dead_peers + cb.dead_peers;
    }
    // A link may die only when every handshake message of a cross-connection
    // or rekey is lost (rare at 25% loss); rekeys must not kill links.
    assert!(dead <= 1, "{dead} links died");
}

#[test]
fn a_peer_given_a_new_address_is_dialled_there_at_once_not_after_the_backoff() {
    let mut sim = two_nodes(11);
    sim.connect_wire(0, 1, super::LinkParams::default());
    // The configured address is wrong (nobody there): dials time out and
    // back off.
    let mut pc = sim.peer_config(1);
    let right = pc.addrs[0];
    pc.addrs = vec![Sim::addr_of(7)];
    let now = sim.now;
    sim.node_mut(0).connect(now, pc.clone());
    sim.run_for(secs(20));
    assert!(!sim.linked(0, 1));
    // The name now resolves to the right address: linked within a second.
    let now = sim.now;
    let peer = pc.identity.node_addr();
    assert!(sim.node_mut(0).set_peer_addrs(now, &peer, vec![right]));
    sim.run_for(secs(1));
    assert!(sim.linked(0, 1) && sim.linked(1, 0));
    // The same addresses again change nothing.
    let now = sim.now;
    assert!(!sim.node_mut(0).set_peer_addrs(now, &peer, vec![right]));
}

#[test]
fn new_addresses_leave_a_live_link_alone_and_unknown_peers_are_ignored() {
    let mut sim = chain_after(12, 2);
    assert!(sim.linked(0, 1));
    let peer = sim.peer_config(1).identity.node_addr();
    let now = sim.now;
    assert!(sim
        .node_mut(0)
        .set_peer_addrs(now, &peer, vec![Sim::addr_of(7)]));
    sim.run_for(secs(5));
    assert!(sim.linked(0, 1), "a live link is not torn down");
    let stranger = sim.peer_config(2).identity.node_addr();
    let now = sim.now;
    assert!(!sim.node_mut(0).set_peer_addrs(now, &stranger, vec![]));
}

#[test]
fn a_silent_peer_whose_name_now_resolves_elsewhere_is_redialled_there() {
    use crate::node::{DownReason, NodeEvent};
    let mut sim = chain_after(13, 2);
    assert!(sim.linked(0, 1));
    let peer = sim.peer_config(1).identity.node_addr();
    sim.crash(1);
    sim.run_for(secs(5));
    assert!(
        sim.nodes[0]
            .events
            .contains(&NodeEvent::PeerSilent { addr: peer }),
        "the daemon is told the peer fell silent"
    );
    let moved_to = Sim::addr_of(7);
    let now = sim.now;
    assert!(sim.node_mut(0).set_peer_addrs(now, &peer, vec![moved_to]));
    sim.run_for(Duration::from_millis(10));
    assert!(
        !sim.node(0).peer_addrs().contains(&peer),
        "old link dropped"
    );
    assert!(sim.nodes[0].events.contains(&NodeEvent::PeerDown {
        addr: peer,
        reason: DownReason::Moved
    }));
    let dials = sim.node(0).connections_view(sim.now).connections;
    assert!(
        dials.iter().any(|d| d.remote_addr == moved_to),
        "no dial to the new address: {dials:?}"
    );
}

#[test]
fn a_move_learned_while_the_link_still_answered_takes_effect_once_it_falls_silent() {
    use crate::node::{DownReason, NodeEvent};
    let mut sim = chain_after(14, 2);
    let peer = sim.peer_config(1).identity.node_addr();
    let moved_to = vec![Sim::addr_of(7)];
    let now = sim.now;
    assert!(sim.node_mut(0).set_peer_addrs(now, &peer, moved_to.clone()));
    sim.run_for(secs(1));
    assert!(sim.linked(0, 1), "an answering link is kept");
    sim.crash(1);
    sim.run_for(secs(5));
    // The same list again: unchanged, but the link is silent and its
    // address is not in it.
    let now = sim.now;
    assert!(sim.node_mut(0).set_peer_addrs(now, &peer, moved_to));
    sim.run_for(Duration::from_millis(10));
    assert!(sim.nodes[0].events.contains(&NodeEvent::PeerDown {
        addr: peer,
        reason: DownReason::Moved
    }));
}
