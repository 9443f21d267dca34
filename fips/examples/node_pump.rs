//! Benchmark (not a test): the protocol core's CPU per packet, no I/O.
//! Three `Node`s in a chain A - B - C exchange datagrams in memory; after
//! the links and the A->C session are up, TCP-sized IPv6 packets go from
//! A's TUN side to C's, and the time each node spends on them is
//! measured: source (A), transit (B), destination (C).
//!
//!   cargo run --release -p fips --example node_pump [packets]

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use fips_proto::identity::Identity;
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};

const NSEC: [&str; 3] = [
    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
    "b102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fb0",
    "c102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fc0",
];

struct Mesh {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    /// CPU time spent in each node's handle_* calls.
    busy: Vec<Duration>,
    delivered: Vec<usize>,
}

impl Mesh {
    fn new() -> anyhow::Result<Mesh> {
        let ids: Vec<Identity> = NSEC
            .iter()
            .map(|s| Identity::from_secret_str(s))
            .collect::<Result<_, _>>()?;
        let addrs: Vec<SocketAddr> = (1..=3)
            .map(|i| SocketAddr::from(([10, 0, 0, i], 2121)))
            .collect();
        let b = *ids[1].public();
        let peer_b = PeerConfig {
            identity: b,
            alias: Some("b".into()),
            addrs: vec![addrs[1]],
            auto_connect: true,
        };
        let now = Instant::now();
        let nodes = ids
            .into_iter()
            .enumerate()
            .map(|(i, identity)| {
                let peers = if i == 1 { vec![] } else { vec![peer_b.clone()] };
                let config = NodeConfig {
                    identity,
                    peers,
                    link_mtu: 1280,
                    tun_mtu: 1280,
                    timers: Timers::default(),
                };
                Node::new(config, [i as u8 + 1; 32], now, 1_764_000_000_000)
            })
            .collect();
        Ok(Mesh {
            nodes,
            addrs,
            busy: vec![Duration::ZERO; 3],
            delivered: vec![0; 3],
        })
    }

    /// Delivers every queued datagram (and what it causes) until quiet;
    /// counts packets each node hands to its TUN.
    fn settle(&mut self, timers: bool) {
        let mut buf = Vec::with_capacity(2048);
        let mut wire: VecDeque<(usize, SocketAddr, Vec<u8>)> = VecDeque::new();
        loop {
            for i in 0..3 {
                let now = Instant::now();
                if timers && self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].handle_timeout(now);
                }
                while let Some(to) = self.nodes[i].poll_transmit(&mut buf) {
                    if let Some(j) = self.addrs.iter().position(|a| *a == to) {
                        wire.push_back((j, self.addrs[i], buf.clone()));
                    }
                }
                while self.nodes[i].poll_tun(&mut buf) {
                    self.delivered[i] += 1;
                }
                while self.nodes[i].poll_event().is_some() {}
            }
            if wire.is_empty() {
                return;
            }
            while let Some((j, from, mut data)) = wire.pop_front() {
                let t = Instant::now();
                self.nodes[j].handle_datagram(t, from, &mut data);
                self.busy[j] += t.elapsed();
            }
        }
    }

    fn ipv6(&self, i: usize) -> Ipv6Addr {
        self.nodes[i].node_addr().ipv6()
    }
}

/// An IPv6 TCP segment (ACK, `payload` bytes) from `src` to `dst`.
fn tcp_packet(src: Ipv6Addr, dst: Ipv6Addr, seq: u32, payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 60 + payload];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&40000u16.to_be_bytes());
    p[42..44].copy_from_slice(&5201u16.to_be_bytes());
    p[44..48].copy_from_slice(&seq.to_be_bytes());
    p[52] = 5 << 4;
    p[53] = 0x10;
    p
}

fn main() -> anyhow::Result<()> {
    let packets: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let mut mesh = Mesh::new()?;
    let c_identity = Identity::from_secret_str(NSEC[2])?;
    mesh.nodes[0].learn_identity(*c_identity.public());
    let (a, c) = (mesh.ipv6(0), mesh.ipv6(2));
    // Links, tree, then the session: poke until C receives.
    let start = Instant::now();
    while mesh.delivered[2] == 0 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(20),
            "no A->C path after 20 s"
        );
        mesh.settle(true);
        let t = Instant::now();
        mesh.nodes[0].handle_tun_packet(t, &tcp_packet(a, c, 0, 100));
        mesh.settle(true);
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("A->C path up after {:.2} s", start.elapsed().as_secs_f64());
    mesh.busy = vec![Duration::ZERO; 3];
    mesh.delivered = vec![0; 3];
    let payload = 1280 - 60 - 77; // what the MSS clamp leaves (reference: MTU 1203)
    let pkt = tcp_packet(a, c, 1, payload);
    let wall = Instant::now();
    for n in 0..packets {
        let t = Instant::now();
        mesh.nodes[0].handle_tun_packet(t, &pkt);
        mesh.busy[0] += t.elapsed();
        if n % 32 == 31 {
            mesh.settle(false);
        }
    }
    mesh.settle(false);
    let wall = wall.elapsed();
    let per = |i: usize| mesh.busy[i].as_secs_f64() * 1e6 / packets as f64;
    println!(
        "{packets} packets of {} bytes: {} delivered at C",
        pkt.len(),
        mesh.delivered[2]
    );
    println!(
        "us per packet: source A {:.2}, transit B {:.2}, destination C {:.2} (wall {:.2} incl. copies)",
        per(0),
        per(1),
        per(2),
        wall.as_secs_f64() * 1e6 / packets as f64
    );
    let mbit = |us: f64| pkt.len() as f64 * 8.0 / us;
    println!(
        "one core each could carry: A {:.0}, B {:.0}, C {:.0} Mbit/s",
        mbit(per(0)),
        mbit(per(1)),
        mbit(per(2))
    );
    Ok(())
}
