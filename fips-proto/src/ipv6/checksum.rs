//! The Internet checksum (RFC 1071) over an IPv6 pseudo-header, and the
//! incremental update of RFC 1624 used when we rewrite a few bytes.

/// Adds `data` as big-endian 16-bit words to a running one's-complement sum.
/// An odd trailing byte is padded with zero, as RFC 1071 requires.
pub fn add_bytes(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so a 64 KiB payload never overflows 32 bits.
        if sum & 0x8000_0000 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Folds a running sum to 16 bits and complements it.
pub fn finish(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sum of the IPv6 pseudo-header: source, destination, upper-layer
/// length and next header (RFC 8200 §8.1).
pub fn pseudo_header(src: &[u8; 16], dst: &[u8; 16], upper_len: u32, next_header: u8) -> u32 {
    let mut sum = add_bytes(0, src);
    sum = add_bytes(sum, dst);
    sum = sum
        .wrapping_add(upper_len >> 16)
        .wrapping_add(upper_len & 0xffff);
    sum.wrapping_add(u32::from(next_header))
}

/// Checksum of an upper-layer message whose checksum field is zero.
pub fn upper_layer(src: &[u8; 16], dst: &[u8; 16], next_header: u8, msg: &[u8]) -> u16 {
    let sum = pseudo_header(src, dst, msg.len() as u32, next_header);
    finish(add_bytes(sum, msg))
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from
/// `old` to `new`, without touching the rest of the message.
pub fn update_word(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    finish(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_sums_to_the_documented_value() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2 before complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(add_bytes(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_the_last_byte_with_zero() {
        assert_eq!(add_bytes(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_update_matches_a_full_recomputation() {
        let mut msg = [0x45u8, 0x00, 0x05, 0xb4, 0x12, 0x34, 0x00, 0x00];
        let before = finish(add_bytes(0, &msg));
        msg[2..4].copy_from_slice(&0x0477u16.to_be_bytes());
        let full = finish(add_bytes(0, &msg));
        assert_eq!(update_word(before, 0x05b4, 0x0477), full);
    }
}
