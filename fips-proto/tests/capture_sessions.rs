//! Our dataplane in the Python probe's place in real captures with
//! reference v0.4.1 nodes B (the probe's only link) and C (two hops away).
//! Fed the link messages the probe received, with the probe's ephemeral
//! key and epoch, our Dataplane must send byte for byte the handshake
//! messages the reference accepted, and deliver what C sent to the TUN.
//!
//! - passive (probe-passive-responder-decryptable.pcap): C looks D up, opens
//!   an XK session to it and pings it; D is the responder.
//! - active (probe-D-B-decryptable.pcap): D looks C up, opens the session
//!   and pings; C answers, and later starts an FSP rekey.

mod support;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use fips_proto::identity::{Identity, PeerIdentity};
use fips_proto::noise::RecvKey;
use fips_proto::routing::{Cx, MeshView, Outbox, PeerInfo};
use fips_proto::session::{Dataplane, DataplaneConfig};
use fips_proto::wire::link::{LookupRequest, LookupResponse};
use fips_proto::NodeAddr;
use rand_core::RngCore;
use serde_json::Value;
use support::pcap::{read_udp, split_fmp_frames};
use support::{hex_arr, test_secret, testdata};

const PASSIVE_PROBE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 200, 0, 1), 2121);
const ACTIVE_PROBE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 200, 0, 1), 2122);

/// D with B as its only peer and parent; B's filter holds the whole mesh.
struct ProbeView {
    id: Identity,
    coords: Vec<NodeAddr>,
    b: NodeAddr,
    b_coords: Vec<NodeAddr>,
}

/// The probe's random bytes: one scripted block per draw, cycled to length.
struct ProbeRng(VecDeque<[u8; 32]>);

/// The dataplane's surroundings: the view, the scripted randomness, and
/// what it sent (all to B).
struct ProbeSeat {
    view: ProbeView,
    rng: ProbeRng,
    out: Outbox,
    sent: Vec<Vec<u8>>,
}

impl ProbeSeat {
    fn new(view: ProbeView, random: VecDeque<[u8; 32]>) -> Self {
        ProbeSeat {
            view,
            rng: ProbeRng(random),
            out: Outbox::default(),
            sent: Vec::new(),
        }
    }

    fn cx(&mut self) -> Cx<'_, ProbeView> {
        Cx {
            mesh: &self.view,
            rng: &mut self.rng,
            out: &mut self.out,
        }
    }

    /// Everything sent so far, in order.
    fn sent(&mut self) -> &mut Vec<Vec<u8>> {
        while let Some((peer, msg)) = self.out.poll() {
            assert_eq!(peer, self.view.b, "D's only link is to B");
            self.sent.push(msg.to_vec());
        }
        &mut self.sent
    }
}

impl MeshView for ProbeView {
    fn identity(&self) -> &Identity {
        &self.id
    }
    fn my_coords(&self) -> &[NodeAddr] {
        &self.coords
    }
    fn peers_for(&self, _target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>> {
        std::iter::once(PeerInfo {
            addr: self.b,
            is_tree_peer: true,
            may_reach: true,
            coords: Some(&self.b_coords[..]),
            link_mtu: 1280,
            link_cost: 1.0,
            silent: false,
        })
    }
    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        self.peers_for(target).find(|p| p.addr == *addr)
    }
    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        (*peer == self.b).then_some(1280)
    }
}

impl RngCore for ProbeRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, out: &mut [u8]) {
        let block = self.0.pop_front().unwrap_or([0x5a; 32]);
        for (o, b) in out.iter_mut().zip(block.iter().cycle()) {
            *o = *b;
        }
    }
    fn try_fill_bytes(&mut self, out: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(out);
        Ok(())
    }
}

/// The link messages of a capture, decrypted: (from B, message bytes).
fn link_messages(file: &str, probe: SocketAddrV4, keys: &Value) -> Vec<(bool, Vec<u8>)> {
    let k_in = RecvKey::from_bytes(&hex_arr(keys["k_recv_B_to_D"].as_str().expect("key")));
    let k_out = RecvKey::from_bytes(&hex_arr(keys["k_send_D_to_B"].as_str().expect("key")));
    let mut out = Vec::new();
    for d in read_udp(&testdata(file)).expect("capture reads") {
        for frame in split_fmp_frames(&d.payload).expect("frames split") {
            if frame[0] != 0 {
                continue; // handshakes (and ignored rekey msg1s)
            }
            let from_b = d.dst == probe;
            let key = if from_b { &k_in } else { &k_out };
            let counter = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
            let mut body = frame[16..].to_vec();
            let plain = key
                .open(counter, &frame[..16], &mut body)
                .expect("frame decrypts");
            out.push((from_b, plain[4..].to_vec()));
        }
    }
    out
}

