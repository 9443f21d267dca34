//! Segmentation and coalescing on crafted packets, then both directions
//! through a real TUN device in a throwaway namespace, with the kernel's
//! own TCP at the other end.

use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::test_calls::{checksum, split_each};
use super::{
    header_bytes, parse_header, OffloadError, VnetHdr, F_NEEDS_CSUM, GSO_NONE, GSO_TCPV6,
    VNET_HDR_LEN,
};
use crate::tun::{ReadBatch, Tun, WriteBatch};
use fips_testkit::NetNs;

/// The first shape of `segment`: the packets of the read `hdr` +
/// `packet`, cut at `mtu`, each handed to `emit`; how many.
fn segment(
    hdr: &VnetHdr,
    packet: &mut [u8],
    mtu: usize,
    _scratch: &mut Vec<u8>,
    emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    super::test_calls::segment(hdr, packet, mtu, emit)
}

/// The first shape of `split`: every packet of one read, at the kernel's
/// segment size.
pub(super) fn split(
    read: &mut [u8],
    _scratch: &mut Vec<u8>,
    emit: impl FnMut(&[u8]),
) -> Result<(), OffloadError> {
    split_each(read, usize::MAX, emit).map(drop)
}

const SRC: Ipv6Addr = Ipv6Addr::new(0xfdaa, 0, 0, 0, 0, 0, 0, 2);
const DST: Ipv6Addr = Ipv6Addr::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;

/// An IPv6 TCP segment with a valid checksum.
struct Tcp<'a> {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    options: &'a [u8],
    payload: &'a [u8],
}

impl Tcp<'_> {
    fn build(&self) -> Vec<u8> {
        let tcp_hlen = 20 + self.options.len();
        let mut p = vec![0u8; 40 + tcp_hlen];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((tcp_hlen + self.payload.len()) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&self.src.octets());
        p[24..40].copy_from_slice(&self.dst.octets());
        let t = &mut p[40..];
        t[0..2].copy_from_slice(&self.ports.0.to_be_bytes());
        t[2..4].copy_from_slice(&self.ports.1.to_be_bytes());
        t[4..8].copy_from_slice(&self.seq.to_be_bytes());
        t[8..12].copy_from_slice(&self.ack.to_be_bytes());
        t[12] = ((tcp_hlen / 4) as u8) << 4;
        t[13] = self.flags;
        t[14..16].copy_from_slice(&65535u16.to_be_bytes());
        t[20..].copy_from_slice(self.options);
        p.extend_from_slice(self.payload);
        let sum = !checksum::fold(checksum::add(
            checksum::pseudo_header(&p, p.len() - 40),
            &p[40..],
        ));
        p[56..58].copy_from_slice(&sum.to_be_bytes());
        p
    }
}

fn data_segment(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    Tcp {
        src: SRC,
        dst: DST,
        ports: (5001, 40000),
        seq,
        ack: 77,
        flags,
        options: &[],
        payload,
    }
    .build()
}

fn tcp_checksum_ok(p: &[u8]) -> bool {
    let ip_hlen = if p[0] >> 4 == 6 {
        40
    } else {
        usize::from(p[0] & 15) * 4
    };
    let l4 = p.len() - ip_hlen;
    checksum::fold(checksum::add(checksum::pseudo_header(p, l4), &p[ip_hlen..])) == 0xffff
}

fn seq_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[44], p[45], p[46], p[47]])
}

/// A TSO super-packet as the kernel hands it over: one header, all the
/// payload, a partial checksum.
fn super_packet(payload: &[u8], flags: u8) -> (VnetHdr, Vec<u8>) {
    let mut p = data_segment(1000, flags, payload);
    let partial = checksum::fold(checksum::pseudo_header(&p, p.len() - 40));
    p[56..58].copy_from_slice(&partial.to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV6,
        hdr_len: 60,
        gso_size: 1220,
        csum_start: 40,
        csum_offset: 16,
    };
    (hdr, p)
}

#[test]
fn a_tso_super_packet_splits_into_mtu_sized_segments_with_their_own_headers() {
    let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let (hdr, mut p) = super_packet(&payload, ACK | PSH | FIN);
    let mut segs = Vec::new();
    let n = segment(&hdr, &mut p, 1280, &mut Vec::new(), |s| {
        segs.push(s.to_vec())
    })
    .unwrap();
    assert_eq!(n, 5);
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        assert!(s.len() <= 1280);
        assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])), s.len() - 40);
        assert_eq!(seq_of(s), 1000 + 1220 * i as u32);
        assert!(tcp_checksum_ok(s), "segment {i} checksum");
        let last = i == 4;
        assert_eq!(s[53] & (PSH | FIN) != 0, last, "PSH/FIN only on the last");
        joined.extend_from_slice(&s[60..]);
    }
    assert_eq!(joined, payload);
}

