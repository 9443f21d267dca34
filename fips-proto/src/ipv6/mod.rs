//! IPv6 dataplane helpers: packet checks, ICMPv6 errors (Packet Too Big,
//! Destination Unreachable), TCP MSS clamping and the MTU arithmetic of the
//! IPv6 adapter. Pure functions over byte slices; the header compression
//! itself lives in `wire::shim`, and the decision of when to use these is
//! the dataplane's (`crate::session::dataplane`).

pub mod checksum;
pub mod icmp;
pub mod mss;
pub mod packet;

pub use packet::Ipv6Packet;

use crate::wire::fmp::EstablishedHeader;
use crate::wire::fsp::FspEncryptedHeader;
use crate::wire::fsp_inner::{Data, FspInner};
use crate::wire::link::{LinkInner, SessionDatagram};
use crate::wire::{shim, TAG_LEN};

/// Bytes the mesh adds to an IPv6 packet carried on port 256: link framing
/// (header, timestamp, tag: 36), the SessionDatagram header (36), FSP
/// header, inner header and tag (34), port header (4), minus the 33 bytes
/// the shim saves: 77, summed from the wire views' sizes.
pub const FIPS_IPV6_OVERHEAD: u16 = (EstablishedHeader::LEN
    + LinkInner::TIMESTAMP_LEN
    + TAG_LEN
    + SessionDatagram::HEADER_LEN
    + FspEncryptedHeader::LEN
    + FspInner::HEADER_LEN
    + TAG_LEN
    + Data::HEADER_LEN
    - shim::SAVING) as u16;

/// The largest IPv6 packet that fits a link MTU once encapsulated
/// (1203 for the default 1280).
pub fn effective_mtu(link_mtu: u16) -> u16 {
    link_mtu.saturating_sub(FIPS_IPV6_OVERHEAD)
}

/// Why an IPv6 packet from the TUN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6Error {
    #[error("IPv6 packet truncated: need 40 header bytes, got {len}")]
    Truncated { len: usize },
    #[error("not an IPv6 packet: version {version}")]
    NotIpv6 { version: u8 },
    #[error("IPv6 payload length {declared} does not match the {actual} bytes present")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("destination is outside fd00::/8")]
    NotFips,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_mtu_of_a_1280_link_is_1203() {
        assert_eq!(effective_mtu(1280), 1203);
        assert_eq!(effective_mtu(50), 0);
    }
}
