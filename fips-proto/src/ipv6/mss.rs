//! TCP MSS clamping on SYN segments, so TCP over the mesh never builds
//! segments that exceed the effective MTU. Works on the bare TCP segment so
//! it applies equally to a full IPv6 packet and to a shim-compressed one;
//! the checksum is fixed up incrementally (RFC 1624), which needs neither
//! the addresses nor a pass over the payload.

use super::checksum;
use super::packet::{HEADER_LEN, NEXT_HEADER_TCP, OFF_NEXT_HEADER};

const TCP_MIN_HEADER: usize = 20;
const OFF_FLAGS: usize = 13;
const OFF_CHECKSUM: usize = 16;
const FLAG_SYN: u8 = 0x02;
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// The MSS that fits an effective IPv6 MTU: minus the IPv6 and TCP headers.
pub fn max_mss_for(effective_mtu: u16) -> u16 {
    effective_mtu.saturating_sub((HEADER_LEN + TCP_MIN_HEADER) as u16)
}

/// Lowers the MSS option of a SYN (or SYN-ACK) segment to `max_mss`.
/// Returns whether the segment was changed. Malformed options stop the scan
/// without touching anything.
pub fn clamp_tcp_segment(tcp: &mut [u8], max_mss: u16) -> bool {
    if tcp.len() < TCP_MIN_HEADER || tcp[OFF_FLAGS] & FLAG_SYN == 0 {
        return false;
    }
    let header_len = usize::from(tcp[12] >> 4) * 4;
    if header_len < TCP_MIN_HEADER || header_len > tcp.len() {
        return false;
    }
    let Some(at) = find_mss_option(&tcp[TCP_MIN_HEADER..header_len]) else {
        return false;
    };
    let at = TCP_MIN_HEADER + at;
    let old = u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    if old <= max_mss {
        return false;
    }
    tcp[at..at + 2].copy_from_slice(&max_mss.to_be_bytes());
    let sum = u16::from_be_bytes([tcp[OFF_CHECKSUM], tcp[OFF_CHECKSUM + 1]]);
    let new_sum = fixup(sum, old, max_mss, at);
    tcp[OFF_CHECKSUM..OFF_CHECKSUM + 2].copy_from_slice(&new_sum.to_be_bytes());
    true
}

/// Clamps the MSS of a full IPv6 packet whose next header is TCP.
pub fn clamp_ipv6_packet(packet: &mut [u8], max_mss: u16) -> bool {
    if packet.len() < HEADER_LEN || packet[OFF_NEXT_HEADER] != NEXT_HEADER_TCP {
        return false;
    }
    clamp_tcp_segment(&mut packet[HEADER_LEN..], max_mss)
}

/// The checksum sums 16-bit words aligned to the segment start; an MSS value
/// at an odd offset straddles two words, so it is updated byte-wise.
fn fixup(sum: u16, old: u16, new: u16, at: usize) -> u16 {
    if at & 1 == 0 {
        return checksum::update_word(sum, old, new);
    }
    let [oh, ol] = old.to_be_bytes();
    let [nh, nl] = new.to_be_bytes();
    let s = checksum::update_word(sum, u16::from(oh), u16::from(nh));
    checksum::update_word(s, u16::from(ol) << 8, u16::from(nl) << 8)
}

/// Offset of the MSS value (after kind and length) within the options.
fn find_mss_option(opts: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            OPT_END => return None,
            OPT_NOP => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == OPT_MSS && len == 4 {
                    return Some(i + 2);
                }
                i += len;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 16] = [0xfd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const DST: [u8; 16] = [0xfd, 9, 9, 9, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16];

    /// A SYN with the options `opts` and a correct checksum computed the
    /// slow way (full pass over pseudo-header and segment).
    fn syn(flags: u8, opts: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + opts.len();
        let mut p = vec![0u8; 40 + tcp_len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        p[6] = NEXT_HEADER_TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&SRC);
        p[24..40].copy_from_slice(&DST);
        p[40..42].copy_from_slice(&40000u16.to_be_bytes());
        p[42..44].copy_from_slice(&22u16.to_be_bytes());
        p[52] = ((tcp_len / 4) as u8) << 4;
        p[53] = flags;
        p[60..].copy_from_slice(opts);
        let sum = full_checksum(&p);
        p[56..58].copy_from_slice(&sum.to_be_bytes());
        p
    }

    fn full_checksum(p: &[u8]) -> u16 {
        let mut seg = p[40..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        let mut s = Vec::new();
        s.extend_from_slice(&p[8..40]);
        s.extend_from_slice(&(seg.len() as u32).to_be_bytes());
        s.extend_from_slice(&[0, 0, 0, 6]);
        s.extend_from_slice(&seg);
        let mut acc: u64 = 0;
        for w in s.chunks(2) {
            acc += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    fn mss_at(p: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([p[at], p[at + 1]])
    }

    #[test]
    fn max_mss_for_a_1203_byte_mtu_is_1143() {
        assert_eq!(max_mss_for(1203), 1143);
    }

    #[test]
    fn clamps_a_syn_and_keeps_the_checksum_valid() {
        let mut p = syn(FLAG_SYN, &[OPT_MSS, 4, 0x05, 0xa0, 1, 1, 4, 2]);
        assert!(clamp_ipv6_packet(&mut p, 1143));
        assert_eq!(mss_at(&p, 62), 1143);
        assert_eq!(mss_at(&p, 56), full_checksum(&p));
    }

    #[test]
    fn clamps_a_syn_ack_whose_mss_sits_at_an_odd_offset() {
        let mut p = syn(FLAG_SYN | 0x10, &[OPT_NOP, OPT_MSS, 4, 0xff, 0xc4, 0, 0, 0]);
        assert!(clamp_ipv6_packet(&mut p, 1143));
        assert_eq!(mss_at(&p, 63), 1143);
        assert_eq!(mss_at(&p, 56), full_checksum(&p));
    }

    #[test]
    fn leaves_small_mss_non_syn_and_malformed_options_alone() {
        let mut small = syn(FLAG_SYN, &[OPT_MSS, 4, 0x04, 0x00]);
        let before = small.clone();
        assert!(!clamp_ipv6_packet(&mut small, 1143));
        assert_eq!(small, before);
        let mut ack = syn(0x10, &[OPT_MSS, 4, 0x05, 0xa0]);
        assert!(!clamp_ipv6_packet(&mut ack, 1143));
        let mut bad = syn(FLAG_SYN, &[3, 9, 0, 0, OPT_MSS, 4, 0x05, 0xa0]);
        assert!(!clamp_ipv6_packet(&mut bad, 1143), "option overruns header");
    }
}
