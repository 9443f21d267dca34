//! The filter attached to a real sidecar eth0 (a veth onto a bridge shared
//! with a peer namespace). Every probe is first shown to get through
//! without the filter, then to be blocked and counted under its reason
//! while the transport socket's traffic keeps passing.

#[path = "enforce_util/frames.rs"]
mod frames;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce::{self, Direction, Enforcer, FirewallSnapshot, Policy, Reason};
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::SidecarPair;
use sockets::*;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const WAIT: Duration = Duration::from_millis(400);

struct Sidecar {
    topo: SidecarPair,
    port: u16,
    peer_port: u16,
    transport: UdpSocket,
    peer: UdpSocket,
    enforcer: Option<Enforcer>,
}

impl Sidecar {
    /// `reuseport`: bind the transport with SO_REUSEPORT (for the test of
    /// a second socket on the same port).
    fn new(tag: &str, net: u8, reuseport: bool) -> Sidecar {
        let topo = SidecarPair::new(tag, net);
        let port = 31000 + u16::from(net);
        let peer_port = 32000 + u16::from(net);
        let ip = topo.sidecar_ip;
        let transport = topo.sidecar.enter(|| {
            if reuseport {
                udp_reuseport(ip, port)
            } else {
                UdpSocket::bind((ip, port)).expect("bind transport")
            }
        });
        let peer_ip = topo.peer_ip;
        let peer = topo
            .peer
            .enter(|| UdpSocket::bind((peer_ip, peer_port)).expect("bind peer"));
        let s = Sidecar {
            topo,
            port,
            peer_port,
            transport,
            peer,
            enforcer: None,
        };
        s.assert_transport_passes();
        s
    }

    fn attach(&mut self) {
        let policy = Policy::for_socket(&self.transport).expect("policy");
        assert!(!policy.allow_ipv6);
        let enforcer = self
            .topo
            .sidecar
            .enter(|| Enforcer::attach("eth0", &policy));
        self.enforcer = Some(enforcer.unwrap_or_else(|e| panic!("attach: {e}")));
    }

    fn snapshot(&self) -> FirewallSnapshot {
        self.enforcer
            .as_ref()
            .expect("attached")
            .snapshot()
            .expect("snapshot")
    }

    fn in_sidecar<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.topo.sidecar.enter(f)
    }

    fn assert_transport_passes(&self) {
        let peer_addr = v4(self.topo.peer_ip, self.peer_port);
        // A few tries: the first datagram waits for ARP on a loaded machine.
        let out = (0..5).any(|_| {
            self.transport
                .send_to(b"fips out", peer_addr)
                .expect("send");
            receives(&self.peer, b"fips out", WAIT)
        });
        assert!(out, "the peer did not get the transport's datagram");
        drain(&self.peer);
        self.peer
            .send_to(b"fips in", v4(self.topo.sidecar_ip, self.port))
            .expect("send");
        assert!(
            receives(&self.transport, b"fips in", WAIT),
            "the transport did not get the peer's datagram"
        );
    }

    /// Runs `probe` (which returns whether it got through) without the
    /// filter, then with it, checks the counter of (dir, reason), then that
    /// the transport still passes.
    fn blocked(&mut self, probe: impl Fn(&Sidecar) -> bool, dir: Direction, reason: Reason) {
        self.probe_blocked(probe, dir, reason);
        self.assert_transport_passes();
        let after = self.snapshot();
        assert!(after.packets(Direction::Egress, Reason::Passed) >= 1);
        assert!(after.packets(Direction::Ingress, Reason::Passed) >= 1);
    }

    fn probe_blocked(&mut self, probe: impl Fn(&Sidecar) -> bool, dir: Direction, reason: Reason) {
        assert!(
            probe(self),
            "{reason:?} probe fails even without the filter"
        );
        self.attach();
        let before = self.snapshot().packets(dir, reason);
        assert!(!probe(self), "{reason:?} probe got through the filter");
        let after = self.snapshot();
        assert!(
            after.packets(dir, reason) > before,
            "no {dir:?}/{reason:?} count:\n{}",
            after.render_table()
        );
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if self.enforcer.take().is_some() {
            // The pins live on the host's bpffs, outside the namespace.
            if let Err(e) = self.topo.sidecar.enter(|| enforce::remove("eth0")) {
                eprintln!("removing the test filter: {e}");
            }
        }
    }
}

