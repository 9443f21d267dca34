//! `show bloom`, `show mmp`, `show connections` and `show identity-cache`
//! on real daemons: a chain a - b - c, plus a node d that c is configured to
//! dial but that never runs (its handshake stays pending). Checked over the
//! control socket and through our own fipsctl, table and `--json`.

use std::process::Command;
use std::time::Duration;

use fips::control::Query;
use fips_testkit::daemon::fipsctl_bin;
use fips_testkit::{key, wait_until, Daemon, Lan, Net};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);

fn chain() -> Net {
    let mut net = Net::new("sc", &["a", "b", "c", "d"], 4791);
    net.start("a", &[]);
    net.start("b", &["a"]);
    net.start("c", &["b", "d"]);
    net.wait_links(&[("a", "b"), ("b", "c")], SETTLE);
    net.wait_root("a", SETTLE);
    net
}

fn list<'v>(v: &'v Value, k: &str) -> &'v [Value] {
    v[k].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `fipsctl -s <socket> ARGS`: stdout, after checking it succeeded.
fn fipsctl(d: &Daemon, args: &[&str]) -> String {
    let out = Command::new(fipsctl_bin())
        .arg("-s")
        .arg(&d.socket)
        .args(args)
        .output()
        .expect("run fipsctl");
    assert!(
        out.status.success(),
        "fipsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rounded estimated entry count of the filter `at` got from `from`.
fn filter_entries(net: &Net, at: &str, from: &str) -> Option<f64> {
    let bloom = net.daemon(at).show(Query::Bloom)?;
    let pf = list(&bloom, "peer_filters")
        .iter()
        .find(|p| p["peer"] == key(from).node_addr)?;
    (pf["has_filter"] == true).then_some(())?;
    pf["estimated_count"].as_f64().map(f64::round)
}

#[test]
fn bloom_shows_each_peers_filter_with_the_nodes_behind_it() {
    let net = chain();
    // a's and c's filters hold only themselves; b's holds b and the far end.
    let expected = [
        ("a", "b", 2.0),
        ("b", "a", 1.0),
        ("b", "c", 1.0),
        ("c", "b", 2.0),
    ];
    let settled = || {
        expected
            .iter()
            .all(|(at, from, n)| filter_entries(&net, at, from) == Some(*n))
    };
    assert!(
        wait_until(SETTLE, settled),
        "filters: {:?}\n{}",
        expected.map(|(at, from, _)| filter_entries(&net, at, from)),
        net.logs()
    );
    let b = net.daemon("b").show(Query::Bloom).expect("show bloom");
    assert_eq!(b["own_node_addr"], key("b").node_addr);
    assert_eq!(list(&b, "peer_filters").len(), 2, "{b}");
    for pf in list(&b, "peer_filters") {
        assert_eq!(pf["set_bits"], 5, "{pf}");
    }
    // b's parent is a (once the tree has settled, which the filters above
    // do not wait for); what b last sent it covers b and c.
    let uptree = || {
        net.daemon("b").show(Query::Bloom).expect("show bloom")["uptree_estimated_count"]
            .as_f64()
            .map(f64::round)
    };
    assert!(
        wait_until(SETTLE, || uptree() == Some(2.0)),
        "b's uptree estimate: {:?}\n{}",
        uptree(),
        net.logs()
    );
    let a = net.daemon("a").show(Query::Bloom).expect("show bloom");
    assert!(a["uptree_fill_ratio"].is_null(), "a is the root: {a}");
    for d in ["a", "b", "c"] {
        let s = &net.daemon(d).show(Query::Bloom).expect("show bloom")["stats"];
        assert!(s["accepted"].as_u64() >= Some(1), "{d}: {s}");
        assert_eq!(s["send_failed"], 0, "{d}: {s}");
    }

    // b dials a, so it names a by the alias in its config.
    let table = fipsctl(net.daemon("b"), &["show", "bloom"]);
    let row = table
        .lines()
        .find(|l| l.contains(key("a").node_addr))
        .unwrap_or_else(|| panic!("no row for a:\n{table}"));
    assert!(row.starts_with("node-a") && row.contains("yes"), "{table}");
    let json: Value = serde_json::from_str(&fipsctl(net.daemon("a"), &["--json", "show", "bloom"]))
        .expect("fipsctl --json prints JSON");
    assert_eq!(json["own_node_addr"], key("a").node_addr);
}

/// The link-layer MMP entry `at` keeps for `peer`.
fn link_mmp(net: &Net, at: &str, peer: &str) -> Option<Value> {
    let mmp = net.daemon(at).show(Query::Mmp)?;
    list(&mmp, "peers")
        .iter()
        .find(|p| p["peer"] == key(peer).node_addr)
        .cloned()
}

#[test]
fn mmp_shows_measured_links_with_counters_that_grow_with_traffic() {
    let net = chain();
    let c_addr = net.resolve("a", "c");
    let (got, text) = net.ping("a", &c_addr.to_string(), 5, 10);
    assert!(got >= 4, "a -> c:\n{text}\n{}", net.logs());
    let measured = |at: &str, peer: &str| {
        link_mmp(&net, at, peer).is_some_and(|p| {
            p["link_layer"]["srtt_ms"].as_f64().is_some_and(|s| s > 0.0)
                && p["link_layer"]["goodput_bps"].as_f64() > Some(0.0)
                && p["counters"]["reports_received"].as_u64() > Some(1)
        })
    };
    let links = [("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")];
    assert!(
        wait_until(SETTLE, || links.iter().all(|(x, y)| measured(x, y))),
        "{:?}",
        links.map(|(x, y)| link_mmp(&net, x, y))
    );
    let before = link_mmp(&net, "b", "c").expect("b-c");
    let frames = |p: &Value| p["counters"]["frames_received"].as_u64().unwrap_or(0);
    let (got, text) = net.ping("a", &c_addr.to_string(), 5, 10);
    assert!(got >= 4, "{text}");
    let after = link_mmp(&net, "b", "c").expect("b-c");
    assert!(
        frames(&after) >= frames(&before) + u64::from(got),
        "b counted c's {got} echo replies: {before} -> {after}"
    );
    let ll = &after["link_layer"];
    assert_eq!(after["mode"], "full");
    assert_eq!(ll["loss_rate"], 0.0, "{ll}");
    assert!(
        ll["etx"].as_f64() >= Some(1.0) && ll["lqi"].is_f64(),
        "{ll}"
    );
    let a = net.daemon("a").show(Query::Mmp).expect("show mmp");
    assert_eq!(list(&a, "peers").len(), 1, "a has one link: {a}");
    assert!(list(&a, "sessions").is_empty(), "no session-layer MMP: {a}");

    let table = fipsctl(net.daemon("b"), &["show", "mmp"]);
    assert!(
        table.starts_with("links:\nPEER") && table.contains(key("c").node_addr),
        "{table}"
    );
    let json: Value = serde_json::from_str(&fipsctl(net.daemon("b"), &["--json", "show", "mmp"]))
        .expect("fipsctl --json prints JSON");
    assert_eq!(list(&json, "peers").len(), 2, "{json}");
}

#[test]
fn connections_list_only_the_handshake_that_gets_no_answer() {
    let net = chain();
    let pending_to_d = |v: &Value| {
        list(v, "connections").iter().any(|c| {
            c["expected_peer"] == key("d").npub
                && c["direction"] == "outbound"
                && c["handshake_state"] == "sent_msg1"
                && c["remote_addr"] == format!("{}:4791", Lan::ip_of("d"))
        })
    };
    let c_conns = || net.daemon("c").show(Query::Connections);
    // The dial times out after 30 s and is retried after a backoff, so wait
    // for one that has been resent at least once.
    assert!(
        wait_until(Duration::from_secs(40), || c_conns().is_some_and(|v| {
            let conns = list(&v, "connections");
            conns.len() == 1 && pending_to_d(&v) && conns[0]["resend_count"].as_u64() >= Some(1)
        })),
        "c: {:?}",
        c_conns()
    );
    for d in ["a", "b"] {
        let v = net
            .daemon(d)
            .show(Query::Connections)
            .expect("show connections");
        assert!(list(&v, "connections").is_empty(), "{d}: {v}");
    }
    let table = || fipsctl(net.daemon("c"), &["show", "connections"]);
    assert!(
        wait_until(Duration::from_secs(40), || {
            let t = table();
            t.contains(key("d").npub) && t.contains("sent_msg1")
        }),
        "{}",
        table()
    );
    assert_eq!(
        fipsctl(net.daemon("a"), &["show", "connections"]),
        "(none)\n"
    );
}

fn cached_npubs(d: &Daemon) -> Vec<String> {
    let Some(v) = d.show(Query::IdentityCache) else {
        return Vec::new();
    };
    list(&v, "entries")
        .iter()
        .filter_map(|e| e["npub"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn identity_cache_holds_peers_configured_keys_and_resolved_names() {
    let net = chain();
    let npubs = |names: &[&str]| {
        let mut v: Vec<String> = names.iter().map(|n| key(n).npub.to_string()).collect();
        v.sort();
        v
    };
    let sorted = |d: &str| {
        let mut v = cached_npubs(net.daemon(d));
        v.sort();
        v
    };
    assert_eq!(sorted("a"), npubs(&["b"]));
    assert_eq!(sorted("b"), npubs(&["a", "c"]));
    // c dials d: a configured key is cached before any handshake.
    assert_eq!(sorted("c"), npubs(&["b", "d"]));
    net.resolve("a", "c");
    // The DNS task hands the identity to the node on a channel of its own,
    // which the node may read after this control request.
    assert!(
        wait_until(SETTLE, || sorted("a") == npubs(&["b", "c"])),
        "{:?}",
        sorted("a")
    );

    let v = net.daemon("a").show(Query::IdentityCache).expect("show");
    assert_eq!(v["count"], 2);
    assert!(v["max_entries"].as_u64() >= Some(2), "{v}");
    let c = list(&v, "entries")
        .iter()
        .find(|e| e["npub"] == key("c").npub)
        .expect("c cached");
    assert_eq!(c["node_addr"], key("c").node_addr);
    assert_eq!(c["ipv6_addr"], key("c").ipv6.to_string());
    assert!(c["age_ms"].as_u64() < Some(30_000), "{c}");
    let text = v.to_string();
    assert!(!text.contains("nsec") && !text.contains(key("a").nsec));

    let table = fipsctl(net.daemon("a"), &["show", "identity-cache"]);
    assert!(
        table.starts_with("2 of at most ") && table.contains(key("c").npub),
        "{table}"
    );
    let json: Value = serde_json::from_str(&fipsctl(
        net.daemon("a"),
        &["--json", "show", "identity-cache"],
    ))
    .expect("fipsctl --json prints JSON");
    assert_eq!(json["count"], 2);
}
