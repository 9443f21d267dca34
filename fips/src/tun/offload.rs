//! TUN offload, read side: the device is opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD` by tun-rs, so one read may hold a 64 KiB TSO/USO
//! super-packet behind a `virtio_net_hdr`. Cutting it into packets with
//! their own lengths, sequence numbers, flags and checksums is tun-rs's
//! `gso_split`; the write side (GRO) is its `send_multiple`
//! (`tun::device`).
//!
//! Ours is the check in front of `gso_split`, and the completion of a
//! partial checksum on a single packet. tun-rs does both in the private
//! `handle_virtio_read` behind `recv_multiple`, where they cannot be run
//! on a crafted packet, and there it lets through what must be refused:
//! a partial checksum whose field lies past the packet reaches its
//! unexported `gso_none_checksum`, which indexes without a bound (a
//! panic), and a TSO header over a packet whose IP header names another
//! protocol is cut as TCP. The check also cuts at the caller's packet
//! size when the kernel's segment size is larger, where tun-rs would
//! refuse the read.

#[cfg(test)]
mod gro_tests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

use std::io;

pub use tun_rs::VirtioNetHdr as VnetHdr;
pub use tun_rs::VIRTIO_NET_HDR_LEN as VNET_HDR_LEN;

/// `flags`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum; the rest is for the receiver to add.
/// (tun-rs exports only some of the header's constants; these are
/// `linux/virtio_net.h`'s.)
pub const F_NEEDS_CSUM: u8 = 1;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = tun_rs::VIRTIO_NET_HDR_GSO_TCPV4;
pub const GSO_TCPV6: u8 = tun_rs::VIRTIO_NET_HDR_GSO_TCPV6;
pub const GSO_UDP_L4: u8 = tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4;
/// `gso_type` bit: the stream uses ECN (CWR set on the first segment).
pub const GSO_ECN: u8 = 0x80;

/// The most packets one read is cut into (tun-rs's and wireguard-go's
/// batch size); a super-packet of more is refused.
pub const MAX_SEGMENTS: usize = tun_rs::IDEAL_BATCH_SIZE;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

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
    Unsupported { what: &'static str, value: usize },
    #[error("tun-rs could not split the TUN super-packet: {source}")]
    Split {
        #[source]
        source: io::Error,
    },
}

/// The header at the front of `read`.
pub fn parse_header(read: &[u8]) -> Result<VnetHdr, OffloadError> {
    let short = OffloadError::Truncated {
        what: "virtio_net_hdr",
        need: VNET_HDR_LEN,
        got: read.len(),
    };
    let bytes = read.get(..VNET_HDR_LEN).ok_or(short)?;
    VnetHdr::decode(bytes).map_err(|source| OffloadError::Split { source })
}

/// `hdr` as the device reads and writes it.
pub fn header_bytes(hdr: &VnetHdr) -> [u8; VNET_HDR_LEN] {
    let mut b = [0; VNET_HDR_LEN];
    // Cannot fail: the buffer is exactly the header's size.
    let _ = hdr.encode(&mut b);
    b
}

/// What one read held once cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One packet, left in place behind its header (its checksum
    /// completed there when the kernel left it partial).
    Whole,
    /// This many packets, in the [`Segments`].
    Segments(usize),
}

/// Where the packets of one super-packet land. Buffers are grown to what
/// the largest super-packet so far needed, then reused.
#[derive(Debug, Default)]
pub struct Segments {
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
}

impl Segments {
    /// The packets of the last [`split`] that returned [`Split::Segments`].
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.bufs[..self.count]
            .iter()
            .zip(&self.sizes)
            .map(|(b, &n)| &b[..n])
    }

    fn make_room(&mut self, count: usize, len: usize) {
        if self.bufs.len() < count {
            self.bufs.resize_with(count, Vec::new);
            self.sizes.resize(count, 0);
        }
        for b in &mut self.bufs[..count] {
            if b.len() < len {
                b.resize(len, 0);
            }
        }
    }
}

