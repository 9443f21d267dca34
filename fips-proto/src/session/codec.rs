//! The data path's use of the wire views: the SessionDatagram envelope
//! (read through `DatagramView`, so forwarding edits in place) and the FSP
//! encrypted header. Every layout lives in `wire::link` and `wire::fsp`;
//! the sizes here are theirs.

use crate::addr::NodeAddr;
use crate::wire::fsp::{encrypted_ad, FspEncryptedHeader};
use crate::wire::fsp_inner::FspInner;
use crate::wire::link::{DatagramView, SessionDatagram};
use crate::wire::Coords;

/// msg_type, ttl, path_mtu, src, dst.
pub const DG_HEADER: usize = SessionDatagram::HEADER_LEN;
/// FSP prefix + counter: the AEAD associated data.
pub const FSP_HEADER: usize = FspEncryptedHeader::LEN;
/// Inner header: timestamp, msg_type, inner_flags.
pub const INNER_HEADER: usize = FspInner::HEADER_LEN;

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
        let v = DatagramView::new_checked(msg).ok()?;
        Some(Envelope {
            ttl: v.ttl(),
            path_mtu: v.path_mtu(),
            src: v.src(),
            dst: v.dst(),
        })
    }

    /// Appends the header; the caller appends the payload after it.
    pub fn write(&self, out: &mut Vec<u8>) {
        SessionDatagram {
            ttl: self.ttl,
            path_mtu: self.path_mtu,
            src: self.src,
            dst: self.dst,
            payload: &[],
        }
        .emit(out);
    }
}

/// The 12-byte header (and AD) of an encrypted message.
pub fn fsp_header(flags: u8, payload_len: usize, counter: u64) -> [u8; FSP_HEADER] {
    encrypted_ad(flags, payload_len as u16, counter)
}

/// Appends a coordinate list (count u16 LE, then addresses).
pub fn put_coords(out: &mut Vec<u8>, coords: &[NodeAddr]) {
    Coords::emit_slice(coords, out);
}

pub fn coords_len(coords: &[NodeAddr]) -> usize {
    Coords::slice_len(coords)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::wire::fsp::{EncryptedPacket, FLAG_CP, FLAG_K};

    #[test]
    fn parses_a_cp_message_and_finds_the_ciphertext_after_both_lists() {
        let mut p = fsp_header(FLAG_CP | FLAG_K, 6, 9).to_vec();
        put_coords(&mut p, &[NodeAddr([1; 16]), NodeAddr([2; 16])]);
        put_coords(&mut p, &[]);
        p.extend_from_slice(&[0xee; 22]);
        let v = EncryptedPacket::new_checked(&p).expect("parses");
        assert_eq!(v.counter(), 9);
        assert!(v.key_epoch());
        assert_eq!(v.ciphertext_range(), 48..70);
    }

    #[test]
    fn rejects_truncated_coordinates_and_short_ciphertext() {
        let mut p = fsp_header(FLAG_CP, 6, 0).to_vec();
        p.extend_from_slice(&[5, 0]);
        p.extend_from_slice(&[0; 20]);
        assert!(EncryptedPacket::new_checked(&p).is_err());
        let short = fsp_header(0, 0, 0);
        assert!(EncryptedPacket::new_checked(&short).is_err());
    }
}
