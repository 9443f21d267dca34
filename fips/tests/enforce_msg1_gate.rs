//! XDP's gate for handshake initiations, on crafted frames run in the
//! kernel with BPF_PROG_TEST_RUN: what it drops, what it must never drop,
//! and the counter it bumps.

#[path = "enforce_util/classifier.rs"]
mod classifier;
#[path = "enforce_util/frames.rs"]
mod frames;

use std::net::IpAddr;
use std::time::Instant;

use fips::enforce::{Classifier, Direction, Msg1Rate, Reason, VERDICT_PASS, XDP_PASS};
use frames::*;

const PORT: u16 = 4242;
/// Slow enough that no token comes back while a test runs (but see
/// `refilled_since`).
const RATE: Msg1Rate = Msg1Rate {
    per_sec: 1,
    burst: 4,
};

fn classifier(allow_ipv6: bool, rate: Msg1Rate) -> Classifier {
    let mut c = classifier::load(PORT, allow_ipv6);
    c.set_msg1_rate(rate).expect("setting the msg1 rate");
    c
}

/// The FMP prefix of a packet of `phase`, then `len - 4` bytes of junk.
fn fmp(phase: u8, len: usize) -> Vec<u8> {
    let mut p = vec![phase, 0];
    p.extend_from_slice(&((len - 4) as u16).to_le_bytes());
    p.resize(len, 0xa5);
    p
}

fn msg1() -> Vec<u8> {
    fmp(0x01, 114)
}

fn from4(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = eth(ETH_P_IP, &ipv4(UDP, &udp(5555, PORT, payload)));
    f[26..30].copy_from_slice(&src);
    f
}

fn from6(src: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut f = eth(ETH_P_IPV6, &ipv6(UDP, &udp(5555, PORT, payload)));
    f[22..38].copy_from_slice(&src);
    f
}

fn xdp_passes(c: &mut Classifier, frame: &[u8]) -> bool {
    c.test_run(Direction::Xdp, frame)
        .expect("BPF_PROG_TEST_RUN")
        == XDP_PASS as i32
}

/// How many of `n` runs of `frame` at XDP pass.
fn passed_of(c: &mut Classifier, frame: &[u8], n: usize) -> usize {
    (0..n).filter(|_| xdp_passes(c, frame)).count()
}

fn over_budget(c: &Classifier) -> u64 {
    let rows = c.counters().expect("reading counters");
    rows.iter()
        .find(|r| r.dir == Direction::Xdp && r.reason == Reason::Msg1OverBudget)
        .map_or(0, |r| r.packets)
}

/// Tokens the gate may have given back since `start` at [`RATE`] (a busy
/// machine can stall a test for a second).
fn refilled_since(start: Instant) -> usize {
    start.elapsed().as_secs() as usize * RATE.per_sec as usize
}

#[test]
fn drops_a_sources_msg1_over_its_burst_and_counts_each() {
    let mut c = classifier(false, RATE);
    let frame = from4([10, 9, 0, 1], &msg1());
    let start = Instant::now();
    assert_eq!(passed_of(&mut c, &frame, RATE.burst as usize), 4);
    let passed = passed_of(&mut c, &frame, 20);
    assert!(passed <= refilled_since(start), "{passed} of 20 passed");
    assert_eq!(over_budget(&c), 20 - passed as u64);
}

#[test]
fn phase_one_datagrams_of_any_length_share_the_budget() {
    let mut c = classifier(false, RATE);
    let start = Instant::now();
    assert_eq!(passed_of(&mut c, &from4([10, 9, 0, 1], &msg1()), 4), 4);
    let short = from4([10, 9, 0, 1], &fmp(0x01, 20));
    assert!(passed_of(&mut c, &short, 5) <= refilled_since(start));
}

#[test]
fn never_drops_established_frames_or_msg2_from_a_flooding_source() {
    let mut c = classifier(false, RATE);
    let src = [10, 9, 0, 1];
    passed_of(&mut c, &from4(src, &msg1()), 50);
    assert!(over_budget(&c) > 0);
    for payload in [fmp(0x00, 200), fmp(0x02, 69), b"not fmp".to_vec()] {
        assert_eq!(passed_of(&mut c, &from4(src, &payload), 20), 20);
    }
}

