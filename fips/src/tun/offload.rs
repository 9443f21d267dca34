//! TUN offloads: with `IFF_VNET_HDR` and TSO the kernel hands over up to
//! 64 KiB of one TCP stream in one read, with a virtio-net header saying
//! how to cut it. This module cuts such a super-packet into the IPv6/TCP
//! packets the mesh carries, and completes checksums the kernel left
//! partial. Pure functions over byte buffers; the device code does the I/O.

/// `struct virtio_net_hdr` (no mergeable buffers): 10 bytes, host order.
pub const VNET_HDR_LEN: usize = 10;

const F_NEEDS_CSUM: u8 = 1;
/// Tells the kernel the checksums of a packet we write are already valid
/// (the mesh authenticated it end to end).
pub const F_DATA_VALID: u8 = 2;
const GSO_NONE: u8 = 0;
const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;

const IPV6_HDR: usize = 40;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// The header the kernel put before a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header we put before packets we write: no GSO, checksums valid.
    pub fn for_write() -> [u8; VNET_HDR_LEN] {
        [F_DATA_VALID, GSO_NONE, 0, 0, 0, 0, 0, 0, 0, 0]
    }
}

/// Why a read could not be turned into packets (the read is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    #[error("read shorter than the virtio-net header")]
    NoHeader,
    #[error("unsupported GSO type {0:#x}")]
    GsoType(u8),
    #[error("checksum offsets outside the packet")]
    BadChecksumOffsets,
    #[error("TCP segmentation request does not describe an IPv6/TCP packet")]
    BadTcp,
}

/// Turns one TUN read (virtio-net header + data) into IPv6 packets, each
/// passed to `emit`. `scratch` is reused between calls.
pub fn split(
    read: &mut [u8],
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<(), OffloadError> {
    let hdr = VnetHdr::parse(read).ok_or(OffloadError::NoHeader)?;
    let packet = &mut read[VNET_HDR_LEN..];
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            if hdr.flags & F_NEEDS_CSUM != 0 {
                complete_checksum(packet, hdr.csum_start.into(), hdr.csum_offset.into())?;
            }
            emit(packet);
            Ok(())
        }
        GSO_TCPV6 => segment_tcp6(packet, hdr, scratch, emit),
        other => Err(OffloadError::GsoType(other)),
    }
}

/// Finishes a CHECKSUM_PARTIAL packet: the field holds the pseudo-header
/// sum; the checksum covers everything from `start`.
fn complete_checksum(packet: &mut [u8], start: usize, offset: usize) -> Result<(), OffloadError> {
    let field = start
        .checked_add(offset)
        .filter(|&f| f + 2 <= packet.len() && start < packet.len());
    let field = field.ok_or(OffloadError::BadChecksumOffsets)?;
    let sum = !fold(sum_bytes(&packet[start..], 0));
    packet[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Cuts a TSO super-packet into segments of `gso_size` payload bytes.
fn segment_tcp6(
    packet: &[u8],
    hdr: VnetHdr,
    out: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<(), OffloadError> {
    let tcp = usize::from(hdr.csum_start);
    if packet.len() < IPV6_HDR || packet[0] >> 4 != 6 || tcp < IPV6_HDR || tcp + 20 > packet.len() {
        return Err(OffloadError::BadTcp);
    }
    let tcp_len = usize::from(packet[tcp + 12] >> 4) * 4;
    let headers = tcp + tcp_len;
    let mss = usize::from(hdr.gso_size);
    if tcp_len < 20 || headers > packet.len() || mss == 0 {
        return Err(OffloadError::BadTcp);
    }
    let payload = &packet[headers..];
    let seq0 = u32::from_be_bytes([
        packet[tcp + 4],
        packet[tcp + 5],
        packet[tcp + 6],
        packet[tcp + 7],
    ]);
    let flags0 = packet[tcp + 13];
    let mut start = 0;
    loop {
        let end = (start + mss).min(payload.len());
        let last = end == payload.len();
        out.clear();
        out.extend_from_slice(&packet[..headers]);
        out.extend_from_slice(&payload[start..end]);
        let ip_payload = u16::try_from(out.len() - IPV6_HDR).map_err(|_| OffloadError::BadTcp)?;
        out[4..6].copy_from_slice(&ip_payload.to_be_bytes());
        let seq = seq0.wrapping_add(start as u32);
        out[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if !last {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if start > 0 {
            flags &= !TCP_CWR;
        }
        out[tcp + 13] = flags;
        tcp6_checksum(out, tcp);
        emit(out);
        if last {
            break;
        }
        start = end;
    }
    Ok(())
}

/// Writes the TCP checksum of an IPv6 packet whose TCP header starts at
/// `tcp` (extension headers before it are skipped by the offset).
fn tcp6_checksum(p: &mut [u8], tcp: usize) {
    p[tcp + 16..tcp + 18].copy_from_slice(&[0, 0]);
    let len = (p.len() - tcp) as u32;
    let mut sum = sum_bytes(&p[8..40], 0);
    sum += len >> 16;
    sum += len & 0xffff;
    sum += 6;
    let sum = !fold(sum_bytes(&p[tcp..], sum));
    p[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
}

/// One's-complement sum of big-endian 16-bit words (odd byte padded).
fn sum_bytes(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so the u32 never overflows on 64 KiB inputs.
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests;
