//! The write side (GRO) on crafted packets: what tun-rs's `send_multiple`
//! joins, and that each super-packet splits back into what went in.

use super::test_calls::join;
use super::tests::split;
use super::{VnetHdr, GSO_TCPV6, VNET_HDR_LEN};

fn parse(frame: &[u8]) -> Option<VnetHdr> {
    super::parse_header(frame).ok()
}

const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// IPv6/TCP with timestamps, valid checksum (as the mesh delivers them).
fn seg(payload: &[u8], seq: u32, flags: u8, port: u16) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((32 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[6, 64]);
    p.extend_from_slice(&[0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfd, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let mut t = vec![0u8; 32];
    t[0..2].copy_from_slice(&port.to_be_bytes());
    t[2..4].copy_from_slice(&5201u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&99u32.to_be_bytes());
    t[12] = 8 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&1000u16.to_be_bytes());
    t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
    p.extend_from_slice(&t);
    p.extend_from_slice(payload);
    let len = (p.len() - 40) as u32;
    let mut sum: u32 = len + 6;
    for c in p[8..].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[56..58].copy_from_slice(&csum.to_be_bytes());
    p
}

fn run(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    join(packets).expect("join")
}

fn unsplit(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in frames {
        let mut f = f.clone();
        split(&mut f, &mut Vec::new(), |p| out.push(p.to_vec())).expect("split");
    }
    out
}

fn stream(sizes: &[usize], last_psh: bool) -> Vec<Vec<u8>> {
    let mut seq = 1000u32;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let psh = if last_psh && i + 1 == sizes.len() {
                TCP_PSH
            } else {
                0
            };
            let p = seg(&vec![i as u8; n], seq, TCP_ACK | psh, 40000);
            seq += n as u32;
            p
        })
        .collect()
}

#[test]
fn joins_a_run_into_one_super_packet_that_splits_back_exactly() {
    let packets = stream(&[1188, 1188, 1188, 1188, 500], true);
    let frames = run(&packets);
    assert_eq!(frames.len(), 1);
    let h = parse(&frames[0]).expect("hdr");
    assert_eq!(
        (
            h.gso_type,
            h.gso_size,
            h.hdr_len,
            h.csum_start,
            h.csum_offset
        ),
        (GSO_TCPV6, 1188, 72, 40, 16)
    );
    assert_eq!(unsplit(&frames), packets);
}

#[test]
fn starts_a_new_frame_on_a_gap_another_flow_or_after_a_short_segment() {
    let mut packets = stream(&[1000, 1000], false);
    packets.push(seg(&[1; 1000], 5000, TCP_ACK, 40000)); // gap in seq
    packets.push(seg(&[2; 1000], 6000, TCP_ACK, 40001)); // other port
    let short = stream(&[1000, 400, 1000], false); // nothing after a short one
    packets.extend(short);
    let frames = run(&packets);
    assert_eq!(frames.len(), 5);
    assert_eq!(unsplit(&frames), packets);
}

#[test]
fn leaves_control_segments_alone() {
    let syn = seg(&[], 1, 0x02, 40000);
    let ack = seg(&[], 1, TCP_ACK, 40000);
    let fin = seg(&[5; 10], 1, TCP_ACK | 0x01, 40000);
    let frames = run(&[syn.clone(), ack.clone(), fin.clone()]);
    assert_eq!(frames.len(), 3);
    for (f, p) in frames.iter().zip([&syn, &ack, &fin]) {
        assert_eq!(parse(f).expect("hdr").gso_type, 0);
        assert_eq!(&f[VNET_HDR_LEN..], &p[..]);
    }
}

#[test]
fn stops_at_the_ipv6_length_limit() {
    let packets = stream(&[1400; 60], false);
    let frames = run(&packets);
    assert_eq!(frames.len(), 2, "46 x 1400 fit under 64 KiB");
    assert_eq!(unsplit(&frames), packets);
}

/// Batches of one stream whose runs start at ever other slots (a PSH
/// closes a run early) leave the write batch with slots the size of a
/// packet and a few big buffers, not a 64 KiB buffer in every slot that
/// ever led a run.
#[test]
fn a_long_stream_leaves_the_write_batch_with_only_a_few_big_buffers() {
    use crate::tun::gro_buf::{GRO_ROOM, POOL_KEEP};
    use crate::tun::WriteBatch;
    let mut batch = WriteBatch::new();
    let (mut seq, mut supers) = (1000u32, 0);
    for round in 0..100 {
        for i in 0..tun_rs::IDEAL_BATCH_SIZE {
            let psh = if i == round % 100 { TCP_PSH } else { 0 };
            assert!(batch.push(&seg(&[7; 1000], seq, TCP_ACK | psh, 40000)));
            seq += 1000;
        }
        let w = batch.join_without_device().expect("gro");
        assert!(w.frames < 10, "round {round}: {w:?}");
        supers += w.super_packets;
    }
    assert!(supers >= 200, "{supers} super-packets");
    let slots = tun_rs::IDEAL_BATCH_SIZE * (VNET_HDR_LEN + 1072);
    let bound = slots + POOL_KEEP * GRO_ROOM;
    assert!(
        batch.allocated() <= bound,
        "{} bytes held, bound {bound}",
        batch.allocated()
    );
}
