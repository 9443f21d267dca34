//! The node's whole receive path: a responder with one established link gets
//! arbitrary datagrams. Established frames are steered onto the live
//! receiver index so replay, AEAD and dispatch run, not just the index miss.
//! Nothing may panic; the link survives unless 20 frames in a row failed
//! authentication (the reference's eviction rule).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fips_proto::identity::Identity;
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};
use libfuzzer_sys::fuzz_target;

fn node(secret: [u8; 32], peers: Vec<PeerConfig>, seed: u8, now: Instant) -> Node {
    let identity = Identity::from_secret_bytes(secret).expect("valid key");
    let cfg = NodeConfig { identity, peers, link_mtu: 1280, tun_mtu: 1203, timers: Timers::default() };
    Node::new(cfg, [seed; 32], now, 1_795_600_000_000)
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let (a_addr, b_addr): (SocketAddr, SocketAddr) =
        ("10.0.0.1:2121".parse().unwrap(), "10.0.0.2:2121".parse().unwrap());
    let b_id = Identity::from_secret_bytes([0xb1; 32]).expect("valid key");
    let peer_b = PeerConfig {
        identity: *b_id.public(),
        alias: None,
        addrs: vec![b_addr],
        auto_connect: true,
    };
    let mut a = node([0xa1; 32], vec![peer_b], 1, now);
    let mut b = node([0xb1; 32], vec![], 2, now);
    let mut msg = Vec::new();
    let _ = a.poll_transmit(&mut msg);
    b.handle_datagram(now, a_addr, &mut msg);
    let _ = b.poll_transmit(&mut msg);
    let b_index: [u8; 4] = msg[4..8].try_into().expect("msg2 sender index");
    a.handle_datagram(now, b_addr, &mut msg);

    // Each chunk between 0xff bytes is one datagram, 10 ms apart.
    let mut t = now;
    for chunk in data.split(|x| *x == 0xff) {
        let mut d = chunk.to_vec();
        if d.len() >= 8 && d[0] == 0x00 {
            d[4..8].copy_from_slice(&b_index);
        }
        t += Duration::from_millis(10);
        b.handle_datagram(t, a_addr, &mut d);
        b.handle_timeout(t);
        while b.poll_transmit(&mut msg).is_some() {}
    }
    assert!(b.peer_addrs().len() == 1 || b.counters().decrypt_failed >= 20);
});
