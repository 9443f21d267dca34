//! The Internet checksum (RFC 1071) and the TCP pseudo-headers.

/// Adds `data` to a running ones'-complement sum (unfolded). Sums 32-bit
/// big-endian words: 2^16 = 1 modulo 0xffff, so the fold gives the same
/// result as 16-bit words, in half the additions.
pub(crate) fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

/// Folds a running sum to 16 bits (not complemented).
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum for TCP over the IP header at the front of
/// `packet` (v4 or v6) with `l4_len` bytes of TCP header and payload.
pub(crate) fn pseudo_header(packet: &[u8], l4_len: usize) -> u64 {
    if packet[0] >> 4 == 6 {
        add(0, &packet[8..40]) + l4_len as u64 + u64::from(super::segment::IPPROTO_TCP)
    } else {
        add(0, &packet[12..20]) + l4_len as u64 + u64::from(super::segment::IPPROTO_TCP)
    }
}
