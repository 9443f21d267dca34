//! Per-packet CPU cost of the protocol core, in ns per frame, next to a raw
//! ring seal of the same size as the baseline.
//!
//! `cargo run --release -p fips-proto --features bench --example core_bench`
//! (`-- --frames N` to change the frames per round, `-- --only ROW` to run
//! one row under a profiler; 5 rounds, the median is printed). Times are
//! this thread's CPU time, so other load on the machine counts less.
//!
//! Three nodes a – b – c run in memory with a virtual clock until the tree
//! has converged and a has an end-to-end session with c. Then, per frame:
//! - ring seal: ChaCha20-Poly1305 over 1244 bytes (a 1280-byte frame's body);
//! - link send: a 1244-byte link message framed, sealed and drained with
//!   `poll_transmit` (a 1280-byte datagram);
//! - link receive: the same frames authenticated and parsed at b;
//! - dataplane send: a 1203-byte IPv6/UDP packet from a's TUN to a datagram;
//! - transit forward: b takes a's datagram and emits it toward c;
//! - dataplane receive: c takes the datagram and yields the TUN packet.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use fips_proto::identity::Identity;
use fips_proto::ipv6::checksum;
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};
use fips_proto::NodeAddr;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

const LINK_MTU: u16 = 1280;
/// Link header 16 + timestamp 4 + tag 16 around the message.
const LINK_MSG_LEN: usize = LINK_MTU as usize - 36;
const ROUNDS: usize = 5;

fn main() {
    let arg = |name: &str| {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let frames = arg("--frames").unwrap_or(20_000);
    // `--only ROW` (0-5) runs one row, for profiling it.
    let only = arg("--only");
    let mut w = World::chain3();
    w.converge();
    let names = [
        "ring seal (baseline)",
        "link send",
        "link receive",
        "dataplane send (TUN -> UDP)",
        "transit forward (UDP -> UDP)",
        "dataplane receive (UDP -> TUN)",
    ];
    // Rounds outermost, so drift on a shared machine hits every row alike.
    let mut rows: Vec<(&str, Vec<f64>)> = names.iter().map(|n| (*n, Vec::new())).collect();
    for round in 0..=ROUNDS {
        let on = |i: usize| only.is_none_or(|o| o == i);
        let r = [
            if on(0) { ring_seal(frames) } else { 0.0 },
            if on(1) {
                link_send(&mut w, frames)
            } else {
                0.0
            },
            if on(2) {
                link_receive(&mut w, frames)
            } else {
                0.0
            },
            if on(3) { dp_send(&mut w, frames) } else { 0.0 },
            if on(4) { transit(&mut w, frames) } else { 0.0 },
            if on(5) {
                dp_receive(&mut w, frames)
            } else {
                0.0
            },
        ];
        // Round 0 warms caches and allocators up.
        if round > 0 {
            for (row, x) in rows.iter_mut().zip(r) {
                row.1.push(x);
            }
        }
    }
    println!("frames per round: {frames}, rounds: {ROUNDS}, link MTU {LINK_MTU}");
    println!("{:<32} {:>10} {:>10}", "path", "ns/frame", "x ring");
    let base = median(&rows[0].1);
    for (name, v) in &rows {
        let m = median(v);
        println!("{name:<32} {m:>10.0} {:>10.2}", m / base);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// This thread's CPU time: unlike the wall clock it does not count time
/// the scheduler gave to other processes on a shared machine.
#[derive(Clone, Copy)]
struct CpuClock(Duration);

impl CpuClock {
    fn now() -> CpuClock {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call's duration.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        CpuClock(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    fn elapsed(self) -> Duration {
        CpuClock::now().0 - self.0
    }
}

fn per_frame(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn ring_seal(n: usize) -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7; 32]).expect("key"));
    let mut buf = vec![0x5a; LINK_MSG_LEN + 4];
    let ad = [0u8; 16];
    let t = CpuClock::now();
    for i in 0..n as u64 {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_le_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad),
                &mut buf,
            )
            .expect("seal");
        let _ = std::hint::black_box(tag);
    }
    per_frame(t.elapsed(), n)
}

