use std::time::{Duration, Instant};

use super::*;
use crate::addr::NodeAddr;
use crate::identity::Identity;
use crate::ipv6::icmp;
use crate::routing::testmesh::{kat_hex, kat_identity, TestMesh, TestPeer};
use crate::wire::lookup::{LookupRequest, LookupResponse};
use crate::wire::Coords;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(epoch: &str) -> DataplaneConfig {
    DataplaneConfig {
        epoch: hex::decode(epoch)
            .expect("hex")
            .try_into()
            .expect("8 bytes"),
        ..DataplaneConfig::default()
    }
}

/// An ICMPv6 echo request (or reply) between two nodes, checksummed; its
/// ICMP part is `len` bytes (at least the 8-byte header).
fn echo(src: NodeAddr, dst: NodeAddr, typ: u8, seq: u16, len: usize) -> Vec<u8> {
    let (s, d) = (src.ipv6().octets(), dst.ipv6().octets());
    let body = vec![0x61; len.max(8) - 8];
    crate::ipv6::icmp::echo(typ, &s, &d, 0x4242, seq, &body)
}

fn drain_tun(dp: &mut Dataplane) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while dp.poll_tun(&mut buf) {
        out.push(buf.clone());
    }
    out
}

/// Feeds every link message `mesh` sent to `dp` as if it crossed a link.
fn deliver(
    now: Instant,
    from: NodeAddr,
    sent: Vec<(NodeAddr, Vec<u8>)>,
    dp: &mut Dataplane,
    mesh: &mut TestMesh,
) {
    for (_, mut m) in sent {
        match m[0] {
            0x00 => dp.handle_session_datagram(now, from, &mut m, &mut mesh.cx()),
            0x30 => dp.handle_lookup_request(
                now,
                from,
                LookupRequest::parse(&m).expect("req"),
                &mut mesh.cx(),
            ),
            0x31 => dp.handle_lookup_response(
                now,
                from,
                LookupResponse::parse(&m).expect("resp"),
                &mut mesh.cx(),
            ),
            t => panic!("unexpected link message {t:#x}"),
        }
    }
}

struct Node {
    dp: Dataplane,
    mesh: TestMesh,
}

impl Node {
    fn addr(&self) -> NodeAddr {
        self.dp.me
    }

    fn public(&self) -> crate::identity::PeerIdentity {
        *self.mesh.view.identity.public()
    }

    /// A packet from this node's TUN.
    fn tun(&mut self, now: Instant, packet: &[u8]) {
        self.dp.handle_tun_packet(now, packet, &mut self.mesh.cx());
    }

    /// An 8-byte ICMPv6 echo of type `typ` from this node's TUN to `to`.
    fn echo_to(&mut self, now: Instant, to: NodeAddr, typ: u8, seq: u16) {
        self.tun(now, &echo(self.addr(), to, typ, seq, 8));
    }

    /// A SessionDatagram from the link to `from`.
    fn receive(&mut self, now: Instant, from: NodeAddr, msg: &mut [u8]) {
        self.dp
            .handle_session_datagram(now, from, msg, &mut self.mesh.cx());
    }

    fn fire(&mut self, now: Instant) {
        self.dp.handle_timeout(now, &mut self.mesh.cx());
    }

    fn open(&mut self, now: Instant, to: NodeAddr, peer: crate::identity::PeerIdentity) {
        self.dp.open_session(now, &mut self.mesh.cx(), to, peer);
    }

    /// Opens a session to `to` and returns the SessionSetup it sent.
    fn setup_to(&mut self, now: Instant, to: &Node) -> Vec<u8> {
        self.open(now, to.addr(), to.public());
        self.mesh.take_sent().pop().expect("setup").1
    }

    /// This node's dataplane restarts: a fresh one with no session, that
    /// knows `peer`'s key.
    fn restart(&mut self, now: Instant, peer: &Node) {
        self.dp = Dataplane::new(cfg("c1c2c3c4c5c6c7c8"), self.addr());
        self.dp.learn_identity(now, peer.public());
    }
}