/// The link messages the probe sent (not those B sent it), in order.
fn sent_by_probe(messages: &[(bool, Vec<u8>)]) -> Vec<&Vec<u8>> {
    messages
        .iter()
        .filter(|(from_b, _)| !from_b)
        .map(|(_, m)| m)
        .collect()
}

/// The keys and samples of the probe's result file `name` in
/// testdata/captures.
fn probe_keys(name: &str) -> Value {
    let text = std::fs::read_to_string(testdata(&format!("captures/{name}"))).expect("json");
    let json: Value = serde_json::from_str(&text).expect("parses");
    json["keys_and_samples"].clone()
}

#[test]
fn our_dataplane_answers_reference_c_exactly_as_the_probe_did() {
    let keys = &probe_keys("probe-result-passive.json");
    let [d, c, b] =
        ["d", "c", "b"].map(|n| Identity::from_secret_str(&test_secret(n)).expect("key"));
    let (da, ca, ba) = (d.node_addr(), c.node_addr(), b.node_addr());
    let view = ProbeView {
        id: d,
        coords: vec![da, ba],
        b: ba,
        b_coords: vec![ba],
    };
    let random = VecDeque::from([
        [0; 32],
        hex_arr(keys["fsp"]["D_ephemeral_secret"].as_str().expect("eph")),
    ]);
    let mut seat = ProbeSeat::new(view, random);
    let cfg = DataplaneConfig {
        epoch: hex_arr(keys["fmp"]["D_epoch"].as_str().expect("epoch")),
        ..DataplaneConfig::default()
    };
    let mut dp = Dataplane::new(cfg, da);
    let messages = link_messages(
        "captures/probe-passive-responder-decryptable.pcap",
        PASSIVE_PROBE,
        &keys["fmp"],
    );
    let probe_sent = sent_by_probe(&messages);
    let probe_response = probe_sent
        .iter()
        .find(|m| m[0] == 0x31)
        .expect("probe answered the lookup");
    let probe_ack = probe_sent
        .iter()
        .find(|m| m[0] == 0x00 && m[36] == 0x02)
        .expect("probe sent a SessionAck");

    let mut now = Instant::now();
    let mut tun = Vec::new();
    let mut buf = Vec::new();
    for (_, msg) in messages.iter().filter(|(from_b, _)| *from_b) {
        now += Duration::from_millis(10);
        match msg[0] {
            0x30 => {
                dp.handle_lookup_request(
                    now,
                    ba,
                    LookupRequest::parse(msg).expect("request"),
                    &mut seat.cx(),
                );
                let ours =
                    LookupResponse::parse(seat.sent().last().expect("answered")).expect("ours");
                let theirs = LookupResponse::parse(probe_response).expect("probe's");
                assert_eq!(
                    (
                        ours.request_id,
                        ours.target,
                        ours.path_mtu,
                        &ours.target_coords
                    ),
                    (
                        theirs.request_id,
                        theirs.target,
                        theirs.path_mtu,
                        &theirs.target_coords
                    )
                );
                assert!(seat
                    .view
                    .id
                    .public()
                    .verify(&ours.proof_bytes(), &ours.proof));
            }
            0x00 => {
                let mut m = msg.clone();
                let before = seat.sent().len();
                dp.handle_session_datagram(now, ba, &mut m, &mut seat.cx());
                if msg[36] == 0x01 {
                    assert_eq!(seat.sent().len(), before + 1, "one SessionAck");
                    assert_eq!(
                        &seat.sent()[before],
                        *probe_ack,
                        "the Ack reference C accepted, byte for byte"
                    );
                }
            }
            _ => {}
        }
        while dp.poll_tun(&mut buf) {
            tun.push(buf.clone());
        }
    }
    assert!(
        dp.is_established(&ca),
        "the reference's msg3 completed our responder"
    );
    assert!(
        tun.len() >= 15,
        "every echo request reached the TUN: {}",
        tun.len()
    );
    for p in &tun {
        assert_eq!((p[6], p[40]), (58, 128), "ICMPv6 echo request");
        assert_eq!(&p[8..24], &ca.ipv6().octets());
        assert_eq!(&p[24..40], &da.ipv6().octets());
    }
    let counters = dp.counters();
    assert_eq!(
        (counters.decrypt_failed, counters.malformed),
        (0, 0),
        "{counters:?}"
    );
}

