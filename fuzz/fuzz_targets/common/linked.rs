//! Shared by the fuzz targets that need a live link (node_datagram,
//! control_request): node A (key 0xa1..) dials node B (key 0xb1..) and the
//! IK handshake completes in memory, no sockets.

// Each target uses a part of this fixture.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Instant;

use fips_proto::identity::Identity;
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};

pub const A_SECRET: [u8; 32] = [0xa1; 32];
pub const B_SECRET: [u8; 32] = [0xb1; 32];

/// A and B with their link up, as A sees it: the nodes, their addresses,
/// and the sender index B chose in msg2 (for steering frames onto B's live
/// receiver index).
pub struct Linked {
    pub a: Node,
    pub b: Node,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    pub b_index: [u8; 4],
}

pub fn linked(now: Instant) -> Linked {
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (
        "10.0.0.1:2121".parse().expect("lit"),
        "10.0.0.2:2121".parse().expect("lit"),
    );
    let b_id = Identity::from_secret_bytes(B_SECRET).expect("valid key");
    let peer_b = PeerConfig {
        identity: *b_id.public(),
        alias: None,
        addrs: vec![b_addr],
        auto_connect: true,
    };
    let mut a = node(A_SECRET, vec![peer_b], 1, now);
    let mut b = node(B_SECRET, vec![], 2, now);
    let mut msg = Vec::new();
    let _ = a.poll_transmit(&mut msg);
    b.handle_datagram(now, a_addr, &mut msg);
    let _ = b.poll_transmit(&mut msg);
    let b_index: [u8; 4] = msg[4..8].try_into().expect("msg2 sender index");
    a.handle_datagram(now, b_addr, &mut msg);
    Linked { a, b, a_addr, b_addr, b_index }
}

pub fn node(secret: [u8; 32], peers: Vec<PeerConfig>, seed: u8, now: Instant) -> Node {
    let identity = Identity::from_secret_bytes(secret).expect("valid key");
    let cfg = NodeConfig { identity, peers, link_mtu: 1280, tun_mtu: 1203, timers: Timers::default() };
    Node::new(cfg, [seed; 32], now, 1_795_600_000_000)
}
