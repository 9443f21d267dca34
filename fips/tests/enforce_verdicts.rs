//! The classifier's verdict and counter for crafted frames, run in the
//! kernel with BPF_PROG_TEST_RUN (not attached anywhere).

#[path = "enforce_util/classifier.rs"]
mod classifier;
#[path = "enforce_util/frames.rs"]
mod frames;

use fips::enforce::{
    Classifier, Direction, Policy, Reason, VERDICT_DROP, VERDICT_PASS, XDP_DROP, XDP_PASS,
};
use frames::*;

const PORT: u16 = 4242;

fn classifier(allow_ipv6: bool) -> Classifier {
    classifier::load(PORT, allow_ipv6)
}

fn packets(c: &Classifier, dir: Direction, reason: Reason) -> u64 {
    let rows = c.counters().expect("reading counters");
    rows.iter()
        .find(|r| r.dir == dir && r.reason == reason)
        .map_or(0, |r| r.packets)
}

/// Runs `frame` through the program of `dir` and checks the verdict and that
/// exactly the counter of (`dir`, `reason`) went up by one.
fn expect(c: &mut Classifier, dir: Direction, frame: &[u8], reason: Reason) {
    let before = c.counters().expect("reading counters");
    let verdict = c.test_run(dir, frame).expect("BPF_PROG_TEST_RUN");
    let want = match (dir, reason.passes()) {
        (Direction::Xdp, true) => XDP_PASS as i32,
        (Direction::Xdp, false) => XDP_DROP as i32,
        (_, true) => VERDICT_PASS,
        (_, false) => VERDICT_DROP,
    };
    assert_eq!(verdict, want, "{dir:?} verdict for {reason:?}");
    let after = c.counters().expect("reading counters");
    for (b, a) in before.iter().zip(&after) {
        let grew = a.packets - b.packets;
        let expected = u64::from(a.dir == dir && a.reason == reason);
        assert_eq!(
            grew, expected,
            "{:?}/{:?} counter, expected {dir:?}/{reason:?}",
            a.dir, a.reason
        );
    }
    assert!(packets(c, dir, reason) >= 1);
}

fn udp4(src: u16, dst: u16) -> Vec<u8> {
    eth(ETH_P_IP, &ipv4(UDP, &udp(src, dst, b"fips")))
}

/// `expect` for each of `frames` in every direction.
fn expect_everywhere(c: &mut Classifier, frames: &[&[u8]], reason: Reason) {
    for dir in Direction::ALL {
        for frame in frames {
            expect(c, dir, frame, reason);
        }
    }
}

#[test]
fn passes_udp_to_the_transport_port_on_ingress() {
    expect(
        &mut classifier(false),
        Direction::Ingress,
        &udp4(5555, PORT),
        Reason::Passed,
    );
}

#[test]
fn drops_udp_to_another_port_on_ingress() {
    expect(
        &mut classifier(false),
        Direction::Ingress,
        &udp4(5555, PORT + 1),
        Reason::WrongPort,
    );
}

#[test]
fn drops_egress_udp_from_another_port() {
    expect(
        &mut classifier(false),
        Direction::Egress,
        &udp4(5555, PORT),
        Reason::WrongPort,
    );
}

#[test]
fn drops_egress_udp_from_the_transport_port_sent_by_a_foreign_socket() {
    // BPF_PROG_TEST_RUN gives the skb a throwaway socket whose cookie is
    // not in the map: exactly a raw or second socket spoofing the port.
    expect(
        &mut classifier(false),
        Direction::Egress,
        &udp4(PORT, 9999),
        Reason::ForeignSocket,
    );
}

#[test]
fn drops_tcp_and_icmp_in_both_directions() {
    let mut c = classifier(false);
    let tcp = eth(ETH_P_IP, &ipv4(TCP, &[0; 20]));
    let icmp = eth(ETH_P_IP, &ipv4(ICMP, &[8, 0, 0, 0, 0, 1, 0, 1]));
    expect_everywhere(&mut c, &[&tcp, &icmp], Reason::NotUdp);
}

#[test]
fn passes_ipv4_arp_in_both_directions() {
    let mut c = classifier(false);
    expect_everywhere(&mut c, &[&arp(ETH_P_IP)], Reason::ArpPassed);
}

#[test]
fn drops_arp_for_a_protocol_other_than_ipv4() {
    expect(
        &mut classifier(false),
        Direction::Egress,
        &arp(0x1234),
        Reason::OtherEthertype,
    );
}

