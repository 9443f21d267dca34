//! Golden replies: for one fixed node state (three nodes in a chain,
//! a–b–c, run in virtual time with seeded RNGs, a session from a to c and a
//! dial from a that nobody answers), the JSON of every `show_*` command and
//! fipsctl's table of it equal the files in `testdata/golden/`. The files
//! were written by the renderer as it was before it became one module, so
//! a change of field name, shape or number format shows up here.
//!
//! `FIPS_GOLDEN_WRITE=1` rewrites the files (review the diff before
//! committing it). Left out: `show_listening_sockets` (it reads the host's
//! sockets), the daemon's `pid` and `exe_path` (facts of the test
//! process), which are replaced by placeholders, and the figures of the
//! daemon's own stores (process-wide counters other tests move).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fips_proto::identity::{Identity, PeerIdentity};
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};
use serde_json::Value;

use super::history::{NodeSample, PeerLabel, PeerSample, StatsHistory};
use super::{render, Command, Query, StatsRequest};
use crate::daemon::answer_control_line;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/control/testdata/golden");
/// The wall clock the nodes are started at (2026-11-25T08:26:40Z).
const UNIX_START_MS: u64 = 1_795_600_000_000;

/// Three nodes on a lossless zero-latency wire, driven by their timers.
pub(super) struct World {
    start: Instant,
    pub(super) now: Instant,
    pub(super) nodes: Vec<Node>,
    pub(super) ids: Vec<Identity>,
}

pub(super) fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 2121)
}

fn index_of(addr: SocketAddr) -> Option<usize> {
    match addr.ip() {
        IpAddr::V4(v4) => usize::from(v4.octets()[3]).checked_sub(1),
        IpAddr::V6(_) => None,
    }
}

impl World {
    fn new(n: u8) -> World {
        let start = Instant::now();
        let ids: Vec<Identity> = (0..n)
            .map(|i| Identity::from_secret_bytes([0x31 + i; 32]).expect("valid key"))
            .collect();
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let cfg = NodeConfig {
                    identity: id.clone(),
                    peers: Vec::new(),
                    link_mtu: 1280,
                    tun_mtu: 1203,
                    timers: Timers::default(),
                };
                Node::new(cfg, [i as u8 + 1; 32], start, UNIX_START_MS)
            })
            .collect();
        World {
            start,
            now: start,
            nodes,
            ids,
        }
    }

    fn public(&self, i: usize) -> PeerIdentity {
        *self.ids[i].public()
    }

    fn dial(&mut self, from: usize, to: usize, alias: Option<&str>) {
        let cfg = PeerConfig {
            identity: self.public(to),
            alias: alias.map(str::to_owned),
            addrs: vec![addr_of(to)],
            auto_connect: true,
        };
        let now = self.now;
        self.nodes[from].connect(now, cfg);
    }

    /// Delivers every datagram at once (datagrams to no node are lost).
    fn flush(&mut self) {
        let mut moved = true;
        while moved {
            moved = false;
            for i in 0..self.nodes.len() {
                moved |= self.drain(i);
            }
        }
    }

    /// Hands node `from`'s transmits to their receivers and drops its
    /// TUN packets and events: true if it sent anything.
    fn drain(&mut self, from: usize) -> bool {
        let (mut buf, mut sent) = (Vec::new(), false);
        while let Some(dst) = self.nodes[from].poll_transmit(&mut buf) {
            sent = true;
            let now = self.now;
            let to = index_of(dst).and_then(|t| self.nodes.get_mut(t));
            if let Some(node) = to {
                node.handle_datagram(now, addr_of(from), &mut buf);
            }
        }
        let node = &mut self.nodes[from];
        while node.poll_tun(&mut buf) || node.poll_event().is_some() {}
        sent
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            let next = self.nodes.iter_mut().filter_map(Node::poll_timeout).min();
            let Some(t) = next.filter(|t| *t <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(t);
            let now = self.now;
            for n in &mut self.nodes {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
        }
    }

    /// An IPv6 packet from node `from`'s mesh address to node `to`'s.
    fn send_tun(&mut self, from: usize, to: usize, payload: &[u8]) {
        let (src, dst) = (self.ids[from].node_addr(), self.ids[to].node_addr());
        let mut pkt = vec![0x60, 0, 0, 0];
        pkt.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        pkt.extend_from_slice(&[59, 64]); // no next header, hop limit
        pkt.extend_from_slice(&src.ipv6().octets());
        pkt.extend_from_slice(&dst.ipv6().octets());
        pkt.extend_from_slice(payload);
        let now = self.now;
        self.nodes[from].handle_tun_packet(now, &pkt);
    }
}