/// Cuts one read (`virtio_net_hdr` + data) into packets of at most `mtu`
/// bytes: the kernel's segment size, or `mtu` where that is smaller.
pub fn split(read: &mut [u8], mtu: usize, out: &mut Segments) -> Result<Split, OffloadError> {
    out.count = 0;
    let hdr = parse_header(read)?;
    let packet = &mut read[VNET_HDR_LEN..];
    if hdr.gso_type & !GSO_ECN == GSO_NONE {
        if hdr.flags & F_NEEDS_CSUM != 0 {
            complete_checksum(&hdr, packet)?;
        }
        return Ok(Split::Whole);
    }
    out.count = segment(hdr, packet, mtu, out)?;
    Ok(Split::Segments(out.count))
}

/// Finishes a partial checksum: the field holds the pseudo-header sum, so
/// the sum from `csum_start` to the end, complemented, is the checksum.
/// (What tun-rs's `gso_none_checksum` does, unexported and unchecked; the
/// sum is its exported `checksum`.)
fn complete_checksum(hdr: &VnetHdr, packet: &mut [u8]) -> Result<(), OffloadError> {
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    if field + 2 > packet.len() {
        return Err(OffloadError::Truncated {
            what: "checksum field",
            need: field + 2,
            got: packet.len(),
        });
    }
    let initial = u16::from_be_bytes([packet[field], packet[field + 1]]);
    packet[field..field + 2].fill(0);
    let sum = !tun_rs::checksum(&packet[start..], u64::from(initial));
    packet[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// A super-packet cut by tun-rs, with its headers taken from the packet
/// (not from the kernel's `hdr_len`/`csum_start`, as tun-rs does too).
fn segment(
    mut hdr: VnetHdr,
    packet: &mut [u8],
    mtu: usize,
    out: &mut Segments,
) -> Result<usize, OffloadError> {
    let l = Layout::of(hdr.gso_type, packet)?;
    let hlen = l.ip_hlen + l.l4_hlen;
    let seg = usize::from(hdr.gso_size).min(mtu.saturating_sub(hlen));
    if seg == 0 {
        return Err(OffloadError::Unsupported {
            what: "segment size",
            value: usize::from(hdr.gso_size),
        });
    }
    let count = (packet.len() - hlen).div_ceil(seg).max(1);
    if count > MAX_SEGMENTS {
        return Err(OffloadError::Unsupported {
            what: "number of segments",
            value: count,
        });
    }
    // All three fit in u16: hlen is at most the packet's length and seg
    // at most gso_size.
    hdr.csum_start = l.ip_hlen as u16;
    hdr.hdr_len = hlen as u16;
    hdr.gso_size = seg as u16;
    out.make_room(count, hlen + seg);
    let (bufs, sizes) = (&mut out.bufs[..count], &mut out.sizes[..count]);
    tun_rs::gso_split(packet, hdr, bufs, sizes, 0, l.is_v6)
        .map_err(|source| OffloadError::Split { source })
}

/// Where the headers of a super-packet end.
struct Layout {
    is_v6: bool,
    ip_hlen: usize,
    l4_hlen: usize,
}

impl Layout {
    fn of(gso_type: u8, p: &[u8]) -> Result<Layout, OffloadError> {
        let want = match gso_type & !GSO_ECN {
            GSO_TCPV4 | GSO_TCPV6 => IPPROTO_TCP,
            GSO_UDP_L4 => IPPROTO_UDP,
            other => return Err(unsupported("GSO type", other)),
        };
        let short = |what, need| OffloadError::Truncated {
            what,
            need,
            got: p.len(),
        };
        let (is_v6, ip_hlen, proto) = match p.first().map(|b| b >> 4) {
            None => return Err(short("IP header", 1)),
            Some(6) if p.len() >= 40 => (true, 40, p[6]),
            Some(4) if p.len() >= 20 => (false, usize::from(p[0] & 0x0f) * 4, p[9]),
            Some(4 | 6) => return Err(short("IP header", 40)),
            Some(v) => return Err(unsupported("IP version", v)),
        };
        // IPv6 extension headers or a short IPv4 IHL before the transport
        // header are not produced by the kernel on a TUN: refused rather
        // than misparsed.
        if proto != want || ip_hlen < 20 {
            return Err(unsupported("protocol under GSO", proto));
        }
        let l4_hlen = if proto == IPPROTO_UDP {
            8
        } else {
            let doff = p
                .get(ip_hlen + 12)
                .ok_or(short("TCP header", ip_hlen + 13))?;
            usize::from(doff >> 4) * 4
        };
        if l4_hlen < 8 || (proto == IPPROTO_TCP && l4_hlen < 20) || ip_hlen + l4_hlen > p.len() {
            return Err(short("transport header", ip_hlen + l4_hlen.max(20)));
        }
        Ok(Layout {
            is_v6,
            ip_hlen,
            l4_hlen,
        })
    }
}

fn unsupported(what: &'static str, value: u8) -> OffloadError {
    OffloadError::Unsupported {
        what,
        value: usize::from(value),
    }
}

/// What the crafted-packet tests call besides [`split`].
#[cfg(test)]
pub(crate) mod test_calls {
    use super::*;
    use crate::tun::device::GroBuf;
    use tun_rs::GROTable;

    /// The Internet checksum, for building and checking test packets.
    pub mod checksum {
        pub fn add(mut acc: u64, data: &[u8]) -> u64 {
            for c in data.chunks(2) {
                acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            acc
        }

        pub fn fold(mut acc: u64) -> u16 {
            while acc >> 16 != 0 {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        }

        /// The TCP pseudo-header sum of the IPv6 packet at `p`.
        pub fn pseudo_header(p: &[u8], l4_len: usize) -> u64 {
            add(0, &p[8..40]) + l4_len as u64 + 6
        }
    }

    /// [`split`] in the callback shape the tests were first written in:
    /// each packet of one read (header + data), cut at `mtu`.
    pub fn split_each(
        read: &mut [u8],
        mtu: usize,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<usize, OffloadError> {
        let mut out = Segments::default();
        match split(read, mtu, &mut out)? {
            Split::Whole => emit(&read[VNET_HDR_LEN..]),
            Split::Segments(_) => out.iter().for_each(&mut emit),
        }
        Ok(out.count.max(1))
    }

    /// The packets of the read `hdr` + `packet`, cut at `mtu`.
    pub fn segment(
        hdr: &VnetHdr,
        packet: &[u8],
        mtu: usize,
        emit: impl FnMut(&[u8]),
    ) -> Result<usize, OffloadError> {
        let mut read = header_bytes(hdr).to_vec();
        read.extend_from_slice(packet);
        split_each(&mut read, mtu, emit)
    }

    /// Packets joined as `send_multiple` joins them: the frames it would
    /// write (header + packet), in order. A run is joined into its first
    /// buffer; the later ones, which it then skips, are those the
    /// super-packet splits back into.
    pub fn join(packets: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
        let mut bufs: Vec<GroBuf> = packets
            .iter()
            .map(|p| GroBuf::holding(&[&[0u8; VNET_HDR_LEN][..], p].concat()))
            .collect();
        GROTable::new().apply_gro(&mut bufs, VNET_HDR_LEN, false)?;
        let bufs: Vec<Vec<u8>> = bufs.iter().map(|b| b.bytes().to_vec()).collect();
        let mut folded = Vec::new();
        for b in bufs.iter().filter(|b| b[1] != GSO_NONE) {
            let mut segs = Vec::new();
            split_each(&mut b.clone(), usize::MAX, |p| segs.push(p.to_vec()))
                .map_err(io::Error::other)?;
            folded.extend(segs.into_iter().skip(1));
        }
        Ok(bufs
            .into_iter()
            .filter(|b| b[1] != GSO_NONE || !folded.iter().any(|f| f[..] == b[VNET_HDR_LEN..]))
            .collect())
    }
}
