//! Junk handshakes against real daemons: a sender without a key floods a
//! node's FIPS port with msg1-shaped datagrams (valid curve point, garbage
//! ciphertext) from many addresses and ports. The node's live link stays
//! up with the same link id, traffic keeps flowing over it, a new peer
//! still links during the flood, and the refusals are counted and warned
//! about. With enforcement on, XDP's msg1 gate drops the flood before the
//! daemon's socket sees it, and still lets a restarting peer and a new one
//! link. (The flood rates of the benchmark are in testing/bench/junk-bench.sh.)

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fips::control::Query;
use fips_proto::identity::Identity;
use fips_proto::wire::fmp::Msg1;
use fips_testkit::net::secs;
use fips_testkit::netns::enter_thread;
use fips_testkit::{key, Lan, Net};
use rand::RngCore;

const PORT: u16 = 4731;
/// Datagrams per second the flood aims at (one debug-built sender thread).
const RATE: u64 = 20_000;
/// The attacker's extra source addresses on the shared segment.
const SOURCES: u8 = 8;
const PORTS_PER_SOURCE: usize = 4;

/// Floods `target` from the namespace named `ns` until
/// `stop`; returns how many junk msg1s it sent.
fn flood(ns: String, target: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        enter_thread(&ns);
        let sockets: Vec<UdpSocket> = (0..SOURCES)
            .flat_map(|i| (0..PORTS_PER_SOURCE).map(move |_| i))
            .map(|i| UdpSocket::bind((Lan::host(200 + usize::from(i)).as_str(), 0)).expect("bind"))
            .collect();
        let point = Identity::generate(&mut rand::rngs::OsRng)
            .public()
            .compressed();
        let mut rng = rand::thread_rng();
        let (start, mut sent) = (Instant::now(), 0u64);
        let mut buf = Vec::with_capacity(Msg1::LEN);
        while !stop.load(Ordering::Relaxed) {
            let due = start + Duration::from_secs_f64(sent as f64 / RATE as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let mut noise = [0u8; 106];
            rng.fill_bytes(&mut noise[33..]);
            noise[..33].copy_from_slice(&point);
            buf.clear();
            let sender_idx = rng.next_u32();
            Msg1 { sender_idx, noise }.emit(&mut buf);
            let sock = &sockets[sent as usize % sockets.len()];
            // A full socket buffer drops this one; the flood goes on.
            let _ = sock.send_to(&buf, target);
            sent += 1;
        }
        sent
    })
}

fn link_id_of(net: &Net, on: &str, peer: &str) -> Option<u64> {
    let v = net.daemon(on).show(Query::Peers)?;
    v["peers"]
        .as_array()?
        .iter()
        .find(|p| p["npub"] == key(peer).npub)
        .and_then(|p| p["link_id"].as_u64())
}

/// Nodes a, b, c on the segment and d, the attacker: a namespace with
/// `SOURCES` addresses and no daemon.
fn with_attacker(tag: &str) -> Net {
    let net = Net::new(tag, &["a", "b", "c", "d"], PORT);
    for i in 0..SOURCES {
        let cidr = format!("{}/24", Lan::host(200 + usize::from(i)));
        net.ns("d").ip(&["addr", "add", &cidr, "dev", "eth0"]);
    }
    net
}

fn admission(net: &Net, on: &str) -> serde_json::Value {
    net.daemon(on)
        .show(Query::Transports)
        .map(|v| v["msg1_admission"].clone())
        .unwrap_or_default()
}