/// a–b–c with a session a→c, then a dial from a to a fourth key at an
/// address nobody answers, 40 s after start.
pub(super) fn fixed_world() -> World {
    let mut w = World::new(4);
    w.dial(0, 1, Some("bee"));
    w.dial(2, 1, None);
    w.run_for(Duration::from_secs(20));
    let c = w.public(2);
    let now = w.now;
    w.nodes[0].learn_identity(now, c);
    for _ in 0..3 {
        w.send_tun(0, 2, b"golden");
        w.run_for(Duration::from_secs(2));
    }
    w.send_tun(2, 0, b"reply");
    w.run_for(Duration::from_secs(10));
    // Node 3 exists only as a key: nothing answers at its address.
    w.nodes.truncate(3);
    w.dial(0, 3, None);
    w.run_for(Duration::from_millis(4_500));
    w
}

/// The `show_*` commands whose reply is a function of the node state.
fn queries() -> impl Iterator<Item = Query> {
    Query::ALL
        .into_iter()
        .filter(|q| *q != Query::ListeningSockets)
}

/// The reply's data, with the test process's own facts masked.
pub(super) fn reply(node: &mut Node, now: Instant, q: Query) -> Value {
    let line = answer_control_line(node, now, Command::Show(q).to_line().as_bytes());
    let mut v: Value = serde_json::from_str(&line).expect("reply is JSON");
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        for k in ["pid", "exe_path"] {
            if data.contains_key(k) {
                data.insert(k.into(), Value::String(format!("<{k}>")));
            }
        }
        if let Some(bounds) = data.get_mut("bounds") {
            zero_daemon_counters(bounds);
        }
    }
    v
}

/// The daemon's stores count for the whole process, which other tests
/// share: their figures read 0 here (the caps stay).
fn zero_daemon_counters(bounds: &mut Value) {
    let stores = [
        "dns_names",
        "dns_in_flight",
        "dns_forwards",
        "control_clients",
        "control_requests",
    ];
    for store in stores {
        for k in ["len", "evicted", "refused", "rate_limited", "expired"] {
            if let Some(n) = bounds.pointer_mut(&format!("/{store}/{k}")) {
                *n = Value::from(0);
            }
        }
    }
}

fn file(name: &str) -> PathBuf {
    Path::new(GOLDEN).join(name)
}

