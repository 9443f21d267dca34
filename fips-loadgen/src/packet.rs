//! The application datagrams the emulated leaves send each other through
//! the hub: IPv6/UDP packets between their fd00::/8 addresses, as a real
//! leaf's TUN would hand them to its node. Three ports: an echo request
//! (answered by the receiving leaf), its reply, and load (counted, not
//! answered).

use std::net::Ipv6Addr;

use fips_proto::ipv6::checksum;

/// Answered with [`REPLY`] by the receiving leaf.
pub const ECHO: u16 = 7;
/// The answer to an [`ECHO`].
pub const REPLY: u16 = 8;
/// Traffic load: counted by the receiver, not answered.
pub const LOAD: u16 = 9;

const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const NEXT_HEADER_UDP: u8 = 17;
const HOP_LIMIT: u8 = 64;

/// An IPv6/UDP packet from `src` to `dst` on port `port` (also the source
/// port) carrying `payload`, checksum filled in.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = UDP_HEADER + payload.len();
    let mut p = Vec::with_capacity(IPV6_HEADER + udp_len);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[NEXT_HEADER_UDP, HOP_LIMIT]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let sum = checksum::upper_layer(
        &src.octets(),
        &dst.octets(),
        NEXT_HEADER_UDP,
        &p[IPV6_HEADER..],
    );
    p[IPV6_HEADER + 6..IPV6_HEADER + 8].copy_from_slice(&sum.to_be_bytes());
    p
}

/// A received probe: who sent it, to which port, with what payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe<'a> {
    pub src: Ipv6Addr,
    pub port: u16,
    pub payload: &'a [u8],
}

/// Reads a packet built by [`udp6`]; `None` for anything else.
pub fn parse(p: &[u8]) -> Option<Probe<'_>> {
    if p.len() < IPV6_HEADER + UDP_HEADER || p[0] >> 4 != 6 || p[6] != NEXT_HEADER_UDP {
        return None;
    }
    let src: [u8; 16] = p[8..24].try_into().ok()?;
    let port = u16::from_be_bytes([p[IPV6_HEADER + 2], p[IPV6_HEADER + 3]]);
    Some(Probe {
        src: Ipv6Addr::from(src),
        port,
        payload: &p[IPV6_HEADER + UDP_HEADER..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_packet_parses_back_with_a_valid_checksum() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let p = udp6(a, b, ECHO, b"seq1");
        assert_eq!(p.len(), 52);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 12);
        // A packet whose checksum field is right sums to zero.
        assert_eq!(
            checksum::upper_layer(&a.octets(), &b.octets(), 17, &p[40..]),
            0
        );
        let got = parse(&p).expect("ours");
        assert_eq!((got.src, got.port, got.payload), (a, ECHO, &b"seq1"[..]));
    }

    #[test]
    fn parse_refuses_short_and_non_udp_packets() {
        assert_eq!(parse(&[0x60; 20]), None);
        let mut p = udp6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, LOAD, b"");
        p[6] = 58;
        assert_eq!(parse(&p), None);
    }
}