#[test]
fn a_junk_msg1_flood_neither_drops_a_link_nor_keeps_a_new_peer_out() {
    let mut net = with_attacker("jf");
    net.start("b", &[]);
    net.start("a", &["b"]);
    net.wait_links(&[("a", "b")], Duration::from_secs(30));
    let b_addr = net.resolve("a", "b").to_string();
    let link = link_id_of(&net, "b", "a").expect("a's link id on b");

    let stop = Arc::new(AtomicBool::new(false));
    let target: SocketAddr = format!("{}:{PORT}", Lan::ip_of("b")).parse().expect("addr");
    let flood_start = Instant::now();
    let flooder = flood(net.ns("d").name.clone(), target, stop.clone());
    std::thread::sleep(Duration::from_secs(2));

    // A new peer links during the flood; the live link keeps carrying pings.
    let t0 = Instant::now();
    net.start("c", &["b"]);
    net.wait_links(&[("c", "b")], Duration::from_secs(20));
    eprintln!("c linked to b {:.1} s into the flood", secs(t0) + 2.0);
    let (got, text) = net.ping("a", &b_addr, 20, 5);
    let during = admission(&net, "b");
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().expect("flood thread");

    eprintln!("sent {sent} junk msg1; b's admission: {during}");
    assert!(got >= 19, "pings a -> b during the flood: {got}/20\n{text}");
    assert_eq!(
        link_id_of(&net, "b", "a"),
        Some(link),
        "a's link on b was never re-established\n{}",
        net.logs()
    );
    assert!(sent > 20_000, "the flood sent {sent}");
    let refused = during["refused"].as_u64().unwrap_or(0);
    assert!(refused > 10_000, "{during}");
    assert!(
        during["refused_source"].as_u64().unwrap_or(0) > 0,
        "{during}"
    );
    // At most the sources' bursts (32 each) and refill (8/s each), and c's
    // handshake, got as far as the ECDH.
    let secs = flood_start.elapsed().as_secs() + 1;
    let bound = u64::from(SOURCES) * (32 + 8 * secs) + 10;
    let admitted = during["admitted_unknown"].as_u64().unwrap_or(u64::MAX);
    assert!(admitted <= bound, "{admitted} > {bound}: {during}");
    let log = net.daemon("b").log();
    assert!(
        log.contains("handshake msg1s refused by the rate limits"),
        "no warning in b's log:\n{log}"
    );
    net.keep_logs();
}

fn xdp_msg1_drops(net: &Net, on: &str) -> u64 {
    let Some(fw) = net.daemon(on).show(Query::Firewall) else {
        return 0;
    };
    fw["counters"].as_array().map_or(0, |rows| {
        rows.iter()
            .filter(|r| r["direction"] == "xdp" && r["reason"] == "msg1-over-budget")
            .filter_map(|r| r["packets"].as_u64())
            .sum()
    })
}

#[test]
fn with_enforcement_xdp_drops_a_junk_msg1_flood_while_a_restarting_and_a_new_peer_link() {
    let mut net = with_attacker("jx");
    let enforced = net.config("b", &[]) + "enforce:\n  enabled: true\n  interface: eth0\n";
    net.start_yaml("b", &enforced);
    net.start("a", &["b"]);
    net.wait_links(&[("a", "b")], Duration::from_secs(30));
    // The daemon copies its known peers into the gate every second.
    let known = || {
        net.daemon("b").show(Query::Firewall).unwrap_or_default()["msg1_gate"]["known_peers"]
            .as_u64()
    };
    assert!(
        fips_testkit::wait_until(Duration::from_secs(10), || known() >= Some(1)),
        "a's address never became known to b's XDP gate: {:?}\n{}",
        net.daemon("b").show(Query::Firewall),
        net.logs()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let target: SocketAddr = format!("{}:{PORT}", Lan::ip_of("b")).parse().expect("addr");
    let flood_start = Instant::now();
    let flooder = flood(net.ns("d").name.clone(), target, stop.clone());
    std::thread::sleep(Duration::from_secs(2));

    // A new peer links, a linked peer restarts and links again.
    net.start("c", &["b"]);
    net.wait_links(&[("c", "b")], Duration::from_secs(20));
    let t0 = Instant::now();
    let a = net.daemon_mut("a");
    a.kill();
    a.start();
    net.wait_links(&[("a", "b")], Duration::from_secs(20));
    eprintln!("a linked again {:.1} s after its restart", secs(t0));
    let b_addr = net.resolve("a", "b").to_string();
    let (got, text) = net.ping("a", &b_addr, 10, 5);
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().expect("flood thread");
    // The last datagrams in flight reach XDP before the counters are read.
    std::thread::sleep(Duration::from_millis(300));
    let dropped = xdp_msg1_drops(&net, "b");
    let seen = admission(&net, "b");

    eprintln!("sent {sent} junk msg1; b's XDP dropped {dropped}; b's admission: {seen}");
    assert!(got >= 9, "pings a -> b after the restart: {got}/10\n{text}");
    assert!(sent > 20_000, "the flood sent {sent}");
    // What reached the daemon: each source's burst (32) and refill (8/s)
    // at XDP, plus the real peers' handshakes.
    let secs = flood_start.elapsed().as_secs() + 1;
    let bound = u64::from(SOURCES) * (32 + 8 * secs) + 20;
    let reached = seen["refused"].as_u64().unwrap_or(u64::MAX)
        + seen["admitted_unknown"].as_u64().unwrap_or(u64::MAX);
    assert!(
        reached <= bound,
        "{reached} msg1 reached b's daemon > {bound}: {seen}"
    );
    assert!(
        dropped + bound >= sent,
        "b's XDP dropped {dropped} of {sent} sent\n{:?}",
        net.daemon("b").show(Query::Firewall)
    );
    net.keep_logs();
}
