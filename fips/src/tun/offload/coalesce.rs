//! Write side: consecutive in-order segments of one IPv6 TCP flow become
//! one GSO super-packet, so the kernel runs its TCP receive path once per
//! 64 KiB instead of once per segment. Anything else is written as it is.
//! Only neighbours are merged, so packet order is never changed.

use super::checksum;
use super::segment::IPPROTO_TCP;
use super::{VnetHdr, F_NEEDS_CSUM, GSO_TCPV6, VNET_HDR_LEN};

const IPV6_HDR_LEN: usize = 40;
/// An IPv6 payload length field holds at most this.
const MAX_PAYLOAD: usize = 65_535;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// The run being built: a flow's headers and where its next segment starts.
#[derive(Clone, Copy, Debug)]
struct Run {
    tcp_hlen: usize,
    seg_size: usize,
    next_seq: u32,
    segments: usize,
    /// A shorter or PSH segment ended the run.
    closed: bool,
}

/// Builds write frames (virtio header + packet) for the TUN device.
#[derive(Debug, Default)]
pub struct Coalescer {
    frame: Vec<u8>,
    run: Option<Run>,
    /// Frames written and packets that went into them (cumulative).
    pub frames: u64,
    pub packets: u64,
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer {
            frame: Vec::with_capacity(VNET_HDR_LEN + MAX_PAYLOAD + IPV6_HDR_LEN),
            ..Coalescer::default()
        }
    }

    /// Adds an IP packet; if it cannot join the pending frame, the pending
    /// frame goes to `write` first.
    pub fn push(&mut self, packet: &[u8], mut write: impl FnMut(&[u8])) {
        self.packets += 1;
        if self.try_append(packet) {
            return;
        }
        self.flush(&mut write);
        self.frame.clear();
        self.frame.extend_from_slice(&VnetHdr::for_write());
        self.frame.extend_from_slice(packet);
        self.run = start_run(packet);
    }

    /// Writes the pending frame, if any.
    pub fn flush(&mut self, mut write: impl FnMut(&[u8])) {
        if self.frame.is_empty() {
            return;
        }
        if let Some(run) = self.run.filter(|r| r.segments > 1) {
            self.finish_super_packet(&run);
        }
        write(&self.frame);
        self.frames += 1;
        self.frame.clear();
        self.run = None;
    }

    fn try_append(&mut self, packet: &[u8]) -> bool {
        let Some(run) = self.run.as_mut().filter(|r| !r.closed) else {
            return false;
        };
        let pending = &self.frame[VNET_HDR_LEN..];
        let hlen = IPV6_HDR_LEN + run.tcp_hlen;
        let payload = packet.len().saturating_sub(hlen);
        let joins = packet.len() > hlen
            && payload <= run.seg_size
            && pending.len() - IPV6_HDR_LEN + payload <= MAX_PAYLOAD
            && same_headers(pending, packet, run.tcp_hlen)
            && seq(packet) == run.next_seq;
        if !joins {
            return false;
        }
        run.segments += 1;
        run.next_seq = run.next_seq.wrapping_add(payload as u32);
        let psh = packet[IPV6_HDR_LEN + 13] & TCP_PSH;
        run.closed = payload < run.seg_size || psh != 0;
        self.frame[VNET_HDR_LEN + IPV6_HDR_LEN + 13] |= psh;
        self.frame.extend_from_slice(&packet[hlen..]);
        true
    }

    /// Sets the lengths, the partial checksum and the GSO header.
    fn finish_super_packet(&mut self, run: &Run) {
        let p = &mut self.frame[VNET_HDR_LEN..];
        let l4_len = p.len() - IPV6_HDR_LEN;
        p[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        // The kernel adds the TCP header and payload to this sum.
        let partial = checksum::fold(checksum::pseudo_header(p, l4_len));
        p[IPV6_HDR_LEN + 16..IPV6_HDR_LEN + 18].copy_from_slice(&partial.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            hdr_len: (IPV6_HDR_LEN + run.tcp_hlen) as u16,
            gso_size: run.seg_size as u16,
            csum_start: IPV6_HDR_LEN as u16,
            csum_offset: 16,
        };
        self.frame[..VNET_HDR_LEN].copy_from_slice(&hdr.to_bytes());
    }
}

/// A run can start at a plain IPv6 TCP segment carrying data with only
/// ACK (and maybe PSH) set.
fn start_run(p: &[u8]) -> Option<Run> {
    if p.len() < IPV6_HDR_LEN + 20 || p[0] >> 4 != 6 || p[6] != IPPROTO_TCP {
        return None;
    }
    let tcp_hlen = usize::from(p[IPV6_HDR_LEN + 12] >> 4) * 4;
    let flags = p[IPV6_HDR_LEN + 13];
    let payload = p.len().checked_sub(IPV6_HDR_LEN + tcp_hlen)?;
    if tcp_hlen < 20 || payload == 0 || flags & !TCP_PSH != TCP_ACK {
        return None;
    }
    Some(Run {
        tcp_hlen,
        seg_size: payload,
        next_seq: seq(p).wrapping_add(payload as u32),
        segments: 1,
        closed: flags & TCP_PSH != 0,
    })
}

fn seq(p: &[u8]) -> u32 {
    let t = IPV6_HDR_LEN + 4;
    u32::from_be_bytes([p[t], p[t + 1], p[t + 2], p[t + 3]])
}

/// Same IPv6 header but the length, and the same TCP header but the
/// sequence number, checksum and PSH: what the kernel's own GRO requires.
fn same_headers(a: &[u8], b: &[u8], tcp_hlen: usize) -> bool {
    let t = IPV6_HDR_LEN;
    a[..4] == b[..4]
        && a[6..t] == b[6..t]
        && a[t..t + 4] == b[t..t + 4]
        && a[t + 8..t + 13] == b[t + 8..t + 13]
        && (a[t + 13] | TCP_PSH) == (b[t + 13] | TCP_PSH)
        && a[t + 14..t + 16] == b[t + 14..t + 16]
        && a[t + 18..t + tcp_hlen] == b[t + 18..t + tcp_hlen]
}