#[test]
fn transport_socket_traffic_passes_both_ways_and_is_counted() {
    let mut s = Sidecar::new("v1", 71, false);
    s.attach();
    s.assert_transport_passes();
    let snap = s.snapshot();
    assert!(
        snap.packets(Direction::Egress, Reason::Passed) >= 1,
        "{}",
        snap.render_table()
    );
    assert!(
        snap.packets(Direction::Ingress, Reason::Passed) >= 1,
        "{}",
        snap.render_table()
    );
    assert_eq!(snap.udp_port, s.port);
    assert!(snap.attached);
}

#[test]
fn leaves_loopback_untouched() {
    let mut s = Sidecar::new("v11", 70, false);
    s.attach();
    let ok = s.in_sidecar(|| {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("listen on lo");
        let addr = listener.local_addr().expect("addr");
        TcpStream::connect_timeout(&addr, WAIT).is_ok()
    });
    assert!(
        ok,
        "TCP over lo in the sidecar failed with the filter on eth0"
    );
}

#[test]
fn blocks_tcp_connect_from_the_sidecar() {
    let mut s = Sidecar::new("v2", 72, false);
    let peer_ip = s.topo.peer_ip;
    let listener = s
        .topo
        .peer
        .enter(|| TcpListener::bind((peer_ip, 33072)).expect("listen"));
    let probe = |s: &Sidecar| {
        s.in_sidecar(|| TcpStream::connect_timeout(&v4(peer_ip, 33072).into(), WAIT).is_ok())
    };
    s.blocked(probe, Direction::Egress, Reason::NotUdp);
    drop(listener);
}

#[test]
fn blocks_udp_from_another_socket_to_another_port() {
    let mut s = Sidecar::new("v3", 73, false);
    let ip = s.topo.sidecar_ip;
    let other = s.in_sidecar(|| UdpSocket::bind((ip, 0)).expect("bind"));
    let probe = |s: &Sidecar| {
        other
            .send_to(b"leak", v4(s.topo.peer_ip, s.peer_port))
            .expect("send");
        receives(&s.peer, b"leak", WAIT)
    };
    s.blocked(probe, Direction::Egress, Reason::WrongPort);
}

#[test]
fn blocks_udp_arriving_for_another_port() {
    let mut s = Sidecar::new("v4", 74, false);
    let ip = s.topo.sidecar_ip;
    let other = s.in_sidecar(|| UdpSocket::bind((ip, 0)).expect("bind"));
    let other_addr = other.local_addr().expect("addr");
    let probe = |s: &Sidecar| {
        s.peer.send_to(b"in", other_addr).expect("send");
        receives(&other, b"in", WAIT)
    };
    // Dropped by XDP before TC ingress would see it.
    s.blocked(probe, Direction::Xdp, Reason::WrongPort);
}

#[test]
fn blocks_icmp_ping_from_the_sidecar() {
    let mut s = Sidecar::new("v5", 75, false);
    let target = s.topo.peer_ip.to_string();
    let probe = |s: &Sidecar| s.topo.sidecar.exec_ok(&["ping", "-c1", "-W1", &target]);
    s.blocked(probe, Direction::Egress, Reason::NotUdp);
}

#[test]
fn blocks_ipv6_link_local_ping_from_the_sidecar() {
    let mut s = Sidecar::new("v6", 76, false);
    let target = format!("{}%eth0", s.topo.peer.link_local("eth0"));
    let probe = |s: &Sidecar| {
        s.topo
            .sidecar
            .exec_ok(&["ping", "-6", "-c1", "-W1", &target])
    };
    s.blocked(probe, Direction::Egress, Reason::Ipv6);
}