/// A SessionDatagram-shaped link message of `LINK_MSG_LEN` bytes.
fn link_message() -> Vec<u8> {
    let mut m = vec![0u8; LINK_MSG_LEN];
    m[1] = 64;
    m
}

fn link_send(w: &mut World, n: usize) -> f64 {
    let (msg, b) = (link_message(), w.addr(1));
    let mut buf = Vec::new();
    let now = w.now;
    let t = CpuClock::now();
    for _ in 0..n {
        assert!(w.nodes[0].bench_link_send(now, &b, &msg));
        let to = w.nodes[0].poll_transmit(&mut buf);
        std::hint::black_box((to, &buf));
    }
    per_frame(t.elapsed(), n)
}

fn link_receive(w: &mut World, n: usize) -> f64 {
    let (msg, b) = (link_message(), w.addr(1));
    let from = World::sock(0);
    batched(
        w,
        n,
        |w| {
            let now = w.now;
            w.nodes[0].bench_link_send(now, &b, &msg);
            let mut buf = Vec::new();
            let _ = w.nodes[0].poll_transmit(&mut buf);
            buf
        },
        |w, f| {
            let now = w.now;
            assert!(w.nodes[1].bench_link_receive(now, from, f));
        },
    )
}

/// Frames to receive are made `BATCH` at a time, just before they are
/// timed, so they are warm in cache as a datagram the kernel just copied
/// out would be (a 20 000-frame backlog would measure memory instead).
const BATCH: usize = 128;

fn batched(
    w: &mut World,
    n: usize,
    mut make: impl FnMut(&mut World) -> Vec<u8>,
    mut take: impl FnMut(&mut World, &mut Vec<u8>),
) -> f64 {
    let mut spent = Duration::ZERO;
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = 0;
    while done < n {
        let k = BATCH.min(n - done);
        batch.clear();
        batch.extend((0..k).map(|_| make(w)));
        let t = CpuClock::now();
        for f in &mut batch {
            take(w, f);
        }
        spent += t.elapsed();
        done += k;
    }
    per_frame(spent, n)
}

fn dp_send(w: &mut World, n: usize) -> f64 {
    let pkt = w.udp_packet(0, 2);
    let mut buf = Vec::new();
    let now = w.now;
    let t = CpuClock::now();
    for _ in 0..n {
        w.nodes[0].handle_tun_packet(now, &pkt);
        while let Some(to) = w.nodes[0].poll_transmit(&mut buf) {
            std::hint::black_box((to, &buf));
        }
    }
    per_frame(t.elapsed(), n)
}

/// One datagram from a's TUN as it leaves a for b.
fn from_a(w: &mut World, pkt: &[u8]) -> Vec<u8> {
    let now = w.now;
    w.nodes[0].handle_tun_packet(now, pkt);
    let mut buf = Vec::new();
    assert_eq!(w.nodes[0].poll_transmit(&mut buf), Some(World::sock(1)));
    buf
}

/// One datagram from a's TUN as b forwards it to c.
fn from_b(w: &mut World, pkt: &[u8]) -> Vec<u8> {
    let mut f = from_a(w, pkt);
    let now = w.now;
    w.nodes[1].handle_datagram(now, World::sock(0), &mut f);
    let mut buf = Vec::new();
    assert_eq!(w.nodes[1].poll_transmit(&mut buf), Some(World::sock(2)));
    buf
}

fn transit(w: &mut World, n: usize) -> f64 {
    let pkt = w.udp_packet(0, 2);
    let mut buf = Vec::new();
    batched(
        w,
        n,
        |w| from_a(w, &pkt),
        |w, f| {
            let now = w.now;
            w.nodes[1].handle_datagram(now, World::sock(0), f);
            while let Some(to) = w.nodes[1].poll_transmit(&mut buf) {
                std::hint::black_box((to, &buf));
            }
        },
    )
}

