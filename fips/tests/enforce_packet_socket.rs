//! What an app with CAP_NET_RAW in the sidecar's namespace can do with
//! packet sockets once the filter is attached, on a real veth: it reads no
//! inbound frame but ARP and the transport's own UDP (XDP drops the rest
//! before the packet taps), and what it sends with PACKET_QDISC_BYPASS
//! (past every TC hook) leaves only in the transport's shape (the
//! netfilter egress backstop).

#[path = "enforce_util/frames.rs"]
mod frames;
#[path = "enforce_util/packet.rs"]
mod packet;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce::{self, Direction, Enforcer, FirewallSnapshot, Policy, Reason};
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::SidecarPair;
use frames::udp;
use packet::{describe, is_arp, is_udp4_port, PacketSocket};
use sockets::{receives, v4};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

const WAIT: Duration = Duration::from_millis(400);

/// From the peer: ICMP echo, UDP to another port, a TCP SYN and an IPv6
/// ping to the sidecar, then one datagram to the transport.
fn send_inbound_probes(topo: &SidecarPair, port: u16, peer: &UdpSocket) {
    let sidecar = topo.sidecar_ip.to_string();
    topo.peer.exec_ok(&["ping", "-c1", "-W1", &sidecar]);
    peer.send_to(b"other port", v4(topo.sidecar_ip, port + 1))
        .expect("send");
    let ip = topo.sidecar_ip;
    let _refused_or_dropped = topo
        .peer
        .enter(|| TcpStream::connect_timeout(&v4(ip, 22).into(), Duration::from_millis(300)));
    let ll = format!("{}%eth0", topo.sidecar.link_local("eth0"));
    topo.peer.exec_ok(&["ping", "-6", "-c1", "-W1", &ll]);
    peer.send_to(b"fips in", v4(topo.sidecar_ip, port))
        .expect("send");
}

fn foreign(frames: &[Vec<u8>], port: u16) -> Vec<String> {
    frames
        .iter()
        .filter(|f| !is_arp(f) && !is_udp4_port(f, port, true))
        .map(|f| describe(f))
        .collect()
}

/// The sidecar's transport socket on `port` and the peer's on `peer_port`.
fn transport_and_peer(topo: &SidecarPair, port: u16, peer_port: u16) -> (UdpSocket, UdpSocket) {
    let (ip, peer_ip) = (topo.sidecar_ip, topo.peer_ip);
    let transport = topo
        .sidecar
        .enter(|| UdpSocket::bind((ip, port)).expect("bind transport"));
    let peer = topo
        .peer
        .enter(|| UdpSocket::bind((peer_ip, peer_port)).expect("bind peer"));
    (transport, peer)
}

fn snapshot(enforcer: &Enforcer) -> FirewallSnapshot {
    enforcer.snapshot().expect("snapshot")
}

#[test]
fn a_packet_socket_in_the_sidecar_reads_only_arp_and_the_transports_udp_either_way() {
    let topo = SidecarPair::with_prefix("is", "pkin", 91);
    let port = 31091;
    let (transport, peer) = transport_and_peer(&topo, port, 32091);
    let reader = topo.sidecar.enter(|| PacketSocket::open("eth0"));

    // Without the filter the reader sees the probes: the test can fail.
    send_inbound_probes(&topo, port, &peer);
    let unfiltered = foreign(&reader.inbound(WAIT), port);
    assert!(
        unfiltered.len() >= 3,
        "the packet socket read too little without the filter: {unfiltered:?}"
    );
    assert!(receives(&transport, b"fips in", WAIT));

    let policy = Policy::for_socket(&transport).expect("policy");
    let enforcer = attach(&topo, &policy);
    let _cleanup = RemoveFilterOnDrop(&topo);
    reader.inbound(Duration::from_millis(100));
    let before = snapshot(&enforcer);

    send_inbound_probes(&topo, port, &peer);
    let frames = reader.inbound(WAIT);
    let leaked = foreign(&frames, port);
    assert!(
        leaked.is_empty(),
        "the packet socket read inbound non-FIPS frames: {leaked:?}"
    );
    assert!(
        receives(&transport, b"fips in", WAIT),
        "the transport's datagram did not arrive"
    );
    // What NET_RAW still reads: the transport's own inbound datagrams.
    assert!(
        frames.iter().any(|f| is_udp4_port(f, port, true)),
        "the reader did not see the transport's datagram"
    );
    let after = snapshot(&enforcer);
    for (reason, at_least) in [
        (Reason::NotUdp, 2),
        (Reason::WrongPort, 1),
        (Reason::Ipv6, 1),
    ] {
        let grew = after.packets(Direction::Xdp, reason) - before.packets(Direction::Xdp, reason);
        assert!(
            grew >= at_least,
            "xdp/{reason:?} grew by {grew}, expected {at_least}:\n{}",
            after.render_table()
        );
    }
    assert!(
        after.packets(Direction::Xdp, Reason::Passed)
            > before.packets(Direction::Xdp, Reason::Passed)
    );
}

/// Source MAC of every frame the bypass sender forges, so the capture on
/// the peer picks them out of the kernel's own traffic.
const FORGED_MAC: [u8; 6] = [0x02, 0x15, 0x0a, 0xee, 0xee, 0x01];