#[test]
fn drops_ipv4_fragments_first_and_later() {
    let mut c = classifier(false);
    let first = eth(
        ETH_P_IP,
        &ipv4_with(UDP, &[], 0x2000, &udp(5555, PORT, b"x")),
    );
    let later = eth(
        ETH_P_IP,
        &ipv4_with(UDP, &[], 0x0010, &udp(5555, PORT, b"x")),
    );
    expect(&mut c, Direction::Ingress, &first, Reason::Fragment);
    expect(&mut c, Direction::Ingress, &later, Reason::Fragment);
}

#[test]
fn passes_ipv4_with_dont_fragment_set() {
    let df = eth(
        ETH_P_IP,
        &ipv4_with(UDP, &[], 0x4000, &udp(5555, PORT, b"x")),
    );
    expect(
        &mut classifier(false),
        Direction::Ingress,
        &df,
        Reason::Passed,
    );
}

#[test]
fn finds_the_udp_header_after_ipv4_options() {
    let mut c = classifier(false);
    // Two NOPs and an end-of-options, padded: 8 bytes of options.
    let opts = [1, 1, 0, 0, 0, 0, 0, 0];
    let ok = eth(ETH_P_IP, &ipv4_with(UDP, &opts, 0, &udp(5555, PORT, b"x")));
    expect(&mut c, Direction::Ingress, &ok, Reason::Passed);
    // The destination port sits where a parser ignoring IHL would not look.
    let wrong = eth(
        ETH_P_IP,
        &ipv4_with(UDP, &opts, 0, &udp(PORT, PORT + 1, b"x")),
    );
    expect(&mut c, Direction::Ingress, &wrong, Reason::WrongPort);
}

#[test]
fn drops_truncated_and_inconsistent_headers_as_malformed() {
    // BPF_PROG_TEST_RUN itself refuses IPv4 frames shorter than a 20-byte
    // header (and IPv6 ones shorter than 40): those cuts are sent on the
    // veth in enforce_veth.rs instead.
    let mut c = classifier(false);
    let short_udp = eth(ETH_P_IP, &ipv4(UDP, &[0x10, 0x92, 0x10]));
    let mut ihl_too_small = ipv4(UDP, &udp(5555, PORT, b"x"));
    ihl_too_small[0] = 0x44;
    let mut options_past_end = ipv4(UDP, &[]);
    options_past_end[0] = 0x4f;
    let mut wrong_version = ipv4(UDP, &udp(5555, PORT, b"x"));
    wrong_version[0] = 0x65;
    let short_arp = eth(ETH_P_ARP, &[0, 1, 8]);
    for frame in [
        short_udp,
        eth(ETH_P_IP, &ihl_too_small),
        eth(ETH_P_IP, &options_past_end),
        eth(ETH_P_IP, &wrong_version),
        short_arp,
    ] {
        expect(&mut c, Direction::Ingress, &frame, Reason::Malformed);
    }
}

#[test]
fn drops_all_ipv6_when_the_transport_is_ipv4_only() {
    let mut c = classifier(false);
    let udp6 = eth(ETH_P_IPV6, &ipv6(UDP, &udp(5555, PORT, b"x")));
    let ns = eth(ETH_P_IPV6, &ipv6(ICMPV6, &icmpv6(135)));
    expect_everywhere(&mut c, &[&udp6, &ns], Reason::Ipv6);
}

#[test]
fn passes_ipv6_udp_and_neighbour_discovery_for_an_ipv6_transport() {
    let mut c = classifier(true);
    expect_ipv6_transport(&mut c, Direction::Ingress, Direction::Egress);
}

/// An IPv6 transport's verdicts: its UDP in on `inbound`, neighbour
/// discovery but not ping out on `outbound`, another port refused.
fn expect_ipv6_transport(c: &mut Classifier, inbound: Direction, outbound: Direction) {
    let udp6 = eth(ETH_P_IPV6, &ipv6(UDP, &udp(5555, PORT, b"x")));
    expect(c, inbound, &udp6, Reason::Passed);
    for kind in 133..=137 {
        let nd = eth(ETH_P_IPV6, &ipv6(ICMPV6, &icmpv6(kind)));
        expect(c, outbound, &nd, Reason::NdPassed);
    }
    let echo = eth(ETH_P_IPV6, &ipv6(ICMPV6, &icmpv6(128)));
    expect(c, outbound, &echo, Reason::NotUdp);
    let wrong = eth(ETH_P_IPV6, &ipv6(UDP, &udp(5555, PORT + 1, b"x")));
    expect(c, inbound, &wrong, Reason::WrongPort);
}

#[test]
fn drops_ipv6_extension_headers_and_fragments_even_before_the_transport_port() {
    let mut c = classifier(true);
    let inner = udp(5555, PORT, b"x");
    for ext in [0u8, 43, 60] {
        let frame = eth(ETH_P_IPV6, &ipv6(ext, &ext_header(UDP, &inner)));
        expect(&mut c, Direction::Ingress, &frame, Reason::Ipv6ExtHeader);
    }
    let frag = eth(ETH_P_IPV6, &ipv6(44, &ext_header(UDP, &inner)));
    expect(&mut c, Direction::Ingress, &frag, Reason::Fragment);
    let tcp6 = eth(ETH_P_IPV6, &ipv6(TCP, &[0; 20]));
    expect(&mut c, Direction::Ingress, &tcp6, Reason::NotUdp);
}