#[test]
fn another_source_keeps_its_own_budget_during_a_flood() {
    let mut c = classifier(false, RATE);
    passed_of(&mut c, &from4([10, 9, 0, 1], &msg1()), 50);
    assert_eq!(passed_of(&mut c, &from4([10, 9, 0, 2], &msg1()), 4), 4);
}

#[test]
fn a_known_peers_msg1_always_passes_until_it_is_no_longer_known() {
    let mut c = classifier(false, RATE);
    let peer: IpAddr = "10.9.0.7".parse().expect("literal");
    let sync = c.set_known_peers([peer, peer]).expect("syncing");
    assert_eq!((sync.added, sync.removed, sync.over_cap), (1, 0, 0));
    let frame = from4([10, 9, 0, 7], &msg1());
    assert_eq!(passed_of(&mut c, &frame, 100), 100);
    assert_eq!(over_budget(&c), 0);

    let start = Instant::now();
    let sync = c.set_known_peers([]).expect("syncing");
    assert_eq!((sync.added, sync.removed), (0, 1));
    let passed = passed_of(&mut c, &frame, 20);
    assert!(passed <= 4 + refilled_since(start), "{passed} of 20 passed");
}

#[test]
fn the_known_peers_map_holds_its_cap_and_reports_the_rest() {
    let mut c = classifier(false, RATE);
    let cap = fips_common::MSG1_KNOWN_CAP as usize;
    let ips = (0..cap + 3).map(|i| IpAddr::from([10, 8, (i >> 8) as u8, i as u8]));
    let sync = c.set_known_peers(ips).expect("syncing");
    assert_eq!((sync.added, sync.over_cap), (cap, 3));
    let gate = c.msg1_gate().expect("reading the gate");
    assert_eq!((gate.known_peers, gate.known_over_cap), (cap, 3));
}

#[test]
fn ipv6_sources_share_a_bucket_per_64_and_known_ones_pass() {
    let mut c = classifier(true, RATE);
    let a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut b = a;
    b[15] = 2;
    let start = Instant::now();
    assert_eq!(passed_of(&mut c, &from6(a, &msg1()), 4), 4);
    assert!(passed_of(&mut c, &from6(b, &msg1()), 5) <= refilled_since(start));

    let mut other = a;
    other[7] = 2;
    c.set_known_peers([IpAddr::from(other)]).expect("syncing");
    assert_eq!(passed_of(&mut c, &from6(other, &msg1()), 50), 50);
}

#[test]
fn a_zero_rate_turns_the_gate_off() {
    let mut c = classifier(
        false,
        Msg1Rate {
            per_sec: 0,
            burst: 4,
        },
    );
    assert_eq!(passed_of(&mut c, &from4([10, 9, 0, 1], &msg1()), 100), 100);
    assert_eq!(over_budget(&c), 0);
}

#[test]
fn tc_ingress_leaves_handshakes_to_xdp() {
    let mut c = classifier(false, RATE);
    let frame = from4([10, 9, 0, 1], &msg1());
    for _ in 0..20 {
        let verdict = c.test_run(Direction::Ingress, &frame).expect("test run");
        assert_eq!(verdict, VERDICT_PASS);
    }
}

#[test]
fn the_gate_tracks_each_source_once() {
    let mut c = classifier(false, RATE);
    for i in 0..10u8 {
        passed_of(&mut c, &from4([10, 9, 1, i], &msg1()), 2);
    }
    let gate = c.msg1_gate().expect("reading the gate");
    assert_eq!(gate.sources_tracked, 10);
    assert_eq!(gate.sources_cap, fips_common::MSG1_SOURCES_CAP);
    assert_eq!((gate.per_source_per_sec, gate.per_source_burst), (1, 4));
}

#[test]
fn finds_the_msg1_after_ipv4_options() {
    let mut c = classifier(false, RATE);
    let mut frame = eth(
        ETH_P_IP,
        &ipv4_with(UDP, &[1, 1, 1, 1], 0, &udp(5555, PORT, &msg1())),
    );
    frame[26..30].copy_from_slice(&[10, 9, 0, 1]);
    let start = Instant::now();
    assert_eq!(passed_of(&mut c, &frame, 4), 4);
    assert!(passed_of(&mut c, &frame, 10) <= refilled_since(start));
}
