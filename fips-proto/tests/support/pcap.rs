//! A tiny reader for the captures in `testdata/captures/`: classic pcap
//! (either byte order, micro- or nanosecond stamps), Ethernet or Linux
//! cooked link layer, IPv4, UDP. Anything else is skipped, and malformed
//! records end the file with an error instead of a panic.
//!
//! The reference sends with UDP GSO, so one captured datagram may hold
//! several FMP frames back to back; [`split_fmp_frames`] separates them.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

/// One captured UDP datagram.
#[derive(Clone, Debug)]
pub struct UdpDatagram {
    /// Capture time in microseconds since the Unix epoch.
    pub ts_us: u64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_LINUX_SLL: u32 = 113;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;

/// Reads every IPv4/UDP datagram of a pcap file.
pub fn read_udp(path: &Path) -> Result<Vec<UdpDatagram>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_udp(&data).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_udp(data: &[u8]) -> Result<Vec<UdpDatagram>, String> {
    let header = data.get(..24).ok_or("shorter than the pcap file header")?;
    let (le, nanos) = match header[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Err(format!("not a pcap file (magic {:02x?})", &header[..4])),
    };
    let u32_at = |b: &[u8], off: usize| {
        let v: [u8; 4] = b[off..off + 4].try_into().expect("4 bytes");
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let linktype = u32_at(header, 20);
    let mut out = Vec::new();
    let mut off = 24;
    while off < data.len() {
        let rec = data
            .get(off..off + 16)
            .ok_or(format!("truncated record header at {off}"))?;
        let (secs, frac, incl) = (u32_at(rec, 0), u32_at(rec, 4), u32_at(rec, 8) as usize);
        let frame = data
            .get(off + 16..off + 16 + incl)
            .ok_or(format!("truncated record at {off}"))?;
        off += 16 + incl;
        let frac_us = if nanos { frac / 1000 } else { frac };
        let ts_us = u64::from(secs) * 1_000_000 + u64::from(frac_us);
        if let Some(ip) = ipv4_of(linktype, frame) {
            if let Some(d) = udp_of(ip, ts_us) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

fn ipv4_of(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    let (l2, ethertype_at) = match linktype {
        LINKTYPE_ETHERNET => (14, 12),
        LINKTYPE_LINUX_SLL => (16, 14),
        _ => return None,
    };
    let ethertype = u16::from_be_bytes(frame.get(ethertype_at..ethertype_at + 2)?.try_into().ok()?);
    (ethertype == ETHERTYPE_IPV4)
        .then(|| frame.get(l2..))
        .flatten()
}

fn udp_of(ip: &[u8], ts_us: u64) -> Option<UdpDatagram> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    // GSO super-packets are captured before segmentation; the UDP length
    // covers the whole batch, so it (not a per-segment size) bounds the payload.
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = ip.get(ihl..)?;
    let be16 = |o: usize| udp.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (sport, dport, ulen) = (be16(0)?, be16(2)?, usize::from(be16(4)?));
    let payload = udp.get(8..ulen.max(8))?.to_vec();
    Some(UdpDatagram {
        ts_us,
        src: SocketAddrV4::new(src_ip, sport),
        dst: SocketAddrV4::new(dst_ip, dport),
        payload,
    })
}

/// Splits a UDP payload into FMP frames by the common prefix: phase 0 is
/// 16 + payload_len + 16 bytes, phases 1 and 2 are 4 + payload_len.
pub fn split_fmp_frames(payload: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut frames = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let prefix = payload.get(off..off + 4).ok_or(format!(
            "{} stray bytes after the last frame",
            payload.len() - off
        ))?;
        let phase = prefix[0] & 0x0f;
        let payload_len = usize::from(u16::from_le_bytes([prefix[2], prefix[3]]));
        let len = if phase == 0 {
            16 + payload_len + 16
        } else {
            4 + payload_len
        };
        let frame = payload.get(off..off + len).ok_or(format!(
            "frame at {off} claims {len} bytes, only {} left",
            payload.len() - off
        ))?;
        frames.push(frame);
        off += len;
    }
    Ok(frames)
}