fn forged(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&FORGED_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    // A valid header checksum: a bridge with br_netfilter drops others.
    let sum = p.chunks(2).fold(0u32, |acc, w| {
        acc + u32::from(u16::from_be_bytes([w[0], w[1]]))
    });
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

/// ICMP echo, TCP SYN, UDP from another port, IPv6 UDP, LLDP, and one
/// frame of the transport's shape (UDP from its port), all broadcast.
fn bypass_probes(topo: &SidecarPair, port: u16) -> Vec<(&'static str, Vec<u8>)> {
    let (src, dst) = (topo.sidecar_ip.octets(), topo.peer_ip.octets());
    let mut ipv6 = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
    ipv6.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ipv6.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ipv6.extend_from_slice(&udp(port, 9, b"v6v6"));
    let mut syn = vec![0; 20];
    syn[..4].copy_from_slice(&[0x30, 0x39, 0, 22]);
    syn[12] = 0x50;
    syn[13] = 0x02;
    vec![
        (
            "icmp",
            forged(0x0800, &ipv4(1, src, dst, &[8, 0, 0, 0, 0, 1, 0, 1])),
        ),
        ("tcp", forged(0x0800, &ipv4(6, src, dst, &syn))),
        (
            "udp other port",
            forged(0x0800, &ipv4(17, src, dst, &udp(port + 1, 53, b"x"))),
        ),
        ("ipv6", forged(0x86dd, &ipv6)),
        ("lldp", forged(0x88cc, &[0; 46])),
        (
            "transport shape",
            forged(0x0800, &ipv4(17, src, dst, &udp(port, 4444, b"shape"))),
        ),
    ]
}

/// Sends `probes` from the sidecar with PACKET_QDISC_BYPASS and returns
/// the names of those the peer's packet socket captured.
fn captured(topo: &SidecarPair, probes: &[(&'static str, Vec<u8>)]) -> Vec<&'static str> {
    let capture = topo.peer.enter(|| PacketSocket::open("eth0"));
    let sender = topo.sidecar.enter(|| {
        let s = PacketSocket::open("eth0");
        s.bypass_qdisc();
        s
    });
    for (_, frame) in probes {
        // A drop in the backstop shows as an error here; what counts is
        // what reaches the peer.
        let _dropped_or_sent = sender.send(frame);
    }
    let frames = capture.inbound(WAIT);
    probes
        .iter()
        .filter(|(_, sent)| frames.iter().any(|f| f == sent))
        .map(|(name, _)| *name)
        .collect()
}

/// Asserts that the peer captured every one of `probes`.
fn assert_all_captured(topo: &SidecarPair, probes: &[(&'static str, Vec<u8>)], why: &str) {
    let all: Vec<&str> = probes.iter().map(|(n, _)| *n).collect();
    assert_eq!(captured(topo, probes), all, "{why}");
}

/// The filter attached to the sidecar's eth0.
fn attach(topo: &SidecarPair, policy: &Policy) -> Enforcer {
    topo.sidecar
        .enter(|| Enforcer::attach("eth0", policy))
        .unwrap_or_else(|e| panic!("attach: {e}"))
}

#[test]
fn a_bypassing_packet_socket_gets_only_the_transports_shape_past_the_backstop() {
    let topo = SidecarPair::with_prefix("is", "pkout", 92);
    let port = 31092;
    let (transport, peer) = transport_and_peer(&topo, port, 32092);
    let probes = bypass_probes(&topo, port);
    assert_all_captured(&topo, &probes, "the capture misses frames without a filter");

    let policy = Policy::for_socket(&transport).expect("policy");
    let enforcer = attach(&topo, &policy);
    let _cleanup = RemoveFilterOnDrop(&topo);
    assert!(enforcer.backstop(), "no backstop installed");

    // TC alone: bypassed frames never meet it, everything gets out.
    topo.sidecar
        .enter(|| enforce::remove_backstop("eth0"))
        .expect("remove backstop");
    assert_all_captured(&topo, &probes, "TC saw bypassed frames after all");

    // Attached again (as a restarted daemon would): only the shape leaves.
    let enforcer = attach(&topo, &policy);
    let before = snapshot(&enforcer);
    assert_eq!(captured(&topo, &probes), ["transport shape"]);
    let after = snapshot(&enforcer);
    assert!(after.egress_backstop, "{}", after.render_table());
    for (reason, at_least) in [
        (Reason::NotUdp, 2),
        (Reason::WrongPort, 1),
        (Reason::Ipv6, 1),
        (Reason::OtherEthertype, 1),
    ] {
        let grew =
            after.packets(Direction::Egress, reason) - before.packets(Direction::Egress, reason);
        assert!(
            grew >= at_least,
            "egress/{reason:?} grew by {grew}, expected {at_least}:\n{}",
            after.render_table()
        );
    }
    // The daemon's own traffic still flows.
    let peer_addr = v4(topo.peer_ip, 32092);
    let out = (0..5).any(|_| {
        transport.send_to(b"fips out", peer_addr).expect("send");
        receives(&peer, b"fips out", WAIT)
    });
    assert!(out, "the transport's datagram did not reach the peer");

    // `remove` takes the backstop away with the rest.
    topo.sidecar
        .enter(|| enforce::remove("eth0"))
        .expect("remove");
    assert_all_captured(&topo, &probes, "remove left the backstop in place");
}
