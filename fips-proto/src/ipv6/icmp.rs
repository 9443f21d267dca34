//! ICMPv6 errors the adapter hands back to the local kernel (RFC 4443):
//! Packet Too Big for packets over the effective MTU and Destination
//! Unreachable for destinations we cannot reach.

use super::checksum;
use super::packet::{HEADER_LEN, NEXT_HEADER_ICMPV6, OFF_DST, OFF_NEXT_HEADER, OFF_SRC};

pub const TYPE_DEST_UNREACHABLE: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Destination Unreachable code 0: no route to destination.
pub const CODE_NO_ROUTE: u8 = 0;

const ICMP_HEADER_LEN: usize = 8;
/// An ICMPv6 error must fit the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
const MIN_MTU: usize = 1280;
const MAX_QUOTE: usize = MIN_MTU - HEADER_LEN - ICMP_HEADER_LEN;
const HOP_LIMIT: u8 = 64;

/// Whether an error may be sent about `orig` (RFC 4443 §2.4 (e)): not about
/// another ICMPv6 error, nor to an unspecified or multicast source, nor about
/// a packet sent to a multicast group.
pub fn may_answer_with_error(orig: &[u8]) -> bool {
    if orig.len() < HEADER_LEN || orig[0] >> 4 != 6 {
        return false;
    }
    let src = &orig[OFF_SRC..OFF_SRC + 16];
    if src.iter().all(|&b| b == 0) || src[0] == 0xff || orig[OFF_DST] == 0xff {
        return false;
    }
    let is_icmp_error = orig[OFF_NEXT_HEADER] == NEXT_HEADER_ICMPV6
        && orig.len() > HEADER_LEN
        && orig[HEADER_LEN] < 128;
    !is_icmp_error
}

/// Builds Packet Too Big about `orig` into `out`. The error comes from
/// `orig`'s destination: Linux ignores a PTB whose source is one of its own
/// addresses, and the packet's destination is the "router" that could not
/// take it. Returns false (and leaves `out` empty) when no error is allowed.
pub fn packet_too_big(orig: &[u8], mtu: u32, out: &mut Vec<u8>) -> bool {
    if !may_answer_with_error(orig) {
        out.clear();
        return false;
    }
    let from = addr(orig, OFF_DST);
    build_error(orig, TYPE_PACKET_TOO_BIG, 0, mtu, &from, out);
    true
}

/// Builds Destination Unreachable (no route) about `orig`, sent from our own
/// address `ours`. Returns false when no error is allowed.
pub fn dest_unreachable(orig: &[u8], ours: &[u8; 16], out: &mut Vec<u8>) -> bool {
    if !may_answer_with_error(orig) {
        out.clear();
        return false;
    }
    build_error(orig, TYPE_DEST_UNREACHABLE, CODE_NO_ROUTE, 0, ours, out);
    true
}

fn build_error(orig: &[u8], typ: u8, code: u8, word: u32, from: &[u8; 16], out: &mut Vec<u8>) {
    let to = addr(orig, OFF_SRC);
    let quote = &orig[..orig.len().min(MAX_QUOTE)];
    build(Icmp { typ, code, word }, from, &to, quote, out);
}

/// The first eight bytes of an ICMPv6 message, checksum aside.
struct Icmp {
    typ: u8,
    code: u8,
    word: u32,
}

/// An IPv6 packet `from` -> `to` carrying `icmp` and `body`, checksummed.
fn build(icmp: Icmp, from: &[u8; 16], to: &[u8; 16], body: &[u8], out: &mut Vec<u8>) {
    let icmp_len = ICMP_HEADER_LEN + body.len();
    out.clear();
    out.reserve(HEADER_LEN + icmp_len);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(icmp_len as u16).to_be_bytes());
    out.extend_from_slice(&[NEXT_HEADER_ICMPV6, HOP_LIMIT]);
    out.extend_from_slice(from);
    out.extend_from_slice(to);
    out.extend_from_slice(&[icmp.typ, icmp.code, 0, 0]);
    out.extend_from_slice(&icmp.word.to_be_bytes());
    out.extend_from_slice(body);
    let sum = checksum::upper_layer(from, to, NEXT_HEADER_ICMPV6, &out[HEADER_LEN..]);
    out[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&sum.to_be_bytes());
}

