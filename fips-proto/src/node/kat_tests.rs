//! The node's handshakes against the reference known-answer transcript
//! (kat.json `fmp_ik`, A → B with fixed ephemerals, epochs and indices): a
//! scripted RNG makes our node draw exactly those values.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rand_chacha::rand_core::{Error, RngCore};

use crate::identity::Identity;
use crate::noise::RecvKey;

use super::{Node, NodeConfig, PeerConfig, Timers};

const KAT: &str = include_str!("../../../testdata/kat.json");

fn kat(field: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(KAT).expect("kat.json");
    hex::decode(v["fmp_ik"][field].as_str().expect(field)).expect("hex")
}

fn identity(name: &str) -> Identity {
    let v: serde_json::Value = serde_json::from_str(KAT).expect("kat.json");
    let hex = v["identities"][name]["nsec_hex"]
        .as_str()
        .expect("nsec_hex");
    Identity::from_secret_str(hex).expect("identity")
}

/// Hands out scripted bytes, then a fixed filler.
struct Scripted(VecDeque<u8>);

impl Scripted {
    fn new(parts: &[&[u8]]) -> Box<Self> {
        Box::new(Scripted(
            parts.iter().flat_map(|p| p.iter().copied()).collect(),
        ))
    }
}

impl RngCore for Scripted {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.0.pop_front().unwrap_or(0x5a);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

fn config(identity: Identity, peers: Vec<PeerConfig>) -> NodeConfig {
    NodeConfig {
        identity,
        peers,
        link_mtu: 1280,
        tun_mtu: 1203,
        timers: Timers::default(),
    }
}

const A_ADDR: &str = "10.200.0.1:2121";
const B_ADDR: &str = "10.200.0.2:2121";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// The randomness the transcript's `role` drew: its epoch, ephemeral
/// secret and sender index.
fn role_rng(role: &str) -> Box<Scripted> {
    Scripted::new(&[
        &kat(&format!("{role}_epoch")),
        &kat(&format!("{role}_ephemeral_secret")),
        &kat(&format!("{role}_sender_idx_wire")),
    ])
}

#[test]
fn responder_answers_the_reference_msg1_with_the_kat_msg2() {
    let now = Instant::now();
    let rng = role_rng("responder");
    let mut b = Node::with_rng(config(identity("B"), vec![]), rng, now, 0);
    let mut msg1 = kat("msg1_wire");
    b.handle_datagram(now, addr(A_ADDR), &mut msg1);
    let mut out = Vec::new();
    assert_eq!(b.poll_transmit(&mut out), Some(addr(A_ADDR)));
    assert_eq!(hex::encode(&out), hex::encode(kat("msg2_wire")));
    // The initiator's first transport frame from the transcript authenticates.
    let mut frame = kat("first_frame_initiator_heartbeat_ctr0_ts100");
    b.handle_datagram(now, addr(A_ADDR), &mut frame);
    let c = b.counters();
    assert_eq!(
        c.decrypt_failed + c.unknown_index + c.malformed_inner,
        0,
        "{c:?}"
    );
    assert_eq!(b.snapshot(now).peers.peers[0].stats.packets_recv, 1);
}

#[test]
fn initiator_sends_the_kat_msg1_and_derives_the_kat_keys() {
    let now = Instant::now();
    let rng = role_rng("initiator");
    let b = PeerConfig {
        identity: *identity("B").public(),
        alias: None,
        addrs: vec![addr(B_ADDR)],
        auto_connect: true,
    };
    let mut a = Node::with_rng(config(identity("A"), vec![b]), rng, now, 0);
    let mut out = Vec::new();
    assert_eq!(a.poll_transmit(&mut out), Some(addr(B_ADDR)));
    assert_eq!(hex::encode(&out), hex::encode(kat("msg1_wire")));
    let mut msg2 = kat("msg2_wire");
    a.handle_datagram(now, addr(B_ADDR), &mut msg2);
    assert_eq!(a.peer_addrs(), vec![identity("B").node_addr()]);
    // A's first frame (its TreeAnnounce) opens with the transcript's k1.
    assert_eq!(a.poll_transmit(&mut out), Some(addr(B_ADDR)));
    let k1: [u8; 32] = kat("k1_initiator_to_responder")
        .try_into()
        .expect("32 bytes");
    let (ad, ct) = out.split_at_mut(16);
    assert_eq!(&ad[4..8], &kat("responder_sender_idx_wire")[..]);
    let plain = RecvKey::from_bytes(&k1)
        .open(0, ad, ct)
        .expect("k1 opens A's frame");
    assert_eq!(plain[4], crate::wire::link::TREE_ANNOUNCE);
}