/// Fires the timers of `x` and `y` that are due at `now`.
fn fire_due(now: Instant, x: &mut Node, y: &mut Node) {
    for n in [x, y] {
        if n.dp.poll_timeout().is_some_and(|w| w <= now) {
            n.fire(now);
        }
    }
}

/// Two direct neighbours, each the other's only peer.
fn pair(a: Identity, b: Identity) -> (Node, Node) {
    let (aa, ba) = (a.node_addr(), b.node_addr());
    let root = aa.min(ba);
    let coords = |x: NodeAddr| if x == root { vec![x] } else { vec![x, root] };
    let mut na = Node {
        dp: Dataplane::new(cfg("a1a2a3a4a5a6a7a8"), aa),
        mesh: TestMesh::new(a, coords(aa), vec![TestPeer::new(ba, coords(ba))]),
    };
    let mut nb = Node {
        dp: Dataplane::new(cfg("b1b2b3b4b5b6b7b8"), ba),
        mesh: TestMesh::new(b, coords(ba), vec![TestPeer::new(aa, coords(aa))]),
    };
    let learned = Instant::now();
    na.dp.learn_identity(learned, nb.public());
    nb.dp.learn_identity(learned, na.public());
    (na, nb)
}

/// `pair` A-C with a session up: x's first echo crossed at `t0`.
fn connected(t0: Instant) -> (Node, Node) {
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    echo_settled(t0, &mut x, &mut y, 128, 0);
    (x, y)
}

/// `connected`, with rekeys an hour away: only liveness timers fire.
fn connected_without_rekey(t0: Instant) -> (Node, Node) {
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    for n in [&mut x, &mut y] {
        n.dp.cfg.rekey_after = Duration::from_secs(3600);
    }
    echo_settled(t0, &mut x, &mut y, 128, 0);
    (x, y)
}

/// `from` echoes `to` (an 8-byte ICMPv6 echo of type `typ`), and the
/// messages settle.
fn echo_settled(t: Instant, from: &mut Node, to: &mut Node, typ: u8, seq: u16) {
    from.echo_to(t, to.addr(), typ, seq);
    settle(t, from, to);
}

/// Lets `secs` seconds pass one at a time, firing due timers and moving
/// messages each second; the time at the end.
fn idle(mut t: Instant, secs: u32, x: &mut Node, y: &mut Node) -> Instant {
    for _ in 0..secs {
        t += Duration::from_secs(1);
        fire_due(t, x, y);
        settle(t, x, y);
    }
    t
}

/// Moves messages both ways until both sides are quiet.
fn settle(now: Instant, x: &mut Node, y: &mut Node) {
    for _ in 0..16 {
        let (xa, ya) = (x.addr(), y.addr());
        let from_x = x.mesh.take_sent();
        let from_y = y.mesh.take_sent();
        if from_x.is_empty() && from_y.is_empty() {
            return;
        }
        deliver(now, xa, from_x, &mut y.dp, &mut y.mesh);
        deliver(now, ya, from_y, &mut x.dp, &mut x.mesh);
    }
    panic!("messages kept flowing");
}

