//! What the replies built from the core's plain views promise beyond the
//! golden files: the reference's keys, shapes for facts we do not track,
//! no secrets. Node state: the golden world (a–b–c, a's dial to a fourth
//! key nobody answers).

use fips_proto::node::inspect::PeerFilterView;
use fips_proto::node::snapshot::PeerName;
use serde_json::Value;

use super::inspect::{PeerFilter, PeerMmp};
use crate::control::golden_tests::{addr_of, fixed_world, reply, World};
use crate::control::Query;

const A: usize = 0;
const B: usize = 1;

fn data(w: &mut World, i: usize, q: Query) -> Value {
    let now = w.now;
    let mut v = reply(&mut w.nodes[i], now, q);
    v["data"].take()
}

fn reference(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference-control");
    let text = std::fs::read_to_string(format!("{path}/{name}")).expect("reference sample");
    serde_json::from_str(&text).expect("json")
}

/// Fields of ours that the reference's replies do not have, on purpose.
const OUR_EXTRA_FIELDS: &[&str] = &["peers.peers[0].silent"];

/// Every key we emit exists at the same place in the reference's JSON.
fn assert_keys_subset(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                if OUR_EXTRA_FIELDS.contains(&format!("{path}.{k}").as_str()) {
                    continue;
                }
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
fn status_peers_links_and_tree_use_the_reference_control_json_field_names() {
    let mut w = fixed_world();
    let snap_keys = [
        ("status", Query::Status, "a-show-status.json"),
        ("peers", Query::Peers, "b-show-peers.json"),
        ("links", Query::Links, "b-show-links.json"),
        ("tree", Query::Tree, "b-show-tree.json"),
    ];
    // Our status and tree carry daemon facts the core's snapshot did not:
    // only the snapshot's keys are held to the reference here.
    let core = [
        "npub",
        "node_addr",
        "ipv6_addr",
        "state",
        "is_root",
        "root",
        "peer_count",
        "link_count",
        "connection_count",
        "session_count",
        "effective_ipv6_mtu",
        "estimated_mesh_size",
        "uptime_secs",
        "my_node_addr",
        "depth",
        "parent",
        "my_coords",
        "declaration_sequence",
        "declaration_signed",
        "peer_tree_count",
        "peers",
        "links",
    ];
    for (name, q, sample) in snap_keys {
        let mut ours = data(&mut w, B, q);
        if let Value::Object(o) = &mut ours {
            o.retain(|k, _| core.contains(&k.as_str()));
        }
        assert_keys_subset(&ours, &reference(sample), name);
    }
    let peers = data(&mut w, B, Query::Peers);
    assert_eq!(data(&mut w, B, Query::Status)["peer_count"], 2);
    assert_eq!(peers["peers"][0]["connectivity"], "connected");
    let smallest = w.ids[..3].iter().map(|i| i.node_addr()).min();
    let root = data(&mut w, B, Query::Tree)["root"].clone();
    assert_eq!(root, smallest.expect("three nodes").to_hex());
}

#[test]
fn npub_is_abbreviated_like_the_reference() {
    let n = "npub1cld9yay0u24davpu6c35l4vldrhzvaq66pcqtg9a0j2cnjrn9rtsxx2pe6";
    assert_eq!(super::short_npub(n), "npub1cld9...2pe6");
}

#[test]
fn bloom_reply_has_the_reference_keys_and_omits_fill_without_a_filter() {
    let mut w = fixed_world();
    let v = data(&mut w, B, Query::Bloom);
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
    // Each end of the chain has only itself behind it: 5 bits.
    let pf = &v["peer_filters"][0];
    assert_eq!(pf["has_filter"], true);
    assert!(pf["fill_ratio"].is_f64() && pf["set_bits"] == 5, "{pf}");

    let none = PeerFilterView {
        peer: PeerName {
            addr: w.ids[A].node_addr(),
            identity: *w.ids[A].public(),
            alias: Some("a".into()),
        },
        filter_sequence: 0,
        fill: None,
    };
    let v = serde_json::to_value(PeerFilter::of(&none)).expect("json");
    assert_eq!(v["has_filter"], false);
    for k in ["estimated_count", "set_bits", "fill_ratio"] {
        assert!(v.get(k).is_none(), "{k} without a filter: {v}");
    }
}

#[test]
fn mmp_reply_has_the_reference_link_layer_keys_and_no_sessions() {
    let mut w = fixed_world();
    let v = data(&mut w, B, Query::Mmp);
    assert_eq!(v["sessions"], Value::Array(Vec::new()));
    assert_eq!(v["peers"][0]["mode"], "full");
    // The golden wire has no latency, so no RTT: srtt_ms and lqi are absent.
    let ll = &v["peers"][0]["link_layer"];
    assert!(
        ll.get("srtt_ms").is_none() && ll.get("lqi").is_none(),
        "{ll}"
    );
    let mut measured = w.nodes[B].mmp_view().peers[0].clone();
    measured.link_layer.srtt_ms = Some(2.5);
    measured.link_layer.lqi = Some(1.025);
    let v = serde_json::to_value(PeerMmp::of(&measured)).expect("json");
    let ll = &v["link_layer"];
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
fn connections_reply_names_the_pending_dial_in_the_reference_words() {
    let mut w = fixed_world();
    let v = data(&mut w, A, Query::Connections);
    let c = &v["connections"][0];
    assert_eq!(c["direction"], "outbound");
    assert_eq!(c["handshake_state"], "sent_msg1");
    assert!(c["link_id"].is_null(), "{c}");
    assert_eq!(c["expected_peer"], w.ids[3].public().npub());
    assert_eq!(c["remote_addr"], addr_of(3).to_string());
}

#[test]
fn identity_cache_reply_counts_its_entries_and_holds_no_secrets() {
    let mut w = fixed_world();
    let v = data(&mut w, A, Query::IdentityCache);
    let entries = v["entries"].as_array().expect("entries");
    assert_eq!(v["count"], entries.len());
    let c = w.ids[2].node_addr();
    let entry = entries
        .iter()
        .find(|e| e["node_addr"] == c.to_hex())
        .expect("a learned c");
    assert_eq!(entry["ipv6_addr"], c.ipv6().to_string());
    let text = v.to_string();
    assert!(!text.contains("nsec"), "{text}");
    for id in &w.ids {
        let secret: String = id
            .secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!text.contains(&secret));
    }
}
