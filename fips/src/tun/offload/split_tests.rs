//! The daemon branch's first tests of `split`, kept against the merged
//! module (the helpers below map its names onto ours; the cutting itself
//! is tun-rs's `gso_split`).

use super::test_calls::checksum;
use super::tests::split;
use super::{F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV6, VNET_HDR_LEN};

/// Every packet `split` makes of one read.
fn split_all(read: &mut [u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    split(read, &mut Vec::new(), |p| out.push(p.to_vec())).expect("split");
    out
}

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

fn sum_bytes(data: &[u8], acc: u32) -> u32 {
    u32::from(checksum::fold(checksum::add(u64::from(acc), data)))
}

fn fold(sum: u32) -> u16 {
    checksum::fold(u64::from(sum))
}

/// Writes the full TCP checksum of an IPv6 packet whose TCP header is at `at`.
fn tcp6_checksum(p: &mut [u8], at: usize) {
    p[at + 16..at + 18].copy_from_slice(&[0, 0]);
    let sum = checksum::add(checksum::pseudo_header(p, p.len() - at), &p[at..]);
    p[at + 16..at + 18].copy_from_slice(&(!checksum::fold(sum)).to_be_bytes());
}

const SRC: [u8; 16] = [0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST: [u8; 16] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// IPv6 + TCP (with 12 bytes of options) + payload, checksum valid.
fn tcp_packet(payload: &[u8], seq: u32, flags: u8) -> Vec<u8> {
    let tcp_len = 32;
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((tcp_len + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[6, 64]);
    p.extend_from_slice(&SRC);
    p.extend_from_slice(&DST);
    let mut tcp = vec![0u8; tcp_len];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    p.extend_from_slice(&tcp);
    p.extend_from_slice(payload);
    tcp6_checksum(&mut p, 40);
    p
}

fn checksum_ok(p: &[u8]) -> bool {
    let len = (p.len() - 40) as u32;
    let mut sum = sum_bytes(&p[8..40], 0);
    sum += len + 6;
    fold(sum_bytes(&p[40..], sum)) == 0xffff
}

fn with_hdr(hdr: [u8; VNET_HDR_LEN], packet: &[u8]) -> Vec<u8> {
    let mut v = hdr.to_vec();
    v.extend_from_slice(packet);
    v
}

fn hdr(
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
) -> [u8; VNET_HDR_LEN] {
    let mut h = [0u8; VNET_HDR_LEN];
    h[0] = flags;
    h[1] = gso_type;
    h[2..4].copy_from_slice(&hdr_len.to_ne_bytes());
    h[4..6].copy_from_slice(&gso_size.to_ne_bytes());
    h[6..8].copy_from_slice(&csum_start.to_ne_bytes());
    h[8..10].copy_from_slice(&csum_offset.to_ne_bytes());
    h
}

#[test]
fn cuts_a_tso_super_packet_into_valid_segments() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let flags = TCP_CWR | TCP_PSH | TCP_FIN | 0x10;
    let big = tcp_packet(&payload, 1_000_000, flags);
    let mut read = with_hdr(hdr(F_NEEDS_CSUM, GSO_TCPV6, 72, 1200, 40, 16), &big);
    let segs = split_all(&mut read);
    assert_eq!(
        segs.iter().map(|s| s.len() - 72).collect::<Vec<_>>(),
        vec![1200, 1200, 1200, 1200, 200]
    );
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        assert!(checksum_ok(s), "segment {i} checksum");
        assert_eq!(
            usize::from(u16::from_be_bytes([s[4], s[5]])),
            s.len() - 40,
            "payload length {i}"
        );
        let seq = u32::from_be_bytes([s[44], s[45], s[46], s[47]]);
        assert_eq!(seq, 1_000_000 + 1200 * i as u32);
        let f = s[53];
        assert_eq!(f & TCP_CWR != 0, i == 0, "CWR only on the first");
        assert_eq!(
            f & (TCP_FIN | TCP_PSH) != 0,
            i == 4,
            "FIN/PSH only on the last"
        );
        assert_eq!(f & 0x10, 0x10, "ACK on all");
        assert_eq!(&s[..40][..4], &big[..4]);
        assert_eq!(&s[60..72], &big[60..72], "options copied");
        joined.extend_from_slice(&s[72..]);
    }
    assert_eq!(joined, payload);
}

#[test]
fn a_super_packet_that_fits_one_segment_is_passed_whole() {
    let big = tcp_packet(&[9u8; 100], 5, 0x18);
    let mut read = with_hdr(
        hdr(F_NEEDS_CSUM, GSO_TCPV6 | GSO_ECN, 72, 1200, 40, 16),
        &big,
    );
    let segs = split_all(&mut read);
    assert_eq!(segs, vec![big]);
}

#[test]
fn completes_a_partial_checksum() {
    let good = tcp_packet(&[1, 2, 3, 4, 5], 1, 0x18);
    let mut partial = good.clone();
    // What the kernel leaves: the pseudo-header sum, not complemented.
    let len = (partial.len() - 40) as u32;
    let pseudo = fold(sum_bytes(&partial[8..40], len + 6));
    partial[56..58].copy_from_slice(&pseudo.to_be_bytes());
    let mut read = with_hdr(hdr(F_NEEDS_CSUM, GSO_NONE, 0, 0, 40, 16), &partial);
    let out = split_all(&mut read);
    assert_eq!(out, vec![good]);
}

#[test]
fn passes_plain_packets_through_untouched() {
    let p = tcp_packet(&[7; 10], 1, 0x10);
    let mut read = with_hdr([0; VNET_HDR_LEN], &p);
    let out = split_all(&mut read);
    assert_eq!(out, vec![p]);
}

#[test]
fn rejects_malformed_requests_without_panicking() {
    let p = tcp_packet(&[7; 10], 1, 0x10);
    // (A TSO request whose csum_start disagrees with the IP header is cut
    // by the IP header here, so it is not among the failures.)
    let cases = [
        hdr(0, GSO_TCPV6, 72, 0, 40, 16),
        hdr(0, 3, 72, 1200, 40, 16),
        hdr(F_NEEDS_CSUM, GSO_NONE, 0, 0, 40, 60000),
    ];
    for h in cases {
        let mut read = with_hdr(h, &p);
        assert!(split(&mut read, &mut Vec::new(), |_| {}).is_err(), "{h:?}");
    }
    assert!(split(&mut [0u8; 5], &mut Vec::new(), |_| {}).is_err());
    let mut short = with_hdr(hdr(0, GSO_TCPV6, 72, 1200, 40, 16), &p[..50]);
    assert!(split(&mut short, &mut Vec::new(), |_| {}).is_err());
}
