//! What an app with CAP_NET_RAW in the sidecar's namespace can do with
//! packet sockets once the filter is attached, on a real veth: it reads no
//! inbound frame but ARP and the transport's own UDP (XDP drops the rest
//! before the packet taps), and what it sends with PACKET_QDISC_BYPASS
//! (past every TC hook) leaves only in the transport's shape (the
//! netfilter egress backstop).

#[path = "enforce_util/netns.rs"]
mod netns;
#[path = "enforce_util/packet.rs"]
mod packet;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce::{self, Direction, Enforcer, FirewallSnapshot, Policy, Reason};
use netns::{in_ns, Topology};
use packet::{describe, is_arp, is_udp4_port, PacketSocket};
use sockets::{receives, v4};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

const WAIT: Duration = Duration::from_millis(400);

/// Removes the test's filter at the end, failed or not.
struct RemoveOnDrop<'a>(&'a Topology);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        match in_ns(&self.0.sidecar, || enforce::remove("eth0")) {
            Ok(()) | Err(enforce::EnforceError::NotAttached { .. }) => {}
            Err(e) => eprintln!("removing the test filter: {e}"),
        }
    }
}

/// From the peer: ICMP echo, UDP to another port, a TCP SYN and an IPv6
/// ping to the sidecar, then one datagram to the transport.
fn send_inbound_probes(topo: &Topology, port: u16, peer: &UdpSocket) {
    let sidecar = topo.sidecar_ip.to_string();
    topo.exec_ok(&topo.peer, &["ping", "-c1", "-W1", &sidecar]);
    peer.send_to(b"other port", v4(topo.sidecar_ip, port + 1))
        .expect("send");
    let ip = topo.sidecar_ip;
    let _refused_or_dropped = in_ns(&topo.peer, || {
        TcpStream::connect_timeout(&v4(ip, 22).into(), Duration::from_millis(300))
    });
    let ll = format!("{}%eth0", topo.link_local(&topo.sidecar));
    topo.exec_ok(&topo.peer, &["ping", "-6", "-c1", "-W1", &ll]);
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

fn snapshot(enforcer: &Enforcer) -> FirewallSnapshot {
    enforcer.snapshot().expect("snapshot")
}

#[test]
fn a_packet_socket_in_the_sidecar_reads_no_inbound_frame_but_arp_and_the_transports_udp() {
    let topo = Topology::with_prefix("is", "pkin", 91);
    let port = 31091;
    let (ip, peer_ip) = (topo.sidecar_ip, topo.peer_ip);
    let transport = in_ns(&topo.sidecar, || {
        UdpSocket::bind((ip, port)).expect("bind transport")
    });
    let peer = in_ns(&topo.peer, || {
        UdpSocket::bind((peer_ip, 32091)).expect("bind peer")
    });
    let reader = in_ns(&topo.sidecar, || PacketSocket::open("eth0"));

    // Without the filter the reader sees the probes: the test can fail.
    send_inbound_probes(&topo, port, &peer);
    let unfiltered = foreign(&reader.inbound(WAIT), port);
    assert!(
        unfiltered.len() >= 3,
        "the packet socket read too little without the filter: {unfiltered:?}"
    );
    assert!(receives(&transport, b"fips in", WAIT));

    let policy = Policy::for_socket(&transport).expect("policy");
    let enforcer = in_ns(&topo.sidecar, || Enforcer::attach("eth0", &policy))
        .unwrap_or_else(|e| panic!("attach: {e}"));
    let _cleanup = RemoveOnDrop(&topo);
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