#[test]
fn xk_session_matches_the_kat_transcript_byte_for_byte() {
    let t0 = Instant::now();
    let [a, b, c] = ["A", "B", "C"].map(kat_identity);
    let (aa, ba, ca) = (a.node_addr(), b.node_addr(), c.node_addr());
    let pc = *c.public();
    let mut peer_b = TestPeer::new(ba, vec![ba, aa]);
    peer_b.reaches.push(ca);
    let mut mesh_a = TestMesh::new(a.clone(), vec![aa], vec![peer_b]);
    mesh_a.rng.random.push_back([0x33; 32]);
    let mut dp_a = Dataplane::new(
        DataplaneConfig {
            coords_warmup_packets: 0,
            ..cfg("a1a2a3a4a5a6a7a8")
        },
        aa,
    );
    dp_a.learn_identity(t0, pc);
    dp_a.cache_coords(t0, ca, Coords(vec![ca, ba, aa]));
    dp_a.open_session(t0, &mut mesh_a.cx(), ca, pc);

    let (to, mut setup) = mesh_a.take_sent().pop().expect("setup sent");
    assert_eq!(to, ba, "bloom candidate strictly closer to C");
    let mut expect = hex::decode("0040ffff").expect("hex");
    expect.extend_from_slice(aa.as_bytes());
    expect.extend_from_slice(ca.as_bytes());
    assert_eq!(&setup[..36], &expect[..]);
    assert_eq!(
        setup[36..],
        kat_hex(&["fsp_xk", "session_setup_fsp_payload"])[..]
    );

    let mut peer_b_of_c = TestPeer::new(ba, vec![ba, aa]);
    peer_b_of_c.reaches.push(aa);
    let mut mesh_c = TestMesh::new(c, vec![ca, ba, aa], vec![peer_b_of_c]);
    mesh_c.rng.random.push_back([0x44; 32]);
    let mut dp_c = Dataplane::new(cfg("b1b2b3b4b5b6b7b8"), ca);
    dp_c.handle_session_datagram(t0, ba, &mut setup, &mut mesh_c.cx());
    let (to, mut ack) = mesh_c.take_sent().pop().expect("ack sent");
    assert_eq!(to, ba);
    assert_eq!(
        ack[36..],
        kat_hex(&["fsp_xk", "session_ack_fsp_payload"])[..]
    );

    let t1 = t0 + ms(20);
    dp_a.handle_session_datagram(t1, ba, &mut ack, &mut mesh_a.cx());
    let (_, mut msg3) = mesh_a.take_sent().pop().expect("msg3 sent");
    assert_eq!(
        msg3[36..],
        kat_hex(&["fsp_xk", "session_msg3_fsp_payload"])[..]
    );
    assert!(dp_a.is_established(&ca));

    let ipv6 = kat_hex(&["fsp_xk", "ipv6_packet"]);
    dp_a.handle_tun_packet(t1 + ms(5), &ipv6, &mut mesh_a.cx());
    let (_, mut data) = mesh_a.take_sent().pop().expect("data sent");
    assert_eq!(data, kat_hex(&["fsp_xk", "session_datagram_link_msg"]));

    dp_c.handle_session_datagram(t1, ba, &mut msg3, &mut mesh_c.cx());
    assert!(dp_c.is_established(&aa));
    dp_c.handle_session_datagram(t1, ba, &mut data, &mut mesh_c.cx());
    assert_eq!(drain_tun(&mut dp_c), vec![ipv6]);
}

#[test]
fn first_ping_is_queued_during_the_handshake_and_answered() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let ping = echo(x.addr(), y.addr(), icmp::TYPE_ECHO_REQUEST, 1, 16);
    x.tun(t0, &ping);
    assert_eq!(x.dp.counters().tun_queued, 1);
    settle(t0, &mut x, &mut y);
    assert_eq!(
        drain_tun(&mut y.dp),
        vec![ping],
        "the queued packet arrived intact"
    );
    let pong = echo(y.addr(), x.addr(), icmp::TYPE_ECHO_REPLY, 1, 16);
    y.tun(t0, &pong);
    settle(t0, &mut x, &mut y);
    assert_eq!(drain_tun(&mut x.dp), vec![pong]);
}

#[test]
fn first_data_packets_carry_coordinates_then_stop() {
    let t0 = Instant::now();
    let (mut x, y) = connected(t0);
    let mut flags = Vec::new();
    for seq in 1..8 {
        x.echo_to(t0, y.addr(), 128, seq);
        let (_, m) = x.mesh.take_sent().pop().expect("sent");
        flags.push(m[37] & 0x01);
    }
    // The queued first packet used one of the five CP slots.
    assert_eq!(flags, vec![1, 1, 1, 1, 0, 0, 0]);
}

#[test]
fn duplicate_setup_gets_the_stored_ack_again() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let setup = x.setup_to(t0, &y);
    let mut copy = setup.clone();
    y.receive(t0, x.addr(), &mut copy);
    let first = y.mesh.take_sent();
    let mut copy = setup.clone();
    y.receive(t0 + ms(900), x.addr(), &mut copy);
    let second = y.mesh.take_sent();
    assert_eq!(first.len(), 1);
    assert_eq!(first, second, "same Ack bytes, no second responder state");
}

