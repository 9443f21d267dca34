//! The write side of TUN offload (GRO): consecutive IPv6/TCP segments of
//! one flow, as they come out of the mesh, are joined into one TSO
//! super-packet and written once, so the kernel's TCP receive path sees a
//! few large packets instead of many small ones. Pure byte work; the
//! device code writes the frames.
//!
//! Only the plain case is joined: IPv6 with TCP directly after the fixed
//! header, data-carrying segments with ACK (PSH allowed on the last), the
//! same addresses, ports and TCP header apart from seq/checksum/PSH,
//! contiguous sequence numbers, equal sizes with at most a shorter last.

use super::offload::{VnetHdr, VNET_HDR_LEN};

const IPV6_HDR: usize = 40;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
const F_NEEDS_CSUM: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// Room left in an IPv6 payload length (u16) for the joined segments.
const MAX_PAYLOAD: usize = 65535 - 60 - IPV6_HDR;
const MAX_SEGMENTS: usize = 64;

/// Joins segments into one frame (virtio-net header + packet).
#[derive(Default)]
pub struct Coalescer {
    frame: Vec<u8>,
    count: usize,
    seg_size: usize,
    next_seq: u32,
    /// The last joined segment was short or had PSH: nothing may follow.
    closed: bool,
}

/// The TCP fields of a packet that coalescing looks at.
struct Seg {
    tcp_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
}

fn parse(p: &[u8]) -> Option<Seg> {
    if p.len() < IPV6_HDR + 20 || p[0] >> 4 != 6 || p[6] != 6 {
        return None;
    }
    let ip_len = usize::from(u16::from_be_bytes([p[4], p[5]]));
    let tcp_len = usize::from(p[IPV6_HDR + 12] >> 4) * 4;
    if ip_len + IPV6_HDR != p.len() || tcp_len < 20 || IPV6_HDR + tcp_len > p.len() {
        return None;
    }
    let t = &p[IPV6_HDR..];
    let flags = t[13];
    let payload = p.len() - IPV6_HDR - tcp_len;
    // Data with ACK (and maybe PSH) only: SYN, FIN, RST, URG, ECE, CWR and
    // pure ACKs go as they are.
    if payload == 0 || flags & !(TCP_ACK | TCP_PSH) != 0 || flags & TCP_ACK == 0 {
        return None;
    }
    Some(Seg {
        tcp_len,
        payload,
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        flags,
    })
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer::default()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `packet`: joined to the frame being built, or, when it cannot
    /// be, `false` (call [`Coalescer::finish`], write, [`Coalescer::clear`],
    /// then push again; a packet that can never be joined starts a frame of
    /// its own).
    pub fn push(&mut self, packet: &[u8]) -> bool {
        if self.count == 0 {
            self.start(packet);
            return true;
        }
        let Some(seg) = self.joinable(packet) else {
            return false;
        };
        self.frame
            .extend_from_slice(&packet[IPV6_HDR + seg.tcp_len..]);
        self.count += 1;
        self.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        self.closed = seg.payload < self.seg_size || seg.flags & TCP_PSH != 0;
        if seg.flags & TCP_PSH != 0 {
            let flags_at = VNET_HDR_LEN + IPV6_HDR + 13;
            self.frame[flags_at] |= TCP_PSH;
        }
        true
    }

    fn start(&mut self, packet: &[u8]) {
        self.frame.clear();
        self.frame.extend_from_slice(&VnetHdr::for_write());
        self.frame.extend_from_slice(packet);
        self.count = 1;
        match parse(packet) {
            Some(seg) => {
                self.seg_size = seg.payload;
                self.next_seq = seg.seq.wrapping_add(seg.payload as u32);
                self.closed = seg.flags & TCP_PSH != 0;
            }
            None => self.closed = true,
        }
    }

    fn joinable(&self, p: &[u8]) -> Option<Seg> {
        if self.closed || self.count >= MAX_SEGMENTS {
            return None;
        }
        let seg = parse(p)?;
        let first = &self.frame[VNET_HDR_LEN..];
        let headers = IPV6_HDR + seg.tcp_len;
        let fits = seg.seq == self.next_seq
            && seg.payload <= self.seg_size
            && self.frame.len() - VNET_HDR_LEN - headers + seg.payload <= MAX_PAYLOAD
            && first.len() >= headers
            && same_headers(first, p, seg.tcp_len);
        fits.then_some(seg)
    }

    /// The frame to write: one packet behind a plain header, or a TSO
    /// super-packet with its header, lengths and pseudo-header checksum.
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.count == 0 {
            return None;
        }
        if self.count > 1 {
            self.seal();
        }
        Some(&self.frame)
    }

    pub fn clear(&mut self) {
        self.frame.clear();
        self.count = 0;
    }

    fn seal(&mut self) {
        let p = &mut self.frame[VNET_HDR_LEN..];
        let tcp_len = usize::from(p[IPV6_HDR + 12] >> 4) * 4;
        let ip_payload = (p.len() - IPV6_HDR) as u16;
        p[4..6].copy_from_slice(&ip_payload.to_be_bytes());
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the
        // kernel completes it per segment if it ever needs to.
        let mut sum: u32 = u32::from(ip_payload) + 6;
        for c in p[8..40].chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[IPV6_HDR + 16..IPV6_HDR + 18].copy_from_slice(&(sum as u16).to_be_bytes());
        let hdr_len = (IPV6_HDR + tcp_len) as u16;
        let mut h = [0u8; VNET_HDR_LEN];
        h[0] = F_NEEDS_CSUM;
        h[1] = GSO_TCPV6;
        h[2..4].copy_from_slice(&hdr_len.to_ne_bytes());
        h[4..6].copy_from_slice(&(self.seg_size as u16).to_ne_bytes());
        h[6..8].copy_from_slice(&(IPV6_HDR as u16).to_ne_bytes());
        h[8..10].copy_from_slice(&16u16.to_ne_bytes());
        self.frame[..VNET_HDR_LEN].copy_from_slice(&h);
    }
}

/// Same IPv6 header (but the payload length) and TCP header (but seq,
/// checksum and PSH).
fn same_headers(a: &[u8], b: &[u8], tcp_len: usize) -> bool {
    let (ta, tb) = (&a[IPV6_HDR..], &b[IPV6_HDR..]);
    a[..4] == b[..4]
        && a[6..IPV6_HDR] == b[6..IPV6_HDR]
        && ta[12] >> 4 == tb[12] >> 4
        && ta[..4] == tb[..4]
        && ta[8..13] == tb[8..13]
        && (ta[13] | TCP_PSH) == (tb[13] | TCP_PSH)
        && ta[14..16] == tb[14..16]
        && ta[18..tcp_len] == tb[18..tcp_len]
}

#[cfg(test)]
mod tests;