#[test]
fn blocks_a_raw_socket_forging_the_transport_source_port() {
    let mut s = Sidecar::new("v7", 77, false);
    let probe = |s: &Sidecar| {
        let (port, dst, dst_port) = (s.port, s.topo.peer_ip, s.peer_port);
        s.in_sidecar(|| raw_udp_send(port, dst, dst_port, b"forged"));
        receives(&s.peer, b"forged", WAIT)
    };
    s.blocked(probe, Direction::Egress, Reason::ForeignSocket);
}

#[test]
fn blocks_a_second_reuseport_socket_on_the_transport_port() {
    let mut s = Sidecar::new("v8", 78, true);
    let (ip, port) = (s.topo.sidecar_ip, s.port);
    let twin = s.in_sidecar(|| udp_reuseport(ip, port));
    let probe = |s: &Sidecar| {
        twin.send_to(b"twin", v4(s.topo.peer_ip, s.peer_port))
            .expect("send");
        receives(&s.peer, b"twin", WAIT)
    };
    s.probe_blocked(probe, Direction::Egress, Reason::ForeignSocket);
    // Only now: while the twin exists the kernel may hand it the peer's
    // datagrams (SO_REUSEPORT balances them).
    drop(twin);
    s.assert_transport_passes();
}

#[test]
fn blocks_truncated_and_vlan_tagged_frames_in_both_directions() {
    let mut s = Sidecar::new("v9", 79, false);
    s.attach();
    let before = s.snapshot();
    // Broadcast, IPv4 ethertype, 6 bytes of a 20-byte header. Sent from the
    // sidecar itself: a bridge with br_netfilter would drop it on the way in.
    let mut runt = vec![0xff; 6];
    runt.extend_from_slice(&[0x02, 0, 0, 0, 0, 9, 0x08, 0x00, 0x45, 0, 0, 20, 0, 1]);
    let mut tagged = vec![0xff; 6];
    tagged.extend_from_slice(&[0x02, 0, 0, 0, 0, 9]);
    tagged.extend_from_slice(&frames::vlan_tagged(0x8100, frames::ETH_P_IP, &[0x45; 40])[12..]);
    let dropped_on_egress = s.in_sidecar(|| {
        [&runt, &tagged].map(|f| packet_send("eth0", f).map_err(|e| e.raw_os_error()))
    });
    assert_eq!(dropped_on_egress, [Err(Some(libc::ENOBUFS)); 2]);
    s.topo
        .peer
        .enter(|| packet_send("eth0", &tagged))
        .expect("peer sends the tagged frame");
    std::thread::sleep(Duration::from_millis(100));
    let after = s.snapshot();
    for (dir, reason) in [
        (Direction::Egress, Reason::Malformed),
        (Direction::Egress, Reason::Vlan),
    ] {
        assert!(
            after.packets(dir, reason) > before.packets(dir, reason),
            "no {dir:?}/{reason:?}:\n{}",
            after.render_table()
        );
    }
    // On the way in the veth moves the tag into skb metadata, which XDP
    // does not see: it judges the inner frame (here a bogus IPv4 header),
    // and TC ingress drops whatever passes it as vlan.
    let inbound_drops = |s: &FirewallSnapshot| -> u64 {
        s.counters
            .iter()
            .filter(|c| c.verdict == "drop" && c.direction != "egress")
            .map(|c| c.packets)
            .sum()
    };
    assert!(
        inbound_drops(&after) > inbound_drops(&before),
        "the tagged frame was not dropped on the way in:\n{}",
        after.render_table()
    );
}

