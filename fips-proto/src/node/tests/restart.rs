//! A session's far end restarts (crash, then a fresh process with the same
//! key): the near end notices from the missing session ReceiverReports and
//! starts over within seconds, while a healthy session over a lossy path
//! never does. The ping helpers are small copies of those in `sessions`,
//! kept here so the two files can change apart.

use std::time::Duration;

use super::{chain, secs, LinkParams, Sim};
use crate::ipv6::icmp::{TYPE_ECHO_REPLY, TYPE_ECHO_REQUEST};
use crate::session::DataplaneCounters;
use crate::NodeAddr;

const PING_EVERY: Duration = Duration::from_millis(200);

fn addr(sim: &Sim, i: usize) -> NodeAddr {
    sim.nodes[i].identity.node_addr()
}

/// An ICMPv6 echo request or reply with a valid checksum.
fn echo(src: NodeAddr, dst: NodeAddr, typ: u8, seq: u16) -> Vec<u8> {
    let (s, d) = (src.ipv6().octets(), dst.ipv6().octets());
    crate::ipv6::icmp::echo(typ, &s, &d, 0x4242, seq, &[])
}

/// Runs for `d` in 10 ms steps; `to` answers every echo request as its
/// kernel would. Returns the sequence numbers of replies `from` got.
fn run_answering(sim: &mut Sim, from: usize, to: usize, d: Duration) -> Vec<u16> {
    let mut replies = Vec::new();
    let end = sim.now + d;
    let mut buf = Vec::new();
    while sim.now < end {
        sim.run_for(Duration::from_millis(10));
        while sim.node_mut(to).poll_tun(&mut buf) {
            if buf.len() >= 48 && buf[40] == TYPE_ECHO_REQUEST {
                let seq = u16::from_be_bytes([buf[46], buf[47]]);
                let reply = echo(addr(sim, to), addr(sim, from), TYPE_ECHO_REPLY, seq);
                let now = sim.now;
                sim.node_mut(to).handle_tun_packet(now, &reply);
            }
        }
        while sim.node_mut(from).poll_tun(&mut buf) {
            if buf.len() >= 48 && buf[40] == TYPE_ECHO_REPLY {
                replies.push(u16::from_be_bytes([buf[46], buf[47]]));
            }
        }
    }
    replies
}

/// Pings `to` from `from` every 200 ms for `d`; returns the seconds after
/// the stream's start at which each answered echo was sent.
fn ping_stream(sim: &mut Sim, from: usize, to: usize, d: Duration) -> Vec<f64> {
    let (src, dst) = (addr(sim, from), addr(sim, to));
    let start = sim.now;
    let mut sent = Vec::new();
    let mut answered = Vec::new();
    let mut seq = 0u16;
    while sim.now < start + d {
        let now = sim.now;
        sim.node_mut(from)
            .handle_tun_packet(now, &echo(src, dst, TYPE_ECHO_REQUEST, seq));
        sent.push((now - start).as_secs_f64());
        seq = seq.wrapping_add(1);
        answered.extend(run_answering(sim, from, to, PING_EVERY));
    }
    answered.sort_unstable();
    answered.dedup();
    answered.iter().map(|s| sent[usize::from(*s)]).collect()
}

fn counters(sim: &Sim, i: usize) -> DataplaneCounters {
    sim.node(i)
        .dataplane()
        .expect("dataplane")
        .counters()
        .clone()
}

/// a – b – c with a steady a -> c echo stream.
fn streaming(seed: u64, params: LinkParams) -> Sim {
    let mut sim = chain(seed, params);
    sim.run_for(secs(15));
    let peer = *sim.nodes[2].identity.public();
    let now = sim.now;
    sim.node_mut(0).learn_identity(now, peer);
    let warm = ping_stream(&mut sim, 0, 2, secs(10));
    assert!(warm.len() >= 40, "no steady a -> c stream: {warm:?}");
    sim
}

#[test]
fn a_destination_restarted_mid_stream_answers_again_within_seconds() {
    let mut sim = streaming(61, LinkParams::default());
    assert!(counters(&sim, 0).reports_received >= 5, "c sent no reports");
    sim.crash(2);
    sim.restart(2);
    let after = ping_stream(&mut sim, 0, 2, secs(20));
    let first = after.first().copied();
    eprintln!("c answers again {first:?} s after its restart (dead_after is 30 s)");
    assert!(
        first.is_some_and(|t| t < 6.0),
        "first echo answered after the restart was sent at {first:?} s"
    );
    let a = counters(&sim, 0);
    assert_eq!((a.dead_sessions, a.dead_sessions_fast), (1, 1), "{a:?}");
}

#[test]
fn a_healthy_session_over_a_lossy_path_never_starts_over() {
    let lossy = LinkParams {
        loss: 0.05,
        ..LinkParams::default()
    };
    let mut sim = streaming(62, lossy);
    let answered = ping_stream(&mut sim, 0, 2, secs(240));
    assert!(
        answered.len() > 900,
        "only {} echoes answered",
        answered.len()
    );
    for i in [0, 2] {
        let c = counters(&sim, i);
        assert_eq!(c.dead_sessions, 0, "node {i}: {c:?}");
        assert_eq!(c.sessions_established, 1, "node {i}: {c:?}");
        assert!(c.reports_sent >= 200, "node {i}: {c:?}");
    }
}