fn dp_receive(w: &mut World, n: usize) -> f64 {
    let pkt = w.udp_packet(0, 2);
    let mut buf = Vec::new();
    let mut got = 0;
    let per = batched(
        w,
        n,
        |w| from_b(w, &pkt),
        |w, f| {
            let now = w.now;
            w.nodes[2].handle_datagram(now, World::sock(1), f);
            while w.nodes[2].poll_tun(&mut buf) {
                got += 1;
            }
        },
    );
    assert_eq!(got, n, "every datagram reached c's TUN");
    per
}

/// Three nodes in memory: a – b – c, datagrams delivered at once.
struct World {
    nodes: Vec<Node>,
    ids: Vec<Identity>,
    now: Instant,
}

impl World {
    fn sock(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 2121)
    }

    fn chain3() -> World {
        let now = Instant::now();
        let ids: Vec<Identity> = (1..=3u8)
            .map(|i| Identity::from_secret_bytes([i; 32]).expect("identity"))
            .collect();
        let peer = |j: usize| PeerConfig {
            identity: *ids[j].public(),
            alias: None,
            addrs: vec![Self::sock(j)],
            auto_connect: true,
        };
        let dials = [vec![peer(1)], vec![], vec![peer(1)]];
        let nodes = dials
            .into_iter()
            .enumerate()
            .map(|(i, peers)| {
                let cfg = NodeConfig {
                    identity: ids[i].clone(),
                    peers,
                    link_mtu: LINK_MTU,
                    tun_mtu: fips_proto::ipv6::effective_mtu(LINK_MTU),
                    timers: Timers::default(),
                };
                Node::new(cfg, [i as u8 + 9; 32], now, 1_795_600_000_000)
            })
            .collect();
        World { nodes, ids, now }
    }

    fn addr(&self, i: usize) -> NodeAddr {
        self.ids[i].node_addr()
    }

    /// Delivers datagrams until none are left, then runs due timers.
    fn pump(&mut self) {
        let mut buf = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(to) = self.nodes[i].poll_transmit(&mut buf) {
                    let j = usize::from(match to.ip() {
                        IpAddr::V4(v4) => v4.octets()[3],
                        IpAddr::V6(_) => continue,
                    }) - 1;
                    let now = self.now;
                    self.nodes[j].handle_datagram(now, Self::sock(i), &mut buf);
                    moved = true;
                }
                while self.nodes[i].poll_tun(&mut buf) {}
                while self.nodes[i].poll_event().is_some() {}
            }
            if !moved {
                return;
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.pump();
            self.now += Duration::from_millis(10);
            let now = self.now;
            for n in &mut self.nodes {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
        }
        self.pump();
    }

    /// Links up, tree converged, filters exchanged, a–c session established.
    fn converge(&mut self) {
        self.run(Duration::from_secs(5));
        let c = *self.ids[2].public();
        let now = self.now;
        self.nodes[0].learn_identity(now, c);
        let pkt = self.udp_packet(0, 2);
        for _ in 0..10 {
            let now = self.now;
            self.nodes[0].handle_tun_packet(now, &pkt);
            self.run(Duration::from_millis(200));
        }
        let dp = self.nodes[0].dataplane().expect("dataplane");
        assert!(dp.is_established(&self.addr(2)), "a–c session is up");
        // Past the coordinate warm-up: steady-state Data frames only.
        for _ in 0..64 {
            let now = self.now;
            self.nodes[0].handle_tun_packet(now, &pkt);
            self.pump();
        }
    }

    /// A full-size (TUN MTU) IPv6/UDP packet from node `s` to node `d`.
    fn udp_packet(&self, s: usize, d: usize) -> Vec<u8> {
        let (src, dst) = (self.addr(s).ipv6().octets(), self.addr(d).ipv6().octets());
        let total = usize::from(fips_proto::ipv6::effective_mtu(LINK_MTU));
        let mut udp = vec![0u8; total - 40];
        let len = udp.len() as u16;
        udp[0..2].copy_from_slice(&4000u16.to_be_bytes());
        udp[2..4].copy_from_slice(&5000u16.to_be_bytes());
        udp[4..6].copy_from_slice(&len.to_be_bytes());
        let sum = checksum::upper_layer(&src, &dst, 17, &udp);
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&udp);
        p
    }
}