#[test]
fn crossing_setups_leave_the_smaller_address_as_initiator() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let (px, py) = (x.public(), y.public());
    x.open(t0, y.addr(), py);
    y.open(t0, x.addr(), px);
    settle(t0, &mut x, &mut y);
    assert!(x.dp.is_established(&y.addr()) && y.dp.is_established(&x.addr()));
    let ping = echo(x.addr(), y.addr(), 128, 1, 8);
    x.tun(t0, &ping);
    settle(t0, &mut x, &mut y);
    assert_eq!(
        drain_tun(&mut y.dp),
        vec![ping],
        "both ended with the same keys"
    );
    assert_eq!(x.dp.counters().sessions_established, 1);
}

#[test]
fn idle_session_is_removed_after_90_seconds_without_data() {
    let t0 = Instant::now();
    let (mut x, mut y) = connected_without_rekey(t0);
    let t1 = t0 + Duration::from_secs(60);
    echo_settled(t1, &mut x, &mut y, 128, 1);
    for n in [&mut x, &mut y] {
        n.fire(t1 + Duration::from_secs(89));
    }
    settle(t1 + Duration::from_secs(89), &mut x, &mut y);
    assert!(
        x.dp.is_established(&y.addr()),
        "data at t+60 s kept it alive"
    );
    assert!(y.dp.is_established(&x.addr()), "receiving data counts too");
    let wake = x.dp.poll_timeout();
    assert!(
        wake.is_some_and(|t| t <= t1 + Duration::from_secs(90)),
        "{:?}",
        wake.map(|w| w - t0)
    );
    for n in [&mut x, &mut y] {
        n.fire(t1 + Duration::from_secs(90));
    }
    assert!(!x.dp.is_established(&y.addr()) && !y.dp.is_established(&x.addr()));
    assert!(x.mesh.take_sent().is_empty(), "teardown is silent");
}

#[test]
fn unknown_destination_gets_icmp_unreachable_and_oversize_gets_packet_too_big() {
    let t0 = Instant::now();
    let (mut x, y) = pair(kat_identity("A"), kat_identity("C"));
    let stranger = kat_identity("D").node_addr();
    let pkt = echo(x.addr(), stranger, 128, 1, 8);
    x.tun(t0, &pkt);
    let out = drain_tun(&mut x.dp);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][40], icmp::TYPE_DEST_UNREACHABLE);
    assert_eq!(&out[0][8..24], &x.addr().ipv6().octets());
    let big = echo(x.addr(), y.addr(), 128, 1, 1300 - 40);
    x.tun(t0, &big);
    let out = drain_tun(&mut x.dp);
    assert_eq!(out[0][40], icmp::TYPE_PACKET_TOO_BIG);
    assert_eq!(&out[0][44..48], &1203u32.to_be_bytes());
    assert_eq!(
        &out[0][8..24],
        &y.addr().ipv6().octets(),
        "from the packet's destination"
    );
    assert!(x.mesh.take_sent().is_empty());
}

#[test]
fn failed_discovery_answers_queued_packets_with_unreachable_after_15_seconds() {
    let t0 = Instant::now();
    let (mut x, _y) = pair(kat_identity("A"), kat_identity("C"));
    let far = kat_identity("D");
    x.dp.learn_identity(t0, *far.public());
    let pkt = echo(x.addr(), far.node_addr(), 128, 1, 8);
    x.tun(t0, &pkt);
    let mut t = t0;
    while let Some(next) = x.dp.poll_timeout() {
        assert!(
            drain_tun(&mut x.dp).is_empty(),
            "nothing before the last attempt expires"
        );
        t = next;
        x.fire(t);
        if x.dp.counters().discovery_failed > 0 {
            break;
        }
    }
    assert_eq!(t - t0, Duration::from_secs(15));
    let out = drain_tun(&mut x.dp);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][40], icmp::TYPE_DEST_UNREACHABLE);
    assert_eq!(&out[0][48..], &pkt[..]);
}

