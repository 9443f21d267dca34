//! The pump between two namespaces with a relay core (TUN packets become
//! datagrams to the other side verbatim, and back): a plain tunnel that
//! the kernel's TCP runs through, exercising every batched path for real.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Core, DataPath, Stats};
use crate::test_netns::{veth_pair, NetNs};
use crate::tun::offload::OffloadTun;
use crate::udp::{AsyncUdpSocket, UdpSocket};

/// Forwards every TUN packet to `peer` and every datagram to the TUN.
struct Relay {
    peer: SocketAddr,
    to_udp: VecDeque<Vec<u8>>,
    to_tun: VecDeque<Vec<u8>>,
}

impl Core for Relay {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, data: &mut [u8]) {
        self.to_tun.push_back(data.to_vec());
    }
    fn handle_tun_packet(&mut self, _now: Instant, packet: &[u8]) {
        self.to_udp.push_back(packet.to_vec());
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let p = self.to_udp.pop_front()?;
        buf.extend_from_slice(&p);
        Some(self.peer)
    }
    fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        match self.to_tun.pop_front() {
            Some(p) => {
                buf.clear();
                buf.extend_from_slice(&p);
                true
            }
            None => false,
        }
    }
}

/// Runs a relay pump in `ns` until `stop`; returns its stats.
fn spawn_end(
    ns: &NetNs,
    local: &str,
    peer: &str,
    tun_addr: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Stats> {
    let (local, peer) = (local.parse().unwrap(), peer.parse().unwrap());
    let (udp, (tun_fd, tun_name)) = ns.enter(|| {
        (
            UdpSocket::bind(local).unwrap(),
            OffloadTun::open("fp-dp0").unwrap(),
        )
    });
    ns.ip(&["addr", "add", tun_addr, "dev", "fp-dp0", "nodad"]);
    ns.ip(&["link", "set", "fp-dp0", "mtu", "1280", "up"]);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tun = OffloadTun::from_fd(tun_fd, tun_name).unwrap();
            let mut dp = DataPath::new(AsyncUdpSocket::new(udp).unwrap(), tun, 1280);
            let mut relay = Relay {
                peer,
                to_udp: VecDeque::new(),
                to_tun: VecDeque::new(),
            };
            while !stop.load(Ordering::Relaxed) {
                let tick = tokio::time::sleep(Duration::from_millis(20));
                tokio::select! {
                    r = dp.ready() => dp.handle(r.unwrap(), &mut relay).await.unwrap(),
                    _ = tick => {}
                }
            }
            dp.stats()
        })
    })
}

#[test]
fn kernel_tcp_crosses_a_batched_tunnel_between_namespaces_intact() {
    let (a, b) = veth_pair("dp", "10.78.0.1/24", "10.78.0.2/24");
    let stop = Arc::new(AtomicBool::new(false));
    let end_a = spawn_end(
        &a,
        "10.78.0.1:7000",
        "10.78.0.2:7000",
        "fdbb::1/64",
        stop.clone(),
    );
    let end_b = spawn_end(
        &b,
        "10.78.0.2:7000",
        "10.78.0.1:7000",
        "fdbb::2/64",
        stop.clone(),
    );
    let listener = b.enter(|| std::net::TcpListener::bind("[fdbb::2]:7001").unwrap());
    let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 253) as u8).collect();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let sent = data.clone();
    a.enter(move || {
        let mut s = std::net::TcpStream::connect_timeout(
            &"[fdbb::2]:7001".parse().unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
        s.write_all(&sent).unwrap();
    });
    let got = server.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (sa, sb) = (end_a.join().unwrap(), end_b.join().unwrap());
    assert!(
        got == data,
        "the stream arrived intact ({} of {} bytes)",
        got.len(),
        data.len()
    );
    // The batching happened: TSO reads split into many packets, datagrams
    // arrived several per receive call, packets left in GSO frames.
    assert!(sa.tun_packets_in > 2 * sa.tun_reads, "TSO on A: {sa:?}");
    assert!(
        sb.udp_datagrams_in > 2 * sb.udp_recv_calls,
        "GRO/recvmmsg on B: {sb:?}"
    );
    assert!(
        sb.tun_packets_out > 2 * sb.tun_writes,
        "coalesced writes on B: {sb:?}"
    );
    assert_eq!(sa.tun_bad_frames + sb.tun_bad_frames, 0);
}
