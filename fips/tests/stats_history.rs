//! The commands the reference's fipstop reads beyond `show_*` — the stats
//! history family and `show_listening_sockets` — and the fields it reads in
//! `show_tree`, `show_status`, `show_routing`, `show_cache` and
//! `show_transports`, asked of real daemons over the control
//! socket as raw JSON lines. The field names below were taken from reading
//! the reference's control server and fipstop (v0.4.1).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use fips_testkit::{key, wait_until, Daemon, Lan};
use serde_json::{json, Value};

const LINK_UP: Duration = Duration::from_secs(30);

/// Sends one request line; the whole reply.
fn ask(d: &Daemon, command: &str, params: Value) -> Value {
    let mut req = json!({ "command": command });
    if !params.is_null() {
        req["params"] = params;
    }
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{command}: {e}: {reply}"))
}

/// `data` of an ok reply.
fn data(d: &Daemon, command: &str, params: Value) -> Value {
    let r = ask(d, command, params.clone());
    assert_eq!(r["status"], "ok", "{command} {params}: {r}");
    r["data"].clone()
}

fn has_fields(v: &Value, fields: &[&str], what: &str) {
    for f in fields {
        assert!(v.get(f).is_some(), "{what} lacks {f}: {v}");
    }
}

fn linked_pair(tag: &str) -> (Lan, Daemon, Daemon) {
    let lan = Lan::new(tag, &["a", "b"]);
    let a = lan.start("a", &[]);
    let b = lan.start("b", &["a"]);
    assert!(
        wait_until(LINK_UP, || b.has_peer(a.key) && a.has_peer(b.key)),
        "{}",
        b.log()
    );
    (lan, a, b)
}

const NODE_METRICS: [&str; 10] = [
    "mesh_size",
    "tree_depth",
    "peer_count",
    "parent_switches",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "loss_rate",
    "active_sessions",
];
const PEER_METRICS: [&str; 7] = [
    "srtt_ms",
    "loss_rate",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "ecn_ce",
];
const SERIES_FIELDS: [&str; 4] = ["metric", "unit", "granularity_seconds", "values"];