#[test]
fn a_smaller_mesh_mtu_than_the_kernel_segment_size_wins() {
    let (hdr, mut p) = super_packet(&[7u8; 3100], ACK);
    let mut lens = Vec::new();
    segment(&hdr, &mut p, 1060, &mut Vec::new(), |s| lens.push(s.len())).unwrap();
    assert_eq!(lens, vec![1060, 1060, 1060, 160]);
}

#[test]
fn a_packet_needing_only_its_checksum_gets_it_in_place() {
    let (mut hdr, mut p) = super_packet(b"hello", ACK);
    hdr.gso_type = GSO_NONE;
    let mut out = Vec::new();
    segment(&hdr, &mut p, 1280, &mut Vec::new(), |s| {
        out.push(s.to_vec())
    })
    .unwrap();
    assert_eq!(out.len(), 1);
    assert!(tcp_checksum_ok(&out[0]));
    assert_eq!(out[0], data_segment(1000, ACK, b"hello"));
}

#[test]
fn malformed_offload_headers_are_rejected_without_panicking() {
    let (hdr, p) = super_packet(&[1u8; 2000], ACK);
    let cases: Vec<(VnetHdr, Vec<u8>)> = vec![
        (VnetHdr { gso_size: 0, ..hdr }, p.clone()),
        (VnetHdr { gso_type: 3, ..hdr }, p.clone()),
        (hdr, p[..50].to_vec()),
        (hdr, vec![]),
        (hdr, {
            let mut q = p[..80].to_vec();
            q[52] = 0xf0;
            q
        }), // TCP header longer than the packet
        (hdr, {
            let mut q = p.clone();
            q[6] = 17;
            q
        }),
        (
            VnetHdr {
                gso_type: GSO_NONE,
                csum_start: 60000,
                ..hdr
            },
            p.clone(),
        ),
    ];
    for (i, (h, mut q)) in cases.into_iter().enumerate() {
        let r = segment(&h, &mut q, 1280, &mut Vec::new(), |_| {});
        assert!(r.is_err(), "case {i} accepted");
    }
    assert!(parse_header(&[0; 9]).is_err());
    assert!(split(&mut [0; 9], &mut Vec::new(), |_| {}).is_err());
}

#[test]
fn vnet_header_round_trips() {
    let h = VnetHdr {
        flags: 1,
        gso_type: 4,
        hdr_len: 60,
        gso_size: 1220,
        csum_start: 40,
        csum_offset: 16,
    };
    // (tun-rs's header type has no PartialEq: compared field by field.)
    let fields = |h: &VnetHdr| {
        (
            h.flags,
            h.gso_type,
            h.hdr_len,
            h.gso_size,
            h.csum_start,
            h.csum_offset,
        )
    };
    assert_eq!(
        fields(&parse_header(&header_bytes(&h)).unwrap()),
        fields(&h)
    );
}

