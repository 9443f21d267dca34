//! The control-socket views of bloom filters, MMP, pending handshakes and
//! the identity cache, built from a simulated a – b – c chain.

use crate::identity::{Identity, PeerIdentity};
use crate::node::inspect::HandshakePhase;
use crate::node::{Direction, PeerConfig};
use crate::NodeAddr;

use super::{chain_after, secs, Sim};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

fn settled_chain(seed: u64) -> Sim {
    chain_after(seed, 20)
}

fn addr(sim: &Sim, i: usize) -> NodeAddr {
    sim.nodes[i].identity.node_addr()
}

fn public(sim: &Sim, i: usize) -> PeerIdentity {
    *sim.nodes[i].identity.public()
}

#[test]
fn bloom_view_shows_each_peers_filter_with_the_nodes_behind_it() {
    let sim = settled_chain(41);
    let root = chain_root(&sim);
    assert_eq!(
        root, A,
        "the chain's tests assume a is the smallest address"
    );

    let b = sim.node(B).bloom_view();
    assert_eq!(b.own_node_addr, addr(&sim, B));
    assert_eq!(b.peer_filters.len(), 2);
    for pf in &b.peer_filters {
        let fill = pf.fill.expect("a and c both sent b a filter");
        assert!(pf.filter_sequence >= 1, "{pf:?}");
        // Each end of the chain only has itself behind it: 5 bits, ~1 entry.
        assert_eq!(fill.set_bits, 5, "{pf:?}");
        assert_eq!(fill.estimated_count.map(f64::round), Some(1.0));
    }
    // b sent at least one filter to each of its two peers.
    assert!(b.sequence >= 2);
    assert_eq!(b.stats.sent, b.sequence, "every filter reached its link");
    assert_eq!(b.stats.send_failed, 0);

    let a = sim.node(A).bloom_view();
    let from_b = &a.peer_filters[0];
    assert_eq!(from_b.peer.addr, addr(&sim, B));
    // b's filter for a holds b and c.
    let fill = from_b.fill.expect("b sent a filter");
    assert_eq!(fill.estimated_count.map(f64::round), Some(2.0));
    assert!(fill.set_bits > 5 && fill.set_bits <= 10);
    assert!(a.uptree.is_none(), "the root has no parent");

    // c's parent is b; what c last sent it holds c only.
    let c = sim.node(C).bloom_view();
    let up = c.uptree.expect("c sent its parent a filter");
    assert_eq!(up.estimated_count.map(f64::round), Some(1.0));
    assert_eq!(up.fill_ratio, 5.0 / 8192.0);

    for i in [A, B, C] {
        let s = sim.node(i).bloom_view().stats;
        assert!(s.accepted >= 1, "node {i}: {s:?}");
        let rejected = s.decode_error + s.invalid + s.non_v1 + s.stale + s.fill_exceeded;
        assert_eq!(s.received, s.accepted + rejected, "node {i}: {s:?}");
    }
}

fn chain_root(sim: &Sim) -> usize {
    let root = sim.node(A).tree.root();
    (0..3)
        .find(|&i| addr(sim, i) == root)
        .expect("root in chain")
}

#[test]
fn mmp_view_reports_rtt_and_counters_for_every_link_and_no_sessions() {
    let sim = settled_chain(43);
    let b = sim.node(B).mmp_view();
    assert_eq!(b.peers.len(), 2);
    let peers: Vec<NodeAddr> = b.peers.iter().map(|p| p.peer.addr).collect();
    assert!(peers.contains(&addr(&sim, A)) && peers.contains(&addr(&sim, C)));
    for p in &b.peers {
        let l = &p.link_layer;
        let srtt = l.srtt_ms.expect("reports gave an RTT");
        assert!(srtt > 0.0, "{p:?}");
        assert_eq!(l.lqi, Some(l.etx * (1.0 + srtt / 100.0)));
        assert_eq!(l.loss_rate, 0.0, "the simulated link loses nothing");
        assert!(l.goodput_bps > 0.0, "{p:?}");
        let c = &p.counters;
        assert!(c.frames_received > 10 && c.reports_sent > 0, "{c:?}");
        assert!(
            c.metrics.reports_received > 0 && c.metrics.rtt_samples > 0,
            "{c:?}"
        );
    }
}

#[test]
fn connections_view_lists_an_unanswered_dial_until_it_completes() {
    let mut sim = settled_chain(44);
    assert!(sim.node(A).connections_view(sim.now).connections.is_empty());
    let stranger = Identity::from_secret_bytes([0x5a; 32]).expect("key");
    let now = sim.now;
    // Nothing is wired to this address: msg1 goes unanswered.
    let remote = Sim::addr_of(9);
    sim.node_mut(A).connect(
        now,
        PeerConfig {
            identity: *stranger.public(),
            alias: None,
            addrs: vec![remote],
            auto_connect: true,
        },
    );
    sim.run_for(secs(4));
    let conns = sim.node(A).connections_view(sim.now).connections;
    assert_eq!(conns.len(), 1, "{conns:?}");
    let c = &conns[0];
    assert_eq!(c.expected_peer, *stranger.public());
    assert_eq!(c.remote_addr, remote);
    assert_eq!(
        (c.direction, c.phase),
        (Direction::Outbound, HandshakePhase::SentMsg1)
    );
    assert!(c.resend_count >= 1, "resent after 1 s: {c:?}");
    assert!(c.idle < secs(4), "{c:?}");
}

#[test]
fn identity_cache_view_holds_the_linked_peers_and_learned_keys_without_secrets() {
    let mut sim = settled_chain(45);
    let b = sim.node(B).identity_cache_view(sim.now);
    let ids: Vec<PeerIdentity> = b.entries.iter().map(|e| e.peer.identity).collect();
    assert!(ids.contains(&public(&sim, A)) && ids.contains(&public(&sim, C)));
    assert_eq!(b.max_entries, crate::routing::cache::IDENTITY_CAPACITY);
    let a_entry = b
        .entries
        .iter()
        .find(|e| e.peer.addr == addr(&sim, A))
        .expect("a cached");
    assert_eq!(a_entry.peer.identity, public(&sim, A));

    // a learns c's key (as from DNS) 3 s from now: a fresh entry.
    sim.run_for(secs(3));
    let now = sim.now;
    let pc = *sim.nodes[C].identity.public();
    sim.node_mut(A).learn_identity(now, pc);
    sim.run_for(secs(2));
    let a = sim.node(A).identity_cache_view(sim.now);
    let c_entry = a
        .entries
        .iter()
        .find(|e| e.peer.identity == public(&sim, C))
        .expect("c learned");
    assert_eq!(c_entry.age, secs(2));
    let b_entry = a
        .entries
        .iter()
        .find(|e| e.peer.identity == public(&sim, B))
        .expect("b linked");
    assert!(b_entry.age >= secs(5), "{b_entry:?}");
    assert_eq!(c_entry.last_seen - b_entry.last_seen, b_entry.age - secs(2));

    // (`Instant`'s Debug has a `tv_nsec`: look for the bech32 secret.)
    let text = format!("{a:?}");
    assert!(!text.contains("nsec1"), "{text}");
    let secret = hex::encode(sim.nodes[A].identity.secret_bytes());
    assert!(!text.contains(&secret));
}