#[test]
fn tcp_syn_is_clamped_on_the_way_out_and_on_the_way_in() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let (s, d) = (x.addr().ipv6().octets(), y.addr().ipv6().octets());
    let mut tcp = vec![0u8; 24];
    tcp[12] = 6 << 4;
    tcp[13] = 0x02;
    tcp[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    let sum = crate::ipv6::checksum::upper_layer(&s, &d, 6, &tcp);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut syn = vec![0x60, 0, 0, 0, 0, 24, 6, 64];
    syn.extend_from_slice(&s);
    syn.extend_from_slice(&d);
    syn.extend_from_slice(&tcp);
    x.tun(t0, &syn);
    settle(t0, &mut x, &mut y);
    let got = drain_tun(&mut y.dp).pop().expect("delivered");
    assert_eq!(u16::from_be_bytes([got[62], got[63]]), 1143);
    let seg = &got[40..];
    let mut zeroed = seg.to_vec();
    zeroed[16] = 0;
    zeroed[17] = 0;
    let want = crate::ipv6::checksum::upper_layer(&s, &d, 6, &zeroed);
    assert_eq!(u16::from_be_bytes([seg[16], seg[17]]), want);
}

#[test]
fn rekey_switches_keys_and_traffic_keeps_flowing() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let mut t = t0;
    let mut delivered = 0;
    for i in 0..40u16 {
        let ping = echo(x.addr(), y.addr(), 128, i, 8);
        x.tun(t, &ping);
        let pong = echo(y.addr(), x.addr(), 129, i, 8);
        y.tun(t, &pong);
        settle(t, &mut x, &mut y);
        delivered += drain_tun(&mut y.dp).len() + drain_tun(&mut x.dp).len();
        t += Duration::from_secs(5);
        for n in [&mut x, &mut y] {
            n.fire(t);
        }
        settle(t, &mut x, &mut y);
    }
    assert!(
        x.dp.counters().rekeys + y.dp.counters().rekeys >= 2,
        "a rekey completed: {:?} {:?}",
        x.dp.counters(),
        y.dp.counters()
    );
    assert!(
        delivered >= 78,
        "at most the pong racing the very first handshake is lost: {delivered}"
    );
}

#[test]
fn transit_decrements_ttl_mins_path_mtu_and_reports_missing_coordinates() {
    let t0 = Instant::now();
    let relay = Identity::from_secret_bytes([7; 32]).expect("key");
    let r = relay.node_addr();
    let (p, q) = (NodeAddr([0x11; 16]), NodeAddr([0x22; 16]));
    let mut tp = TestPeer::new(p, vec![p, r]);
    tp.mtu = 1200;
    let tq = TestPeer::new(q, vec![q, r]);
    let mut mesh = TestMesh::new(relay, vec![r], vec![tp, tq]);
    let mut dp = Dataplane::new(DataplaneConfig::default(), r);
    let mut msg = vec![0x00, 9, 0xff, 0xff];
    msg.extend_from_slice(q.as_bytes());
    msg.extend_from_slice(p.as_bytes());
    msg.extend_from_slice(&[0u8; 40]);
    dp.handle_session_datagram(t0, q, &mut msg.clone(), &mut mesh.cx());
    let (to, fwd) = mesh
        .take_sent()
        .pop()
        .expect("forwarded to the direct peer");
    assert_eq!(to, p);
    assert_eq!(fwd[1], 8);
    assert_eq!(u16::from_le_bytes([fwd[2], fwd[3]]), 1200);

    let unknown = NodeAddr([0x33; 16]);
    msg[20..36].copy_from_slice(unknown.as_bytes());
    dp.handle_session_datagram(t0, q, &mut msg.clone(), &mut mesh.cx());
    dp.handle_session_datagram(t0 + ms(50), q, &mut msg.clone(), &mut mesh.cx());
    let sent = mesh.take_sent();
    assert_eq!(sent.len(), 1, "one error per destination per 100 ms");
    let (to, err) = &sent[0];
    assert_eq!(*to, q);
    assert_eq!(&err[20..36], q.as_bytes(), "addressed to the source");
    assert_eq!(
        (err[36], err[37], err[40]),
        (0x00, 0x04, 0x20),
        "CoordsRequired"
    );

    msg[1] = 0;
    dp.handle_session_datagram(t0, q, &mut msg, &mut mesh.cx());
    assert_eq!(dp.counters().ttl_exhausted, 1);
}