#[test]
fn drops_truncated_ipv6_as_malformed() {
    let mut c = classifier(true);
    let short_udp = eth(ETH_P_IPV6, &ipv6(UDP, &[0x10, 0x92]));
    expect(&mut c, Direction::Ingress, &short_udp, Reason::Malformed);
    let short_icmp = eth(ETH_P_IPV6, &ipv6(ICMPV6, &[]));
    expect(&mut c, Direction::Ingress, &short_icmp, Reason::Malformed);
}

#[test]
fn drops_vlan_tagged_frames_even_carrying_transport_udp() {
    let mut c = classifier(false);
    let inner = ipv4(UDP, &udp(5555, PORT, b"x"));
    for tpid in [0x8100, 0x88a8] {
        let frame = vlan_tagged(tpid, ETH_P_IP, &inner);
        expect(&mut c, Direction::Ingress, &frame, Reason::Vlan);
    }
}

#[test]
fn drops_unknown_ethertypes() {
    let mut c = classifier(false);
    for ethertype in [0x88cc_u16, 0x8863, 0x0842, 0x0000] {
        expect(
            &mut c,
            Direction::Egress,
            &eth(ethertype, &[0; 46]),
            Reason::OtherEthertype,
        );
    }
}

#[test]
fn drops_everything_but_arp_until_a_port_is_set() {
    let mut c = match Classifier::load(&Policy {
        udp_port: 0,
        socket_cookies: vec![],
        allow_ipv6: false,
    }) {
        Ok(c) => c,
        Err(e) => panic!("loading the classifier: {e}"),
    };
    expect(
        &mut c,
        Direction::Ingress,
        &udp4(5555, 0),
        Reason::WrongPort,
    );
    expect(&mut c, Direction::Egress, &udp4(0, 5555), Reason::WrongPort);
    expect(
        &mut c,
        Direction::Ingress,
        &arp(ETH_P_IP),
        Reason::ArpPassed,
    );
}

#[test]
fn xdp_passes_only_arp_and_udp_to_the_transport_port_counting_each_reason() {
    let mut c = classifier(false);
    let opts = [1, 1, 0, 0, 0, 0, 0, 0];
    let cases = [
        (udp4(5555, PORT), Reason::Passed),
        (
            eth(ETH_P_IP, &ipv4_with(UDP, &opts, 0, &udp(5555, PORT, b"x"))),
            Reason::Passed,
        ),
        (arp(ETH_P_IP), Reason::ArpPassed),
        (arp(0x1234), Reason::OtherEthertype),
        // XDP sees ingress only: the destination port decides.
        (udp4(PORT, 9999), Reason::WrongPort),
        (udp4(5555, PORT + 1), Reason::WrongPort),
        (eth(ETH_P_IP, &ipv4(TCP, &[0; 20])), Reason::NotUdp),
        (
            eth(ETH_P_IP, &ipv4(ICMP, &[8, 0, 0, 0, 0, 1, 0, 1])),
            Reason::NotUdp,
        ),
        (
            eth(
                ETH_P_IP,
                &ipv4_with(UDP, &[], 0x2000, &udp(5555, PORT, b"x")),
            ),
            Reason::Fragment,
        ),
        (
            eth(ETH_P_IPV6, &ipv6(UDP, &udp(5555, PORT, b"x"))),
            Reason::Ipv6,
        ),
        (
            vlan_tagged(0x8100, ETH_P_IP, &ipv4(UDP, &udp(5555, PORT, b"x"))),
            Reason::Vlan,
        ),
        (
            eth(ETH_P_IP, &ipv4(UDP, &[0x10, 0x92, 0x10])),
            Reason::Malformed,
        ),
        (eth(0x88cc, &[0; 46]), Reason::OtherEthertype),
    ];
    for (frame, reason) in cases {
        expect(&mut c, Direction::Xdp, &frame, reason);
    }
}

#[test]
fn xdp_passes_ipv6_udp_and_neighbour_discovery_for_an_ipv6_transport() {
    let mut c = classifier(true);
    expect_ipv6_transport(&mut c, Direction::Xdp, Direction::Xdp);
    let frag = eth(
        ETH_P_IPV6,
        &ipv6(44, &ext_header(UDP, &udp(5555, PORT, b"x"))),
    );
    expect(&mut c, Direction::Xdp, &frag, Reason::Fragment);
}