/// An echo request or reply (`typ`) `from` -> `to`, for the tests and the
/// simulator's pings: the daemon never originates one.
#[cfg(any(test, feature = "sim"))]
pub(crate) fn echo(
    typ: u8,
    from: &[u8; 16],
    to: &[u8; 16],
    ident: u16,
    seq: u16,
    body: &[u8],
) -> Vec<u8> {
    let word = u32::from(ident) << 16 | u32::from(seq);
    let mut out = Vec::new();
    build(Icmp { typ, code: 0, word }, from, to, body, &mut out);
    out
}

fn addr(b: &[u8], off: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 16] = [0xfd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const DST: [u8; 16] = [0xfd, 0xaa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xbb];

    fn udp_packet(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        p[6] = 17;
        p[7] = 64;
        p[8..24].copy_from_slice(&SRC);
        p[24..40].copy_from_slice(&DST);
        p
    }

    /// An independent checksum: the textbook loop over the whole pseudo-header
    /// laid out in memory, as a receiving stack would verify it.
    fn verify(packet: &[u8]) -> bool {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&packet[8..40]);
        pseudo.extend_from_slice(&((packet.len() - 40) as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, packet[6]]);
        pseudo.extend_from_slice(&packet[40..]);
        if pseudo.len() % 2 == 1 {
            pseudo.push(0);
        }
        let mut s: u64 = 0;
        for w in pseudo.chunks(2) {
            s += u64::from(w[0]) << 8 | u64::from(w[1]);
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    #[test]
    fn packet_too_big_comes_from_the_destination_with_a_valid_checksum() {
        let orig = udp_packet(1300);
        let mut out = Vec::new();
        assert!(packet_too_big(&orig, 1203, &mut out));
        assert_eq!(out.len(), 1280, "quote is cut so the error fits 1280");
        assert_eq!(&out[8..24], &DST);
        assert_eq!(&out[24..40], &SRC);
        assert_eq!(out[40], TYPE_PACKET_TOO_BIG);
        assert_eq!(
            u32::from_be_bytes([out[44], out[45], out[46], out[47]]),
            1203
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([out[4], out[5]])),
            out.len() - 40
        );
        assert!(verify(&out));
    }

    #[test]
    fn dest_unreachable_comes_from_our_address_and_quotes_the_packet() {
        let orig = udp_packet(61);
        let ours = [0xfd; 16];
        let mut out = Vec::new();
        assert!(dest_unreachable(&orig, &ours, &mut out));
        assert_eq!(&out[8..24], &ours);
        assert_eq!(&out[24..40], &SRC);
        assert_eq!((out[40], out[41]), (TYPE_DEST_UNREACHABLE, CODE_NO_ROUTE));
        assert_eq!(&out[48..], &orig[..]);
        assert!(verify(&out), "odd-length quote must still checksum");
    }

    #[test]
    fn never_answers_an_icmp_error_or_a_multicast_destination() {
        let mut err = udp_packet(48);
        err[6] = NEXT_HEADER_ICMPV6;
        err[40] = TYPE_DEST_UNREACHABLE;
        let mut out = vec![1, 2, 3];
        assert!(!packet_too_big(&err, 1203, &mut out));
        assert!(out.is_empty());
        let mut mcast = udp_packet(48);
        mcast[24] = 0xff;
        assert!(!dest_unreachable(&mcast, &[0xfd; 16], &mut out));
        let mut echo = udp_packet(48);
        echo[6] = NEXT_HEADER_ICMPV6;
        echo[40] = TYPE_ECHO_REQUEST;
        assert!(may_answer_with_error(&echo));
    }
}