/// A SessionDatagram from `reporter` to `to` carrying an FSP error signal.
fn error_datagram(
    reporter: NodeAddr,
    to: NodeAddr,
    err: &crate::wire::fsp_error::FspError,
) -> Vec<u8> {
    let mut m = vec![0x00, 64, 0xff, 0xff];
    m.extend_from_slice(reporter.as_bytes());
    m.extend_from_slice(to.as_bytes());
    err.emit(&mut m);
    m
}

#[test]
fn coords_required_triggers_one_warmup_per_two_seconds_and_a_new_lookup() {
    use crate::wire::fsp_error::FspError;
    let t0 = Instant::now();
    let (mut x, mut y) = connected(t0);
    let err = FspError::CoordsRequired {
        dest: y.addr(),
        reporter: y.addr(),
    };
    let (xa, ya) = (x.addr(), y.addr());
    x.receive(t0, ya, &mut error_datagram(ya, xa, &err));
    let sent = x.mesh.take_sent();
    let warm: Vec<_> = sent.iter().filter(|(_, m)| m[0] == 0x00).collect();
    assert_eq!(warm.len(), 1);
    assert_eq!(
        warm[0].1[37] & 0x05,
        0x01,
        "encrypted (U clear) with CP set"
    );
    assert!(
        sent.iter().any(|(_, m)| m[0] == 0x30),
        "a fresh lookup went out"
    );
    x.dp.handle_session_datagram(
        t0 + ms(1500),
        ya,
        &mut error_datagram(ya, xa, &err),
        &mut x.mesh.cx(),
    );
    assert!(
        x.mesh.take_sent().iter().all(|(_, m)| m[0] != 0x00),
        "rate limited"
    );
    deliver(
        t0,
        xa,
        warm.into_iter().cloned().collect(),
        &mut y.dp,
        &mut y.mesh,
    );
    assert_eq!(
        y.dp.counters().decrypt_failed,
        0,
        "the warmup decrypts at the peer"
    );
}

#[test]
fn mtu_exceeded_lowers_the_path_mtu_so_big_packets_get_packet_too_big() {
    use crate::wire::fsp_error::FspError;
    let t0 = Instant::now();
    let (mut x, y) = connected(t0);
    let err = FspError::MtuExceeded {
        dest: y.addr(),
        reporter: NodeAddr([0xee; 16]),
        mtu: 1000,
    };
    let (xa, ya) = (x.addr(), y.addr());
    x.receive(t0, ya, &mut error_datagram(ya, xa, &err));
    x.tun(t0, &echo(xa, ya, 128, 1, 1000 - 40));
    let out = drain_tun(&mut x.dp);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][40], icmp::TYPE_PACKET_TOO_BIG);
    assert_eq!(&out[0][44..48], &923u32.to_be_bytes());
    x.tun(t0, &echo(xa, ya, 128, 2, 923 - 40));
    assert_eq!(x.mesh.take_sent().len(), 1, "packets that fit still go");
}

#[test]
fn session_info_reports_roles_counters_and_warmup() {
    let t0 = Instant::now();
    let (x, y) = connected(t0);
    let xi = x.dp.sessions().next().expect("one session");
    let yi = y.dp.sessions().next().expect("one session");
    assert_eq!(
        (xi.state, xi.is_initiator, yi.is_initiator),
        ("established", true, false)
    );
    assert_eq!(yi.peer, Some(x.public()), "learned from msg3");
    assert_eq!((xi.stats.packets_sent, yi.stats.packets_recv), (1, 1));
    assert_eq!(xi.coords_warmup_remaining, 4);
    assert!(
        x.dp.coord_cache().any(|c| c.node == y.addr()),
        "cached from the SessionAck"
    );
    assert!(y.dp.identities().any(|id| id.node_addr() == x.addr()));
}

