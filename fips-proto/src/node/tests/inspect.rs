//! The control-socket views of bloom filters, MMP, pending handshakes and
//! the identity cache, built from a simulated a – b – c chain.

use crate::identity::Identity;
use crate::node::PeerConfig;

use super::{chain_after, secs, LinkParams, Sim};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

fn settled_chain(seed: u64) -> Sim {
    chain_after(seed, 20)
}

fn hex(sim: &Sim, i: usize) -> String {
    sim.nodes[i].identity.node_addr().to_hex()
}

fn npub(sim: &Sim, i: usize) -> String {
    sim.nodes[i].identity.public().npub()
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
    assert_eq!(b.own_node_addr, hex(&sim, B));
    assert_eq!(b.peer_filters.len(), 2);
    for pf in &b.peer_filters {
        let fill = pf.fill.expect("a and c both sent b a filter");
        assert!(pf.has_filter && pf.filter_sequence >= 1, "{pf:?}");
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
    assert_eq!(from_b.peer, hex(&sim, B));
    // b's filter for a holds b and c.
    let fill = from_b.fill.expect("b sent a filter");
    assert_eq!(fill.estimated_count.map(f64::round), Some(2.0));
    assert!(fill.set_bits > 5 && fill.set_bits <= 10);
    assert_eq!(a.uptree_fill_ratio, None, "the root has no parent");

    // c's parent is b; what c last sent it holds c only.
    let c = sim.node(C).bloom_view();
    assert_eq!(c.uptree_estimated_count.map(f64::round), Some(1.0));
    assert_eq!(c.uptree_fill_ratio, Some(5.0 / 8192.0));

    for i in [A, B, C] {
        let s = sim.node(i).bloom_view().stats;
        assert!(s.accepted >= 1, "node {i}: {s:?}");
        let rejected = s.decode_error + s.invalid + s.non_v1 + s.stale + s.fill_exceeded;
        assert_eq!(s.received, s.accepted + rejected, "node {i}: {s:?}");
    }
}

fn chain_root(sim: &Sim) -> usize {
    let root = sim.node(A).snapshot(sim.now).tree.root;
    (0..3)
        .find(|&i| hex(sim, i) == root)
        .expect("root in chain")
}

#[test]
fn bloom_view_json_has_the_reference_keys_and_omits_fill_without_a_filter() {
    let mut sim = Sim::new(42);
    let ids = super::mesh_identities();
    for (name, id) in ids.into_iter().take(2) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, LinkParams::default());
    sim.run_for(secs(5));
    let v = serde_json::to_value(sim.node(0).bloom_view()).expect("json");
    for k in [
        "own_node_addr",
        "is_leaf_only",
        "sequence",
        "leaf_dependent_count",
        "leaf_dependents",
        "peer_filters",
        "uptree_fill_ratio",
        "uptree_estimated_count",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    for k in [
        "received",
        "accepted",
        "decode_error",
        "invalid",
        "non_v1",
        "unknown_peer",
        "stale",
        "fill_exceeded",
        "sent",
        "debounce_suppressed",
        "send_failed",
    ] {
        assert!(v["stats"][k].is_u64(), "stats.{k}: {v}");
    }
    let pf = &v["peer_filters"][0];
    assert_eq!(pf["has_filter"], true);
    assert!(pf["fill_ratio"].is_f64() && pf["set_bits"] == 5, "{pf}");

    let none = crate::node::inspect::PeerFilterView {
        peer: hex(&sim, 1),
        display_name: "b".into(),
        has_filter: false,
        filter_sequence: 0,
        fill: None,
    };
    let v = serde_json::to_value(none).expect("json");
    for k in ["estimated_count", "set_bits", "fill_ratio"] {
        assert!(v.get(k).is_none(), "{k} without a filter: {v}");
    }
}

#[test]
fn mmp_view_reports_rtt_and_counters_for_every_link_and_no_sessions() {
    let sim = settled_chain(43);
    let b = sim.node(B).mmp_view();
    assert_eq!(b.peers.len(), 2);
    assert!(b.sessions.is_empty());
    let peers: Vec<&str> = b.peers.iter().map(|p| p.peer.as_str()).collect();
    assert!(peers.contains(&hex(&sim, A).as_str()) && peers.contains(&hex(&sim, C).as_str()));
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
    let v = serde_json::to_value(&b).expect("json");
    let ll = &v["peers"][0]["link_layer"];
    assert_eq!(v["peers"][0]["mode"], "full");
    assert!(ll["spin_bit_role"].is_null(), "{ll}");
    assert!(ll.get("smoothed_etx").is_none() && ll.get("rtt_trend").is_none());
    for k in [
        "loss_rate",
        "etx",
        "goodput_bps",
        "srtt_ms",
        "lqi",
        "delivery_ratio_forward",
        "delivery_ratio_reverse",
        "ecn_ce_count",
    ] {
        assert!(ll.get(k).is_some(), "missing {k}: {ll}");
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
    assert_eq!(c.expected_peer, stranger.public().npub());
    assert_eq!(c.remote_addr, remote.to_string());
    assert_eq!((c.direction, c.handshake_state), ("outbound", "sent_msg1"));
    assert!(c.resend_count >= 1, "resent after 1 s: {c:?}");
    assert!(c.idle_ms < 4000 && c.link_id.is_none(), "{c:?}");
}

#[test]
fn identity_cache_view_holds_the_linked_peers_and_learned_keys_without_secrets() {
    let mut sim = settled_chain(45);
    let b = sim.node(B).identity_cache_view(sim.now);
    let npubs: Vec<&str> = b.entries.iter().map(|e| e.npub.as_str()).collect();
    assert!(npubs.contains(&npub(&sim, A).as_str()) && npubs.contains(&npub(&sim, C).as_str()));
    assert_eq!(b.count, b.entries.len());
    assert_eq!(b.max_entries, crate::routing::cache::IDENTITY_CAPACITY);
    let a_entry = b
        .entries
        .iter()
        .find(|e| e.node_addr == hex(&sim, A))
        .expect("a cached");
    assert_eq!(
        a_entry.ipv6_addr,
        sim.nodes[A].identity.node_addr().ipv6().to_string()
    );

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
        .find(|e| e.npub == npub(&sim, C))
        .expect("c learned");
    assert_eq!(c_entry.age_ms, 2000);
    let b_entry = a
        .entries
        .iter()
        .find(|e| e.npub == npub(&sim, B))
        .expect("b linked");
    assert!(b_entry.age_ms >= 5000, "{b_entry:?}");
    assert_eq!(
        c_entry.last_seen_ms - b_entry.last_seen_ms,
        b_entry.age_ms - 2000
    );

    let text = serde_json::to_string(&a).expect("json");
    assert!(!text.contains("nsec"), "{text}");
    let secret = hex::encode(sim.nodes[A].identity.secret_bytes());
    assert!(!text.contains(&secret));
}