#[test]
fn our_dataplane_opens_a_session_to_reference_c_exactly_as_the_probe_did() {
    let keys = &probe_keys("probe-result.json");
    let [d, c, b, a] =
        ["d", "c", "b", "a"].map(|n| Identity::from_secret_str(&test_secret(n)).expect("key"));
    let (da, ca, ba, aa) = (d.node_addr(), c.node_addr(), b.node_addr(), a.node_addr());
    let eph = hex_arr(keys["fsp"]["D_ephemeral_secret"].as_str().expect("eph"));
    let view = ProbeView {
        id: d,
        coords: vec![da, ba, aa],
        b: ba,
        b_coords: vec![ba, aa],
    };
    let mut seat = ProbeSeat::new(view, VecDeque::from([[0; 32], eph]));
    let cfg = DataplaneConfig {
        epoch: hex_arr(keys["fmp"]["D_epoch"].as_str().expect("epoch")),
        ..DataplaneConfig::default()
    };
    let mut dp = Dataplane::new(cfg, da);
    // What DNS would give: C's key from its npub (parity unknown).
    dp.learn_identity(
        Instant::now(),
        PeerIdentity::from_npub(&c.public().npub()).expect("npub"),
    );
    let messages = link_messages(
        "captures/probe-D-B-decryptable.pcap",
        ACTIVE_PROBE,
        &keys["fmp"],
    );
    let probe_sent = sent_by_probe(&messages);
    let probe_fsp = |phase: u8| {
        probe_sent
            .iter()
            .find(|m| m[0] == 0x00 && m[36] == phase)
            .map(|m| m.to_vec())
            .expect("probe sent it")
    };

    let mut now = Instant::now();
    dp.handle_tun_packet(now, &echo_request(da, ca), &mut seat.cx());
    assert_eq!(
        seat.sent().pop().map(|m| m[0]),
        Some(0x30),
        "a lookup for C went to B"
    );
    let mut replies = 0;
    let mut buf = Vec::new();
    for (_, msg) in messages.iter().filter(|(from_b, _)| *from_b) {
        now += Duration::from_millis(10);
        let before = seat.sent().len();
        match msg[0] {
            0x31 => {
                let resp = LookupResponse::parse(msg).expect("response");
                dp.handle_lookup_response(now, ba, resp, &mut seat.cx());
                assert_eq!(
                    seat.sent().get(before),
                    Some(&probe_fsp(0x01)),
                    "our SessionSetup is the probe's"
                );
            }
            0x00 => {
                let mut m = msg.clone();
                dp.handle_session_datagram(now, ba, &mut m, &mut seat.cx());
                if msg[36] == 0x02 {
                    assert_eq!(
                        seat.sent().get(before),
                        Some(&probe_fsp(0x03)),
                        "our msg3 is the probe's"
                    );
                }
            }
            _ => {}
        }
        while dp.poll_tun(&mut buf) {
            assert_eq!(
                (buf[40], &buf[8..24]),
                (129, &ca.ipv6().octets()[..]),
                "echo reply from C"
            );
            replies += 1;
        }
    }
    assert!(dp.is_established(&ca));
    assert!(
        replies >= 90,
        "C's replies to the probe's pings all decrypt: {replies}"
    );
    let counters = dp.counters();
    assert_eq!(
        (counters.decrypt_failed, counters.malformed),
        (0, 0),
        "{counters:?}"
    );
    assert_eq!(counters.acks_sent, 1, "C's rekey Setup was answered");
}

fn echo_request(src: NodeAddr, dst: NodeAddr) -> Vec<u8> {
    let (s, d) = (src.ipv6().octets(), dst.ipv6().octets());
    let mut p = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    p.extend_from_slice(&s);
    p.extend_from_slice(&d);
    p.extend_from_slice(&[128, 0, 0, 0, 0x42, 0x42, 0, 1]);
    p
}
