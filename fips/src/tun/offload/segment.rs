//! Read side: a TSO super-packet from the device becomes MTU-sized TCP
//! packets, each with its own IP length, TCP sequence number, flags and
//! full checksum; a packet that only needs its checksum gets it.

use super::checksum;
use super::{OffloadError, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6};

pub(crate) const IPPROTO_TCP: u8 = 6;
const IPV6_HDR_LEN: usize = 40;
const TCP_MIN_HDR_LEN: usize = 20;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Turns what one read returned after its `virtio_net_hdr` (`hdr`) into
/// packets of at most `mtu` bytes, handing each to `emit` in order.
/// `packet` may be modified (a checksum completed in place); `scratch` is
/// reused for the segments. Returns the number of packets emitted.
pub fn segment(
    hdr: &VnetHdr,
    packet: &mut [u8],
    mtu: usize,
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            if hdr.flags & F_NEEDS_CSUM != 0 {
                complete_checksum(hdr, packet)?;
            }
            emit(packet);
            Ok(1)
        }
        GSO_TCPV4 | GSO_TCPV6 => split_tcp(hdr, packet, mtu, scratch, emit),
        other => Err(OffloadError::Unsupported {
            what: "GSO type",
            value: u32::from(other),
        }),
    }
}

/// Finishes a partial checksum: the field holds the pseudo-header sum, so
/// the sum from `csum_start` to the end, complemented, is the checksum.
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
    let sum = !checksum::fold(checksum::add(0, &packet[start..]));
    packet[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Where the headers of a TCP packet end.
struct TcpLayout {
    ip_hlen: usize,
    tcp_hlen: usize,
}

fn tcp_layout(packet: &[u8]) -> Result<TcpLayout, OffloadError> {
    let short = |what, need| OffloadError::Truncated {
        what,
        need,
        got: packet.len(),
    };
    let version = packet.first().ok_or(short("IP header", 1))? >> 4;
    let (ip_hlen, proto) = match version {
        6 if packet.len() >= IPV6_HDR_LEN => (IPV6_HDR_LEN, packet[6]),
        4 if packet.len() >= 20 => (usize::from(packet[0] & 0x0f) * 4, packet[9]),
        6 | 4 => return Err(short("IP header", IPV6_HDR_LEN)),
        v => {
            return Err(OffloadError::Unsupported {
                what: "IP version",
                value: u32::from(v),
            })
        }
    };
    // Extension headers (v6) or options (v4) before TCP are not produced
    // by the kernel's TCP on a TUN; refuse rather than misparse.
    if proto != IPPROTO_TCP || ip_hlen < 20 {
        return Err(OffloadError::Unsupported {
            what: "protocol under TSO",
            value: u32::from(proto),
        });
    }
    let doff = packet
        .get(ip_hlen + 12)
        .ok_or(short("TCP header", ip_hlen + 13))?;
    let tcp_hlen = usize::from(doff >> 4) * 4;
    if tcp_hlen < TCP_MIN_HDR_LEN || ip_hlen + tcp_hlen > packet.len() {
        return Err(short("TCP header", ip_hlen + tcp_hlen.max(TCP_MIN_HDR_LEN)));
    }
    Ok(TcpLayout { ip_hlen, tcp_hlen })
}

fn split_tcp(
    hdr: &VnetHdr,
    packet: &[u8],
    mtu: usize,
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    let TcpLayout { ip_hlen, tcp_hlen } = tcp_layout(packet)?;
    let hlen = ip_hlen + tcp_hlen;
    let seg = usize::from(hdr.gso_size).min(mtu.saturating_sub(hlen));
    if seg == 0 {
        return Err(OffloadError::Unsupported {
            what: "segment size",
            value: u32::from(hdr.gso_size),
        });
    }
    let payload = &packet[hlen..];
    let seq0 = u32::from_be_bytes([
        packet[ip_hlen + 4],
        packet[ip_hlen + 5],
        packet[ip_hlen + 6],
        packet[ip_hlen + 7],
    ]);
    let count = payload.len().div_ceil(seg).max(1);
    for (i, chunk) in payload
        .chunks(seg)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        scratch.clear();
        scratch.extend_from_slice(&packet[..hlen]);
        scratch.extend_from_slice(chunk);
        fix_ip_header(scratch, ip_hlen, i);
        let tcp = &mut scratch[ip_hlen..];
        let seq = seq0.wrapping_add((i * seg) as u32);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        if i + 1 < count {
            tcp[13] &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            tcp[13] &= !TCP_CWR;
        }
        tcp[16..18].copy_from_slice(&[0, 0]);
        let l4_len = tcp_hlen + chunk.len();
        let sum = checksum::add(
            checksum::pseudo_header(scratch, l4_len),
            &scratch[ip_hlen..],
        );
        scratch[ip_hlen + 16..ip_hlen + 18].copy_from_slice(&(!checksum::fold(sum)).to_be_bytes());
        emit(scratch);
    }
    Ok(count)
}

/// Sets the IP length of segment `i` (and, for IPv4, its identification
/// and header checksum: the kernel numbers TSO segments consecutively).
fn fix_ip_header(p: &mut [u8], ip_hlen: usize, i: usize) {
    let len = p.len();
    if p[0] >> 4 == 6 {
        p[4..6].copy_from_slice(&((len - IPV6_HDR_LEN) as u16).to_be_bytes());
        return;
    }
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let id = u16::from_be_bytes([p[4], p[5]]).wrapping_add(i as u16);
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    let sum = !checksum::fold(checksum::add(0, &p[..ip_hlen]));
    p[10..12].copy_from_slice(&sum.to_be_bytes());
}