fn check(name: &str, got: &str, failures: &mut Vec<String>) {
    let path = file(name);
    if std::env::var_os("FIPS_GOLDEN_WRITE").is_some() {
        std::fs::create_dir_all(GOLDEN).expect("golden dir");
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (FIPS_GOLDEN_WRITE=1 writes it)", path.display()));
    if want != got {
        failures.push(format!("{name}:\n--- want\n{want}\n--- got\n{got}"));
    }
}

#[test]
fn every_show_reply_and_table_matches_the_golden_files() {
    let mut w = fixed_world();
    let now = w.now;
    assert_eq!(now - w.start, Duration::from_millis(40_500));
    let mut failures = Vec::new();
    for (i, name) in [(0, "a"), (1, "b")] {
        for q in queries() {
            let v = reply(&mut w.nodes[i], now, q);
            let stem = format!("{name}-{}", q.command_name().replace('_', "-"));
            let json = serde_json::to_string_pretty(&v).expect("json") + "\n";
            check(&format!("{stem}.json"), &json, &mut failures);
            if let Some(data) = v.get("data") {
                check(&format!("{stem}.txt"), &render(q, data), &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A minute of one-second samples: a node with two peers, one of which
/// goes quiet after 40 s.
fn fed_history(start: Instant) -> (StatsHistory, Vec<PeerIdentity>) {
    let peers: Vec<PeerIdentity> = (0..2u8)
        .map(|i| {
            *Identity::from_secret_bytes([0x51 + i; 32])
                .expect("key")
                .public()
        })
        .collect();
    let mut h = StatsHistory::default();
    for s in 0..60u64 {
        let samples: Vec<PeerSample> = peers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || s < 40)
            .map(|(i, p)| PeerSample {
                node_addr: p.node_addr().to_hex(),
                label: PeerLabel::Text {
                    npub: p.npub(),
                    display_name: format!("peer-{i}"),
                },
                srtt_ms: Some(1.25 + s as f64 / 10.0),
                loss_rate: Some(0.1 * i as f64),
                bytes_in_total: 1000 * s * (i as u64 + 1),
                bytes_out_total: 700 * s,
                packets_in_total: 3 * s,
                packets_out_total: 2 * s,
                ecn_ce_total: s / 20,
            })
            .collect();
        let node = NodeSample {
            mesh_size: Some(3 + s / 30),
            tree_depth: 1,
            peer_count: samples.len() as u64,
            parent: if s < 20 { "aa" } else { "bb" }.into(),
            bytes_in_total: 3000 * s,
            bytes_out_total: 1400 * s,
            packets_in_total: 6 * s,
            packets_out_total: 4 * s,
            loss_rate: 0.05,
            active_sessions: 1,
        };
        h.tick(start + Duration::from_secs(s), &node, &samples);
    }
    (h, peers)
}

fn answer(req: &StatsRequest, h: &StatsHistory, now: Instant) -> String {
    req.answer(h, now).to_line()
}

#[test]
fn every_stats_history_reply_matches_the_golden_files() {
    // The samples end 61 s before the query.
    let now = Instant::now();
    let start = now - Duration::from_secs(120);
    let (h, peers) = fed_history(start);
    let npub = |i: usize| Value::String(peers[i].npub());
    let stranger = Identity::from_secret_bytes([0x5f; 32])
        .expect("key")
        .public()
        .npub();
    let requests = [
        ("list", "show_stats_list", serde_json::json!(null)),
        ("peers", "show_stats_peers", serde_json::json!(null)),
        (
            "history-bytes-in",
            "show_stats_history",
            serde_json::json!({"metric": "bytes_in", "window": "30s"}),
        ),
        (
            "history-mesh-size-1m",
            "show_stats_history",
            serde_json::json!({"metric": "mesh_size", "window": "3m", "granularity": "1m"}),
        ),
        (
            "history-peer-srtt",
            "show_stats_history",
            serde_json::json!({"metric": "srtt_ms", "peer": npub(1), "window": "90s"}),
        ),
        (
            "history-unknown",
            "show_stats_history",
            serde_json::json!({"metric": "nope"}),
        ),
        (
            "all-history",
            "show_stats_all_history",
            serde_json::json!({"window": "10s"}),
        ),
        (
            "all-history-peer",
            "show_stats_all_history",
            serde_json::json!({"peer": npub(0), "window": "70s"}),
        ),
        (
            "all-history-untracked",
            "show_stats_all_history",
            serde_json::json!({"peer": stranger}),
        ),
        (
            "all-peers-bytes-in",
            "show_stats_history_all_peers",
            serde_json::json!({"metric": "bytes_in", "window": "90s"}),
        ),
    ];
    let mut failures = Vec::new();
    for (name, command, params) in requests {
        let params = params.as_object().cloned();
        let req = match StatsRequest::parse(command, params.as_ref()) {
            Some(Ok(req)) => req,
            other => panic!("{command} {params:?}: {other:?}"),
        };
        let v: Value = serde_json::from_str(&answer(&req, &h, now)).expect("reply is JSON");
        let json = serde_json::to_string_pretty(&v).expect("json") + "\n";
        check(&format!("stats-{name}.json"), &json, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