#[test]
fn reports_drops_as_rate_limited_events() {
    let mut s = Sidecar::new("v10", 80, true);
    s.attach();
    let mut events = s
        .enforcer
        .as_mut()
        .expect("attached")
        .drop_events()
        .expect("drop events");
    let (ip, peer_ip) = (s.topo.sidecar_ip, s.topo.peer_ip);
    // Frames of the transport's shape from another socket pass the
    // netfilter backstop and are dropped, with an event, by TC egress
    // (other shapes the backstop drops first: counted, no event).
    let (port, peer_port) = (s.port, s.peer_port);
    s.in_sidecar(|| raw_udp_send(port, peer_ip, peer_port, b"forged"));
    let forged = std::iter::from_fn(|| events.next()).find(|e| {
        e.direction == Direction::Egress && e.reason == Reason::ForeignSocket && e.protocol == 17
    });
    let forged = forged.expect("no drop event for the forged datagram");
    assert_eq!(forged.src, Some(ip.into()));
    assert_eq!(forged.dst, Some(peer_ip.into()));
    assert_eq!(forged.dst_port, peer_port);
    assert!(
        forged
            .to_string()
            .contains(&format!("{peer_ip}:{peer_port}")),
        "{forged}"
    );

    // A flood yields at most EVENTS_PER_SECOND events per CPU per second
    // (twice that if it straddles a second boundary); the rest is counted.
    let twin = s.in_sidecar(|| udp_reuseport(ip, port));
    for _ in 0..2000 {
        twin.send_to(b"flood", v4(peer_ip, peer_port))
            .expect("send");
    }
    let flood = std::iter::from_fn(|| events.next())
        .filter(|e| e.reason == Reason::ForeignSocket)
        .count();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(flood >= 1, "no event for the flood");
    assert!(
        flood <= 2 * enforce::EVENTS_PER_SECOND as usize * cpus,
        "{flood} events for one flood"
    );
    assert!(s.snapshot().drop_events_suppressed > 0);

    // The same ring, awaited from a tokio runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    std::thread::sleep(Duration::from_millis(1100)); // a fresh budget second
    let event = rt.block_on(async {
        let mut events = enforce::AsyncDropEvents::new(events).expect("register");
        twin.send_to(b"late", v4(peer_ip, s.peer_port))
            .expect("send");
        // Other drops may be reported too: skip them.
        let foreign = async {
            loop {
                let event = events.next().await.expect("read event");
                if event.reason == Reason::ForeignSocket {
                    return event;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(2), foreign).await
    });
    let event = event.expect("no foreign-socket event within 2 s");
    assert_eq!(event.dst_port, s.peer_port);
}

#[test]
fn an_ipv6_transport_passes_its_udp_and_neighbour_discovery_but_not_ping() {
    let topo = SidecarPair::new("v12", 69);
    let (port, peer_port) = (31069, 32069);
    let transport = topo
        .sidecar
        .enter(|| UdpSocket::bind(("::", port)).expect("bind [::]"));
    let peer = topo
        .peer
        .enter(|| UdpSocket::bind(("::", peer_port)).expect("bind [::]"));
    let policy = Policy::for_socket(&transport).expect("policy");
    assert!(policy.allow_ipv6);
    let enforcer = topo
        .sidecar
        .enter(|| Enforcer::attach("eth0", &policy))
        .expect("attach");
    let _remove = RemoveFilterOnDrop(&topo);
    let scope = topo.sidecar.enter(|| netns_ifindex("eth0"));
    let peer_ll: std::net::Ipv6Addr = topo.peer.link_local("eth0").parse().expect("ll");
    let to = std::net::SocketAddrV6::new(peer_ll, peer_port, 0, scope);
    // Neighbour discovery has to pass for the first datagram to leave.
    let out = (0..5).any(|_| {
        transport.send_to(b"fips6", to).expect("send");
        receives(&peer, b"fips6", WAIT)
    });
    assert!(out, "IPv6 transport datagram did not reach the peer");
    let target = format!("{peer_ll}%eth0");
    assert!(!topo.sidecar.exec_ok(&["ping", "-6", "-c1", "-W1", &target]));
    let snap = enforcer.snapshot().expect("snapshot");
    assert!(snap.allow_ipv6);
    for (dir, reason) in [
        (Direction::Egress, Reason::Passed),
        (Direction::Egress, Reason::NdPassed),
        (Direction::Ingress, Reason::NdPassed),
        (Direction::Egress, Reason::NotUdp),
    ] {
        assert!(
            snap.packets(dir, reason) >= 1,
            "no {dir:?}/{reason:?}:\n{}",
            snap.render_table()
        );
    }
}

fn netns_ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: NUL-terminated name.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}
