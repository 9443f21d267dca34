//! The classifier's verdicts for the metrics port, on crafted frames run in
//! the kernel with BPF_PROG_TEST_RUN. A test run's skb has no socket and no
//! mark, so every egress segment here is a stranger's: only the attached
//! filter (metrics_filter.rs) sees the daemon's own sockets.

#[path = "enforce_util/classifier.rs"]
mod classifier;
#[path = "enforce_util/frames.rs"]
mod frames;

use fips::enforce::{Classifier, Direction, Reason, VERDICT_DROP, VERDICT_PASS, XDP_PASS};
use frames::*;

const PORT: u16 = 4242;
const METRICS: u16 = 9464;

fn classifier(metrics: u16) -> Classifier {
    let mut c = classifier::load(PORT, true);
    c.set_metrics_port(metrics).expect("set the metrics port");
    c
}

/// A TCP header: ports, then flags at byte 13, data offset 5 words.
fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[..2].copy_from_slice(&src.to_be_bytes());
    h[2..4].copy_from_slice(&dst.to_be_bytes());
    h[12] = 5 << 4;
    h[13] = flags;
    h
}

fn tcp4(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    eth(ETH_P_IP, &ipv4(TCP, &tcp(src, dst, flags)))
}

fn reason_of(c: &mut Classifier, dir: Direction, frame: &[u8]) -> Reason {
    let before = c.counters().expect("counters");
    let verdict = c.test_run(dir, frame).expect("BPF_PROG_TEST_RUN");
    let after = c.counters().expect("counters");
    let grew: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| a.packets > b.packets)
        .map(|(_, a)| (a.dir, a.reason))
        .collect();
    assert_eq!(grew.len(), 1, "one counter per run: {grew:?}");
    let (d, reason) = grew[0];
    assert_eq!(d, dir);
    let want = match (dir, reason.passes()) {
        (Direction::Xdp, true) => XDP_PASS as i32,
        (Direction::Xdp, false) => fips::enforce::XDP_DROP as i32,
        (_, true) => VERDICT_PASS,
        (_, false) => VERDICT_DROP,
    };
    assert_eq!(verdict, want, "{dir:?} verdict for {reason:?}");
    reason
}

#[test]
fn tcp_to_the_metrics_port_passes_ingress_and_xdp() {
    let mut c = classifier(METRICS);
    let syn = tcp4(40000, METRICS, 0x02);
    assert_eq!(reason_of(&mut c, Direction::Xdp, &syn), Reason::Passed);
    assert_eq!(reason_of(&mut c, Direction::Ingress, &syn), Reason::Passed);
    let other = tcp4(40000, METRICS + 1, 0x02);
    assert_eq!(
        reason_of(&mut c, Direction::Ingress, &other),
        Reason::NotUdp
    );
    assert_eq!(reason_of(&mut c, Direction::Xdp, &other), Reason::NotUdp);
}

#[test]
fn tcp_from_the_metrics_port_without_a_registered_socket_is_dropped_as_foreign() {
    let mut c = classifier(METRICS);
    for flags in [0x12, 0x10, 0x18, 0x11, 0x04] {
        let seg = tcp4(METRICS, 40000, flags);
        assert_eq!(
            reason_of(&mut c, Direction::Egress, &seg),
            Reason::ForeignSocket,
            "flags {flags:#x}"
        );
    }
    let elsewhere = tcp4(METRICS + 1, 40000, 0x12);
    assert_eq!(
        reason_of(&mut c, Direction::Egress, &elsewhere),
        Reason::NotUdp
    );
}

#[test]
fn without_a_metrics_port_tcp_is_dropped_everywhere_as_before() {
    let mut c = classifier(0);
    let syn = tcp4(40000, METRICS, 0x02);
    for dir in [Direction::Xdp, Direction::Ingress] {
        assert_eq!(reason_of(&mut c, dir, &syn), Reason::NotUdp);
    }
    let synack = tcp4(METRICS, 40000, 0x12);
    assert_eq!(
        reason_of(&mut c, Direction::Egress, &synack),
        Reason::NotUdp
    );
    // Even a header too short to hold the ports: no metrics port, no look.
    let short = eth(ETH_P_IP, &ipv4(TCP, &[0; 2]));
    assert_eq!(
        reason_of(&mut c, Direction::Ingress, &short),
        Reason::NotUdp
    );
}

#[test]
fn ipv4_options_and_ipv6_reach_the_same_verdict() {
    let mut c = classifier(METRICS);
    let opts = eth(
        ETH_P_IP,
        &ipv4_with(TCP, &[1, 1, 1, 0], 0, &tcp(40000, METRICS, 0x02)),
    );
    assert_eq!(reason_of(&mut c, Direction::Ingress, &opts), Reason::Passed);
    let v6 = eth(ETH_P_IPV6, &ipv6(TCP, &tcp(40000, METRICS, 0x02)));
    assert_eq!(reason_of(&mut c, Direction::Ingress, &v6), Reason::Passed);
    let v6_out = eth(ETH_P_IPV6, &ipv6(TCP, &tcp(METRICS, 40000, 0x12)));
    assert_eq!(
        reason_of(&mut c, Direction::Egress, &v6_out),
        Reason::ForeignSocket
    );
    let short = eth(ETH_P_IP, &ipv4(TCP, &[0; 2]));
    assert_eq!(
        reason_of(&mut c, Direction::Ingress, &short),
        Reason::Malformed
    );
}