/// What one read from the device returned, cut to the mesh MTU (the
/// batch's), TCP only. (tun-rs's `try_recv` only sees readiness its
/// reactor has noticed, so the read runs on the runtime, given a
/// millisecond.)
fn read_segments(rt: &Runtime, tun: &Tun, batch: &mut ReadBatch) -> Vec<Vec<u8>> {
    let read = tokio::time::timeout(Duration::from_millis(1), tun.recv_packets(batch));
    let count = match rt.block_on(read) {
        Ok(Ok(n)) => n,
        Err(_elapsed) => return Vec::new(),
        Ok(Err(e)) => panic!("read: {e}"),
    };
    assert_eq!(count, batch.packets().count());
    // Neighbour discovery and MLD are left out.
    batch
        .packets()
        .filter(|p| p[0] >> 4 == 6 && p[6] == 6)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn the_kernel_tcp_stream_crosses_a_real_offload_tun_both_ways() {
    let ns = NetNs::new("tun");
    ns.enter(|| tcp_through_tun(&ns));
}

fn tcp_through_tun(ns: &NetNs) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let tun = Tun::create_with_offload("fp-tun0").unwrap();
    assert!(tun.has_vnet_hdr());
    ns.ip(&["addr", "add", "fdaa::1/64", "dev", "fp-tun0", "nodad"]);
    ns.ip(&["link", "set", "fp-tun0", "mtu", "1280", "up"]);
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let injected: Vec<u8> = (0..30_000u32).map(|i| (i % 13) as u8).collect();
    let client = {
        let (sent, want) = (sent.clone(), injected.len());
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect("[fdaa::2]:5001").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(&sent).unwrap();
            let mut got = vec![0; want];
            s.read_exact(&mut got).unwrap();
            got
        })
    };
    let mut batch = ReadBatch::new(1280);
    let deadline = Instant::now() + Duration::from_secs(10);
    // The SYN, answered with a SYN-ACK written as a plain frame.
    let syn = loop {
        assert!(Instant::now() < deadline, "no SYN");
        if let Some(s) = read_segments(&rt, &tun, &mut batch)
            .into_iter()
            .find(|s| s[53] == SYN)
        {
            break s;
        }
    };
    assert!(tcp_checksum_ok(&syn), "the SYN's checksum was completed");
    let cport = u16::from_be_bytes([syn[40], syn[41]]);
    let mut reply = Tcp {
        src: SRC,
        dst: DST,
        ports: (5001, cport),
        seq: 5000,
        ack: seq_of(&syn).wrapping_add(1),
        flags: SYN | ACK,
        options: &[2, 4, 0x04, 0xc4], // MSS 1220
        payload: &[],
    };
    rt.block_on(tun.send(&reply.build())).unwrap();
    // The client's stream: TSO super-packets, split and acknowledged.
    let (mut received, mut expect, mut max_segments) = (Vec::new(), reply.ack, 0);
    while received.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "stream stalled at {}",
            received.len()
        );
        let segs = read_segments(&rt, &tun, &mut batch);
        max_segments = max_segments.max(segs.len());
        for s in segs.iter().filter(|s| s.len() > 60) {
            assert!(s.len() <= 1280 && tcp_checksum_ok(s));
            assert_eq!(seq_of(s), expect, "in order");
            expect = expect.wrapping_add((s.len() - 60) as u32);
            received.extend_from_slice(&s[60..]);
        }
        if !segs.is_empty() {
            reply = Tcp {
                seq: 5001,
                ack: expect,
                flags: ACK,
                options: &[],
                ..reply
            };
            rt.block_on(tun.send(&reply.build())).unwrap();
        }
    }
    assert_eq!(received, sent);
    assert!(
        max_segments > 1,
        "the kernel used TSO (max {max_segments} segments a read)"
    );
    // Our stream back: coalesced into GSO frames the kernel accepts.
    let mut out = WriteBatch::new();
    let (mut frames, mut bytes) = (0, 0);
    let mut write = |out: &mut WriteBatch| {
        let w = rt.block_on(tun.send_packets(out)).unwrap();
        frames += w.frames;
        bytes += w.bytes;
    };
    for (i, chunk) in injected.chunks(1000).enumerate() {
        let flags = if i == 29 { ACK | PSH } else { ACK };
        let p = Tcp {
            seq: 5001 + 1000 * i as u32,
            flags,
            payload: chunk,
            ..reply
        }
        .build();
        if !out.push(&p) {
            write(&mut out);
            assert!(out.push(&p));
        }
    }
    write(&mut out);
    assert!(frames < 30, "{frames} frames");
    // Every frame went whole: its header, 60 bytes of IPv6 and TCP
    // headers, its share of the 30,000 bytes.
    assert_eq!(bytes, frames * (VNET_HDR_LEN + 60) + injected.len());
    // Keep reading (and dropping) the client's ACKs until it is done.
    while !client.is_finished() {
        assert!(Instant::now() < deadline, "client never got the data");
        read_segments(&rt, &tun, &mut batch);
    }
    assert_eq!(client.join().unwrap(), injected);
}

#[test]
fn split_reads_the_header_and_cuts_at_the_kernel_segment_size() {
    let payload = vec![3u8; 2500];
    let (hdr, p) = super_packet(&payload, ACK);
    let mut read = header_bytes(&hdr).to_vec();
    read.extend_from_slice(&p);
    let mut lens = Vec::new();
    split(&mut read, &mut Vec::new(), |s| lens.push(s.len())).unwrap();
    assert_eq!(lens, vec![1280, 1280, 60 + 60]);
}

/// Reads mutated at random (header fields, bytes of the packet, its
/// length, the MTU) are cut or refused, never a panic, and what is cut
/// fits the MTU. Seeded, so a failure replays.
#[test]
fn mutated_reads_are_cut_or_refused_without_panicking() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (hdr, p) = super_packet(&[5u8; 4000], ACK | PSH);
    let mut read = header_bytes(&hdr).to_vec();
    read.extend_from_slice(&p);
    for round in 0..20_000 {
        let mut r = read.clone();
        for _ in 0..(next() % 4 + 1) {
            // Half on the header; values near the edges more often.
            let span = if next() % 2 == 0 { VNET_HDR_LEN } else { 90 };
            let at = next() as usize % span;
            r[at] = match next() % 4 {
                0 => 0,
                1 => 0xff,
                2 => (next() % 8) as u8,
                _ => next() as u8,
            };
        }
        r.truncate(next() as usize % (read.len() + 1));
        let mtu = 60 + next() as usize % 1500;
        // A single packet (no GSO type) is passed as it is; only what is
        // cut must fit.
        let cut = parse_header(&r).is_ok_and(|h| h.gso_type & !0x80 != GSO_NONE);
        let mut longest = 0;
        let _ = split_each(&mut r, mtu, |s| longest = longest.max(s.len()));
        assert!(!cut || longest <= mtu, "round {round}: {longest} > {mtu}");
    }
}