#[test]
fn a_session_the_peer_lost_is_restarted_after_90_silent_seconds() {
    let t0 = Instant::now();
    let (mut x, mut y) = connected_without_rekey(t0);
    // y restarts: a fresh dataplane with no session.
    y.restart(t0, &x);
    let mut t = t0;
    for i in 1..=10u16 {
        t += Duration::from_secs(10);
        x.echo_to(t, y.addr(), 128, i);
        x.fire(t);
        settle(t, &mut x, &mut y);
    }
    assert_eq!(x.dp.counters().dead_sessions, 1);
    assert!(
        y.dp.is_established(&x.addr()),
        "the next packet opened a new session"
    );
    assert!(!drain_tun(&mut y.dp).is_empty());
}

#[test]
fn a_session_the_peer_lost_is_restarted_once_data_goes_unanswered_for_30_s() {
    let t0 = Instant::now();
    let (mut x, mut y) = connected(t0);
    // y restarts: a fresh dataplane with no session; x streams one echo a
    // second into the session y no longer has.
    y.restart(t0, &x);
    let mut t = t0;
    let mut dead_at = None;
    for i in 1..=40u16 {
        t += Duration::from_secs(1);
        x.echo_to(t, y.addr(), 128, i);
        if x.dp.poll_timeout().is_some_and(|w| w <= t) {
            x.fire(t);
        }
        settle(t, &mut x, &mut y);
        if dead_at.is_none() && x.dp.counters().dead_sessions == 1 {
            dead_at = Some(i);
        }
    }
    assert_eq!(
        dead_at,
        Some(31),
        "first unanswered Data at 1 s, dead 30 s later"
    );
    assert!(y.dp.is_established(&x.addr()), "a new session");
    assert!(!drain_tun(&mut y.dp).is_empty(), "echoes reach y again");
}

#[test]
fn a_one_way_stream_to_a_live_peer_is_not_declared_dead() {
    let t0 = Instant::now();
    let (mut x, mut y) = connected_without_rekey(t0);
    // y only receives (its echo replies are never read back into x's
    // TUN path here); its PathMtuNotifications keep x's session alive.
    let mut t = t0;
    for i in 1..=120u16 {
        t += Duration::from_secs(1);
        x.echo_to(t, y.addr(), 128, i);
        fire_due(t, &mut x, &mut y);
        settle(t, &mut x, &mut y);
        drain_tun(&mut y.dp);
    }
    assert_eq!(x.dp.counters().dead_sessions, 0);
    // And a session quiet for a minute is not dead when Data resumes.
    t += Duration::from_secs(60);
    x.echo_to(t, y.addr(), 128, 999);
    x.fire(t);
    settle(t, &mut x, &mut y);
    assert_eq!(x.dp.counters().dead_sessions, 0);
    assert_eq!(drain_tun(&mut y.dp).len(), 1);
}

#[test]
fn the_last_data_of_an_exchange_is_answered_so_the_peer_keeps_the_session() {
    let t0 = Instant::now();
    let (mut x, mut y) = connected_without_rekey(t0);
    // 5 s later x sends its last Data (a reply, say): y's periodic
    // PathMtuNotification is not due for another 5 s, and y has nothing
    // else to send.
    let t = t0 + Duration::from_secs(5);
    echo_settled(t, &mut x, &mut y, 128, 1);
    assert_eq!(drain_tun(&mut y.dp).len(), 2);
    let t = idle(t, 50, &mut x, &mut y);
    assert_eq!(
        x.dp.counters().dead_sessions,
        0,
        "y answered x's last Data within 10 s"
    );
    // y speaks next, 50 s later, on its session: x still has it.
    echo_settled(t, &mut y, &mut x, 128, 2);
    assert_eq!(x.dp.counters().unknown_session, 0);
    assert_eq!(drain_tun(&mut x.dp).len(), 1);
}

