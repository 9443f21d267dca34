//! The IPv6 shim on service port 256: header compression format 0x00.
//!
//! The 40-byte IPv6 header shrinks to 7 bytes: `format 0x00 | raw header
//! bytes 0..4 (version, traffic class, flow label) | next_header |
//! hop_limit`. The reference docs describe the residual as a traffic class
//! byte and a 3-byte flow label; the reference code and the wire carry the
//! raw first four header bytes instead, which is what we do. The receiver
//! rebuilds the addresses from the session's NodeAddrs and the payload
//! length from the packet length, and forces the version nibble to 6.

use std::net::Ipv6Addr;

use super::WireError;

pub const FORMAT_COMPRESSED: u8 = 0x00;
pub const IPV6_HEADER_LEN: usize = 40;
/// Format byte + 6 residual bytes.
pub const SHIM_HEADER_LEN: usize = 7;
/// Bytes saved per packet: 40 - 7.
pub const SAVING: usize = IPV6_HEADER_LEN - SHIM_HEADER_LEN;

mod ip_field {
    use core::ops::Range;
    pub const VTF: Range<usize> = 0..4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

mod shim_field {
    use core::ops::Range;
    pub const FORMAT: usize = 0;
    pub const VTF: Range<usize> = 1..5;
    pub const NEXT_HEADER: usize = 5;
    pub const HOP_LIMIT: usize = 6;
}

/// The next-header byte of a shim (the upper layer starts at
/// `SHIM_HEADER_LEN`), without a full decompression.
pub fn next_header(shim: &[u8]) -> Option<u8> {
    shim.get(shim_field::NEXT_HEADER).copied()
}

/// Source and destination of an IPv6 packet, for the caller to check that
/// they are the session's endpoints before compressing them away.
pub fn ipv6_addrs(packet: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let src: [u8; 16] = packet.get(ip_field::SRC)?.try_into().ok()?;
    let dst: [u8; 16] = packet.get(ip_field::DST)?.try_into().ok()?;
    Some((src.into(), dst.into()))
}

/// Appends the shim payload for an IPv6 packet. Everything after the fixed
/// header is carried as the upper payload, as the reference does.
pub fn compress(ipv6_packet: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    if ipv6_packet.len() < IPV6_HEADER_LEN {
        return Err(WireError::Truncated {
            what: "IPv6 packet",
            need: IPV6_HEADER_LEN,
            got: ipv6_packet.len(),
        });
    }
    let version = ipv6_packet[0] >> 4;
    if version != 6 {
        return Err(WireError::UnsupportedVersion {
            what: "IPv6 packet",
            version,
        });
    }
    out.reserve(ipv6_packet.len() - SAVING);
    out.push(FORMAT_COMPRESSED);
    out.extend_from_slice(&ipv6_packet[ip_field::VTF]);
    out.push(ipv6_packet[ip_field::NEXT_HEADER]);
    out.push(ipv6_packet[ip_field::HOP_LIMIT]);
    out.extend_from_slice(&ipv6_packet[IPV6_HEADER_LEN..]);
    Ok(())
}

/// Appends the IPv6 packet rebuilt from a shim payload. `src` is the
/// sending session peer's address, `dst` ours (`NodeAddr::ipv6()`).
pub fn decompress(
    shim: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    if shim.len() < SHIM_HEADER_LEN {
        return Err(WireError::Truncated {
            what: "IPv6 shim",
            need: SHIM_HEADER_LEN,
            got: shim.len(),
        });
    }
    if shim[shim_field::FORMAT] != FORMAT_COMPRESSED {
        return Err(WireError::UnknownType {
            what: "IPv6 shim format",
            msg_type: shim[shim_field::FORMAT],
        });
    }
    let upper = &shim[SHIM_HEADER_LEN..];
    let payload_len = u16::try_from(upper.len()).map_err(|_| WireError::Invalid {
        what: "IPv6 shim",
        reason: "payload longer than 65535 bytes (jumbograms are not carried)",
    })?;
    out.reserve(IPV6_HEADER_LEN + upper.len());
    let vtf = &shim[shim_field::VTF];
    out.push(0x60 | (vtf[0] & 0x0f));
    out.extend_from_slice(&vtf[1..]);
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.push(shim[shim_field::NEXT_HEADER]);
    out.push(shim[shim_field::HOP_LIMIT]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(upper);
    Ok(())
}

/// Length of the packet `decompress` would produce.
pub fn decompressed_len(shim_len: usize) -> usize {
    shim_len.saturating_sub(SHIM_HEADER_LEN) + IPV6_HEADER_LEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::NodeAddr;
    use crate::wire::vectors::kat;

    fn packet(tc: u8, flow: u32, nh: u8, hl: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x60 | (tc >> 4),
            (tc << 4) | ((flow >> 16) as u8 & 0x0f),
            (flow >> 8) as u8,
            flow as u8,
        ];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[nh, hl]);
        p.extend_from_slice(&[0xfd; 16]);
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn kat_echo_request_compresses_to_the_kat_shim_payload_and_back() {
        let ip = kat("fsp_xk", "ipv6_packet");
        let shim = kat("fsp_xk", "ipv6_shim_payload");
        let mut out = Vec::new();
        compress(&ip, &mut out).unwrap();
        assert_eq!(out, shim);
        assert_eq!(out.len(), ip.len() - SAVING);
        // Rebuild with the addresses the session knows: A sent it to C.
        let node = |h: &str| NodeAddr::from_slice(&hex::decode(h).unwrap()).unwrap();
        let src = node("69e08d65cc3a6b9c2c2ac4bd405e4b0e").ipv6();
        let dst = node("aca221406950440c41d550280ed15a7f").ipv6();
        assert_eq!(ipv6_addrs(&ip), Some((src, dst)));
        let mut back = Vec::new();
        decompress(&shim, src, dst, &mut back).unwrap();
        assert_eq!(back, ip);
        assert_eq!(decompressed_len(shim.len()), ip.len());
    }

    #[test]
    fn residual_is_the_raw_first_four_header_bytes() {
        // Traffic class 0xAB and flow label 0xFEDCB: the doc's layout would
        // put 0xAB in byte 1; the wire carries 0x6A 0xBF 0xED 0xCB.
        let ip = packet(0xab, 0xfedcb, 17, 64, &[1, 2, 3]);
        let mut out = Vec::new();
        compress(&ip, &mut out).unwrap();
        assert_eq!(&out[..7], &[0x00, 0x6a, 0xbf, 0xed, 0xcb, 17, 64]);
        let mut back = Vec::new();
        decompress(&out, [0xfd; 16].into(), [0xfe; 16].into(), &mut back).unwrap();
        assert_eq!(back, ip);
    }

    #[test]
    fn decompress_rebuilds_addresses_and_length_from_context() {
        let shim = [0x00, 0x60, 0, 0, 0, 59, 1];
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ([0xfd; 16].into(), [0xfe; 16].into());
        let mut out = Vec::new();
        decompress(&shim, src, dst, &mut out).unwrap();
        assert_eq!(out, packet(0, 0, 59, 1, &[]));
    }

    #[test]
    fn decompress_forces_version_six() {
        let mut out = Vec::new();
        decompress(
            &[0, 0x0f, 0, 0, 0, 6, 1],
            [0; 16].into(),
            [0; 16].into(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], 0x6f);
    }

    #[test]
    fn compress_rejects_ipv4_and_short_packets() {
        let mut v4 = packet(0, 0, 6, 64, &[]);
        v4[0] = 0x45;
        let mut out = Vec::new();
        assert!(matches!(
            compress(&v4, &mut out),
            Err(WireError::UnsupportedVersion { version: 4, .. })
        ));
        assert!(matches!(
            compress(&v4[..39], &mut out),
            Err(WireError::Truncated {
                need: 40,
                got: 39,
                ..
            })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn decompress_rejects_unknown_formats_and_short_payloads() {
        let mut out = Vec::new();
        assert!(matches!(
            decompress(
                &[1, 0x60, 0, 0, 0, 6, 1],
                [0; 16].into(),
                [0; 16].into(),
                &mut out
            ),
            Err(WireError::UnknownType { msg_type: 1, .. })
        ));
        assert!(matches!(
            decompress(&[0; 6], [0; 16].into(), [0; 16].into(), &mut out),
            Err(WireError::Truncated {
                need: 7,
                got: 6,
                ..
            })
        ));
        assert!(out.is_empty());
    }
}
