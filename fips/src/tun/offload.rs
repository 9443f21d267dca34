//! TUN offloads: the device is opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD` (checksum, TSO), so one read returns
//! up to 64 KiB of a TCP stream with a `virtio_net_hdr` in front, and one
//! write can hand the kernel a coalesced TCP super-packet.
//!
//! This module owns the header format and the read side: the split of a
//! super-packet into MTU-sized packets with their own lengths, sequence
//! numbers and checksums (`segment`, `split`). The write side is
//! `tun::coalesce`; opening the device with the header is
//! `Tun::create_with_offload`.

mod checksum;
mod segment;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

pub use segment::segment;

/// Bytes of `struct virtio_net_hdr` in front of every packet.
pub const VNET_HDR_LEN: usize = 10;

/// Turns one TUN read (virtio header + data) into IP packets of the
/// kernel's segment size, each passed to `emit` (see `segment`).
pub fn split(
    read: &mut [u8],
    scratch: &mut Vec<u8>,
    emit: impl FnMut(&[u8]),
) -> Result<(), OffloadError> {
    let hdr = VnetHdr::parse(read).ok_or(OffloadError::Truncated {
        what: "virtio_net_hdr",
        need: VNET_HDR_LEN,
        got: read.len(),
    })?;
    segment(&hdr, &mut read[VNET_HDR_LEN..], usize::MAX, scratch, emit).map(drop)
}

/// The largest read: a 64 KiB super-packet and its header.
pub const MAX_READ: usize = VNET_HDR_LEN + 65_535;

/// `flags`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum; the rest is for the receiver to add.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the packet's checksum is already verified.
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the stream uses ECN (CWR set on the first segment).
pub const GSO_ECN: u8 = 0x80;

/// Why a read from the device could not be cut into packets.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("TUN packet too short for its {what}: need {need} bytes, got {got}")]
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    #[error("TUN packet has an unsupported {what}: {value}")]
    Unsupported { what: &'static str, value: u32 },
}

/// `struct virtio_net_hdr` (legacy layout, native byte order as the TUN
/// driver uses it without `TUNSETVNETLE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header at the front of `b`; `None` when `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let h = b.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        Some(VnetHdr {
            flags: h[0],
            gso_type: h[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header in front of a packet written as it is: no GSO, and its
    /// checksums need no check (the mesh authenticated it end to end).
    pub fn for_write() -> [u8; VNET_HDR_LEN] {
        VnetHdr {
            flags: F_DATA_VALID,
            ..VnetHdr::default()
        }
        .to_bytes()
    }

    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}
