//! Byte-level helpers for the data path: the SessionDatagram envelope and
//! the FSP encrypted header, read and written in place so forwarding and
//! delivery never build intermediate values. Layouts are `wire::link` and
//! `wire::fsp`'s; the handshake and error messages use those types directly.

use std::ops::Range;

use crate::addr::NodeAddr;
use crate::wire::fsp::{FLAG_CP, FLAG_K, FLAG_U, PHASE_ESTABLISHED};
use crate::wire::link::SESSION_DATAGRAM;
use crate::wire::TAG_LEN;

/// msg_type, ttl, path_mtu, src, dst.
pub const DG_HEADER: usize = 36;
pub const DG_TTL: usize = 1;
pub const DG_MTU: Range<usize> = 2..4;
pub const DG_SRC: Range<usize> = 4..20;
pub const DG_DST: Range<usize> = 20..36;
/// FSP prefix + counter: the AEAD associated data.
pub const FSP_HEADER: usize = 12;
/// Inner header: timestamp, msg_type, inner_flags.
pub const INNER_HEADER: usize = 6;
/// src_port, dst_port of a Data body.
pub const PORT_HEADER: usize = 4;

/// The envelope of a SessionDatagram link message.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    pub ttl: u8,
    pub path_mtu: u16,
    pub src: NodeAddr,
    pub dst: NodeAddr,
}

impl Envelope {
    pub fn read(msg: &[u8]) -> Option<Envelope> {
        if msg.len() < DG_HEADER || msg[0] != SESSION_DATAGRAM {
            return None;
        }
        Some(Envelope {
            ttl: msg[DG_TTL],
            path_mtu: u16::from_le_bytes([msg[2], msg[3]]),
            src: NodeAddr::from_slice(&msg[DG_SRC])?,
            dst: NodeAddr::from_slice(&msg[DG_DST])?,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(SESSION_DATAGRAM);
        out.push(self.ttl);
        out.extend_from_slice(&self.path_mtu.to_le_bytes());
        out.extend_from_slice(self.src.as_bytes());
        out.extend_from_slice(self.dst.as_bytes());
    }
}

/// Rewrites ttl and path_mtu of a datagram being forwarded.
pub fn set_ttl_and_mtu(msg: &mut [u8], ttl: u8, path_mtu: u16) {
    msg[DG_TTL] = ttl;
    msg[DG_MTU].copy_from_slice(&path_mtu.to_le_bytes());
}

/// Where the parts of an encrypted FSP message are.
#[derive(Debug, Clone)]
pub struct EncryptedView {
    pub flags: u8,
    pub counter: u64,
    pub ciphertext: Range<usize>,
}

impl EncryptedView {
    pub fn key_bit(&self) -> bool {
        self.flags & FLAG_K != 0
    }
}

/// Parses a phase-0, U-clear FSP message without copying anything.
pub fn parse_encrypted(p: &[u8]) -> Option<EncryptedView> {
    if p.len() < FSP_HEADER + TAG_LEN || p[0] != PHASE_ESTABLISHED || p[1] & FLAG_U != 0 {
        return None;
    }
    let flags = p[1];
    let counter = u64::from_le_bytes(p[4..12].try_into().ok()?);
    let mut at = FSP_HEADER;
    if flags & FLAG_CP != 0 {
        for _ in 0..2 {
            let n = usize::from(u16::from_le_bytes([*p.get(at)?, *p.get(at + 1)?]));
            at += 2 + n * NodeAddr::LEN;
        }
    }
    if p.len() < at + TAG_LEN {
        return None;
    }
    Some(EncryptedView {
        flags,
        counter,
        ciphertext: at..p.len(),
    })
}

/// The 12-byte header (and AD) of an encrypted message.
pub fn fsp_header(flags: u8, payload_len: usize, counter: u64) -> [u8; FSP_HEADER] {
    let mut h = [0u8; FSP_HEADER];
    h[0] = PHASE_ESTABLISHED;
    h[1] = flags;
    h[2..4].copy_from_slice(&(payload_len as u16).to_le_bytes());
    h[4..].copy_from_slice(&counter.to_le_bytes());
    h
}

/// Appends a coordinate list (count u16 LE, then addresses).
pub fn put_coords(out: &mut Vec<u8>, coords: &[NodeAddr]) {
    out.extend_from_slice(&(coords.len() as u16).to_le_bytes());
    for a in coords {
        out.extend_from_slice(a.as_bytes());
    }
}

pub fn coords_len(coords: &[NodeAddr]) -> usize {
    2 + coords.len() * NodeAddr::LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_cp_message_and_finds_the_ciphertext_after_both_lists() {
        let mut p = fsp_header(FLAG_CP | FLAG_K, 6, 9).to_vec();
        put_coords(&mut p, &[NodeAddr([1; 16]), NodeAddr([2; 16])]);
        put_coords(&mut p, &[]);
        p.extend_from_slice(&[0xee; 22]);
        let v = parse_encrypted(&p).expect("parses");
        assert_eq!(v.counter, 9);
        assert!(v.key_bit());
        assert_eq!(v.ciphertext, 48..70);
    }

    #[test]
    fn rejects_truncated_coordinates_and_short_ciphertext() {
        let mut p = fsp_header(FLAG_CP, 6, 0).to_vec();
        p.extend_from_slice(&[5, 0]);
        p.extend_from_slice(&[0; 20]);
        assert!(parse_encrypted(&p).is_none());
        let short = fsp_header(0, 0, 0);
        assert!(parse_encrypted(&short).is_none());
    }
}