#[test]
fn stats_history_replies_carry_the_reference_fields_and_fill_as_seconds_pass() {
    let (_lan, a, b) = linked_pair("sh");
    // A few one-second ticks with the peer up.
    let ticks = |d: &Daemon| {
        let s = data(
            d,
            "show_stats_history",
            json!({"metric": "peer_count", "window": "5s"}),
        );
        s["values"]
            .as_array()
            .map_or(0, |v| v.iter().filter(|x| x == &&json!(1.0)).count())
    };
    assert!(wait_until(LINK_UP, || ticks(&b) >= 3), "{}", b.log());

    let list = data(&b, "show_stats_list", Value::Null);
    has_fields(
        &list,
        &[
            "metrics",
            "fast_ring_seconds",
            "slow_ring_minutes",
            "peer_retention_seconds",
        ],
        "list",
    );
    let names: Vec<&str> = list["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| {
            has_fields(m, &["name", "unit", "scope"], "metric");
            m["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(names, [&NODE_METRICS[..], &PEER_METRICS[..]].concat());

    let one = data(
        &b,
        "show_stats_history",
        json!({"metric": "mesh_size", "window": "10s", "granularity": "1s"}),
    );
    has_fields(&one, &SERIES_FIELDS, "show_stats_history");
    assert_eq!(one["values"].as_array().expect("values").len(), 10);
    assert_eq!(
        (one["unit"].as_str(), one["granularity_seconds"].as_u64()),
        (Some("nodes"), Some(1))
    );

    let all = data(
        &b,
        "show_stats_all_history",
        json!({"window": "2m", "granularity": "1m"}),
    );
    has_fields(
        &all,
        &["granularity_seconds", "window_seconds", "peer", "series"],
        "all_history",
    );
    assert_eq!(
        (
            all["granularity_seconds"].as_u64(),
            all["window_seconds"].as_u64()
        ),
        (Some(60), Some(120))
    );
    let series = all["series"].as_array().expect("series");
    let metrics: Vec<&str> = series
        .iter()
        .map(|s| {
            has_fields(s, &SERIES_FIELDS, "series");
            assert_eq!(s["values"].as_array().map(Vec::len), Some(2), "{s}");
            s["metric"].as_str().expect("metric")
        })
        .collect();
    assert_eq!(metrics, NODE_METRICS);

    let peer = key("a").npub;
    let mine = data(
        &b,
        "show_stats_all_history",
        json!({"peer": peer, "window": "10s"}),
    );
    assert_eq!(mine["peer"], peer);
    let metrics: Vec<&str> = mine["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| s["metric"].as_str().expect("metric"))
        .collect();
    assert_eq!(metrics, PEER_METRICS);
    let srtt = data(
        &b,
        "show_stats_history",
        json!({"metric": "srtt_ms", "peer": peer, "window": "30s"}),
    );
    assert_eq!(srtt["unit"], "ms");
    assert!(
        srtt["values"]
            .as_array()
            .expect("values")
            .iter()
            .any(Value::is_f64),
        "an RTT was measured: {srtt}"
    );

    let peers = data(&b, "show_stats_peers", Value::Null);
    has_fields(&peers, &["peers", "count"], "stats_peers");
    assert_eq!(peers["count"], 1);
    let p = &peers["peers"][0];
    has_fields(
        p,
        &[
            "npub",
            "node_addr",
            "display_name",
            "is_active",
            "first_seen_secs_ago",
            "last_contact_secs_ago",
        ],
        "stats peer",
    );
    assert_eq!(
        (
            p["npub"].as_str(),
            p["display_name"].as_str(),
            p["is_active"].as_bool()
        ),
        (Some(peer), Some("node-a"), Some(true))
    );

    let by_peer = data(
        &b,
        "show_stats_history_all_peers",
        json!({"metric": "bytes_in", "window": "10s"}),
    );
    has_fields(
        &by_peer,
        &[
            "metric",
            "unit",
            "granularity_seconds",
            "window_seconds",
            "peers",
        ],
        "all_peers",
    );
    let row = &by_peer["peers"][0];
    has_fields(
        row,
        &["node_addr", "display_name", "is_active", "values"],
        "all_peers row",
    );
    assert_eq!(row["node_addr"], key("a").node_addr);
    assert_eq!(row["values"].as_array().map(Vec::len), Some(10));
    drop(a);
}

#[test]
fn stats_history_params_are_checked_with_errors_that_name_the_valid_values() {
    let (_lan, _a, b) = linked_pair("se");
    let err = |cmd, params| {
        ask(&b, cmd, params)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(err(
        "show_stats_history",
        json!({"metric": "mesh_size", "granularity": "5s"})
    )
    .contains("expected 1s or 1m"));
    assert!(err(
        "show_stats_history",
        json!({"metric": "mesh_size", "window": "10d"})
    )
    .contains("expected s, m or h"));
    assert!(err("show_stats_history", json!({"metric": "nope"})).contains("unknown metric: nope"));
    assert!(err("show_stats_history", json!({})).contains("missing 'metric'"));
    assert!(err(
        "show_stats_history_all_peers",
        json!({"metric": "mesh_size"})
    )
    .contains("unknown peer metric"));
    let stranger = key("c").npub;
    assert!(err("show_stats_all_history", json!({"peer": stranger})).contains("not tracked"));
}

#[test]
fn tree_and_status_carry_the_fields_fipstop_reads() {
    let (_lan, a, b) = linked_pair("st");
    let tree_of_b = || data(&b, "show_tree", Value::Null);
    assert!(
        wait_until(LINK_UP, || tree_of_b()["parent"] == key("a").node_addr),
        "{}",
        tree_of_b()
    );
    let tree = tree_of_b();
    assert_eq!(tree["parent_display_name"], "node-a");
    assert_eq!(tree["root_npub"], key("a").npub);
    has_fields(
        &tree["stats"],
        &["parent_switches", "sig_failed", "stale"],
        "tree stats",
    );
    let root = data(&a, "show_tree", Value::Null);
    assert_eq!(
        root["root_npub"],
        key("a").npub,
        "the root knows its own npub"
    );

    let status = data(&b, "show_status", Value::Null);
    has_fields(
        &status["sparklines"],
        &[
            "mesh_size",
            "tree_depth",
            "peer_count",
            "bytes_in",
            "bytes_out",
            "loss_rate",
        ],
        "sparklines",
    );
    assert!(status["sparklines"]["peer_count"]
        .as_array()
        .is_some_and(|v| v.len() <= 30));
    assert!(
        status["transport_peer_counts"].get("udp").is_some(),
        "{status}"
    );
    let routing = data(&b, "show_routing", Value::Null);
    has_fields(
        &routing,
        &[
            "coord_cache_entries",
            "identity_cache_entries",
            "recent_requests",
            "pending_tun_destinations",
        ],
        "routing",
    );
    let cache = data(&b, "show_cache", Value::Null);
    has_fields(
        &cache,
        &["count", "max_entries", "fill_ratio", "entries"],
        "cache",
    );
    let t = &data(&b, "show_transports", Value::Null)["transports"][0];
    has_fields(
        t,
        &[
            "transport_id",
            "type",
            "state",
            "mtu",
            "local_addr",
            "stats",
        ],
        "transport",
    );
}

#[test]
fn listening_sockets_lists_a_listener_the_mesh_reaches_with_its_process() {
    let (lan, _a, b) = linked_pair("ls");
    let listener = lan
        .ns("b")
        .enter(|| std::net::TcpListener::bind("[::]:0").expect("bind in b"));
    let port = listener.local_addr().expect("addr").port();
    let only_v4 = lan
        .ns("b")
        .enter(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind v4"));
    let v4_port = only_v4.local_addr().expect("addr").port();

    let reply = data(&b, "show_listening_sockets", Value::Null);
    has_fields(
        &reply,
        &["fips0_addr", "firewall_active", "sockets"],
        "listening",
    );
    assert_eq!(
        reply["firewall_active"], false,
        "we filter nothing on fips0"
    );
    let status = data(&b, "show_status", Value::Null);
    assert_eq!(reply["fips0_addr"], status["ipv6_addr"]);
    let sockets = reply["sockets"].as_array().expect("sockets");
    let row = sockets
        .iter()
        .find(|s| s["port"] == port && s["proto"] == "tcp")
        .unwrap_or_else(|| panic!("port {port} missing: {reply}"));
    has_fields(
        row,
        &[
            "proto",
            "local_addr",
            "port",
            "pid",
            "process",
            "filter",
            "wildcard_bind",
        ],
        "socket",
    );
    assert_eq!(row["pid"], std::process::id());
    assert_eq!(
        (row["wildcard_bind"].as_bool(), row["filter"].as_str()),
        (Some(true), Some("no_firewall"))
    );
    assert!(
        !sockets.iter().any(|s| s["port"] == v4_port),
        "an IPv4 loopback listener is not reachable from fips0"
    );
}