#[test]
fn poll_timeout_moves_past_now_even_while_a_due_rekey_is_dampened() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    // x rekeys at 120 s; y is due at 125 s but has just answered x's
    // rekey, so it stays dampened until 150 s.
    for n in [&mut x, &mut y] {
        n.dp.cfg.rekey_jitter = Duration::ZERO;
    }
    y.dp.cfg.rekey_after = Duration::from_secs(125);
    echo_settled(t0, &mut x, &mut y, 128, 0);
    let mut t = t0;
    for step in 1..=400u32 {
        t += Duration::from_millis(500);
        for n in [&mut x, &mut y] {
            if n.dp.poll_timeout().is_some_and(|w| w <= t) {
                n.fire(t);
                let next = n.dp.poll_timeout();
                assert!(
                    next.is_none_or(|w| w > t),
                    "wake-up at {next:?} is not after {t:?}"
                );
            }
        }
        settle(t, &mut x, &mut y);
        if step % 20 == 0 {
            x.echo_to(t, y.addr(), 128, 1);
            echo_settled(t, &mut y, &mut x, 128, 1);
        }
    }
    assert!(x.dp.counters().rekeys + y.dp.counters().rekeys >= 2);
}

#[test]
fn setups_beyond_the_handshake_bound_are_refused() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    y.dp.cfg.max_handshakes = 1;
    let setup = x.setup_to(t0, &y);
    // A second initiator (same key, other address) competes for the slot.
    let mut forged = setup.clone();
    forged[4] ^= 1;
    y.receive(t0, x.addr(), &mut setup.clone());
    y.receive(t0, x.addr(), &mut forged);
    assert_eq!(y.dp.counters().acks_sent, 1);
    assert_eq!(y.dp.session_count(), 1);
}

#[test]
fn a_msg3_nobody_awaits_or_that_fails_is_refused_and_counted() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    let mut setup = x.setup_to(t0, &y);
    y.receive(t0, x.addr(), &mut setup);
    let (_, mut ack) = y.mesh.take_sent().pop().expect("ack");
    x.receive(t0, y.addr(), &mut ack);
    let (_, msg3) = x.mesh.take_sent().pop().expect("msg3");
    // From an address no handshake of y's is waiting on.
    let mut stray = msg3.clone();
    stray[4] ^= 1;
    y.receive(t0, x.addr(), &mut stray);
    assert_eq!(y.dp.counters().msg3_refused, 1);
    // The awaited one, corrupted: refused, and the handshake is gone.
    let mut corrupt = msg3;
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    y.receive(t0, x.addr(), &mut corrupt);
    assert_eq!(y.dp.counters().msg3_refused, 2);
    assert!(!y.dp.is_established(&x.addr()));
    assert_eq!(y.dp.session_count(), 0);
}

#[test]
fn a_quiet_session_whose_last_data_went_one_way_is_not_declared_dead() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    for n in [&mut x, &mut y] {
        n.dp.cfg.rekey_after = Duration::from_secs(3600);
    }
    // A ping: x's echo, then y's replies, the last one within 10 s of the
    // notification x sent for the first: nothing answers it at once.
    echo_settled(t0, &mut x, &mut y, 128, 0);
    for i in 0..3u16 {
        let t = t0 + ms(100 * u64::from(i) + 100);
        echo_settled(t, &mut y, &mut x, 129, i);
    }
    let t = idle(t0, 60, &mut x, &mut y);
    assert_eq!(y.dp.counters().dead_sessions, 0, "x answered y's last Data");
    assert!(y.dp.is_established(&x.addr()));
    echo_settled(t, &mut x, &mut y, 128, 9);
    assert_eq!(y.dp.counters().unknown_session, 0);
}

#[test]
fn setups_filling_the_handshake_bound_do_not_stop_our_own_sessions() {
    let t0 = Instant::now();
    let (mut x, mut y) = pair(kat_identity("A"), kat_identity("C"));
    x.dp.cfg.max_handshakes = 1;
    // A third node's Setup, arriving through y, takes x's only inbound
    // handshake slot.
    let (mut z, _) = pair(kat_identity("B"), kat_identity("A"));
    let mut setup = z.setup_to(t0, &x);
    x.receive(t0, y.addr(), &mut setup);
    assert_eq!(x.dp.session_count(), 1, "z's handshake holds the slot");
    x.mesh.take_sent();
    // x can still open a session of its own, to y.
    echo_settled(t0, &mut x, &mut y, 128, 0);
    assert!(x.dp.is_established(&y.addr()));
    assert_eq!(x.dp.counters().sessions_refused, 0);
}
