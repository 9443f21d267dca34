//! FSP session packets, the payload of a `SessionDatagram`.
//!
//! Same 4-byte prefix as FMP ([`Prefix`]); `payload_len` is the body length
//! after the prefix for handshakes and errors, and the inner plaintext
//! length (tag excluded) for encrypted messages.
//!
//! - phase 1 SessionSetup: `flags | src_coords | dst_coords | u16 33 | XK msg1`
//! - phase 2 SessionAck: `flags | responder_coords | initiator_coords | u16 57 | XK msg2`
//! - phase 3 SessionMsg3: `flags | u16 73 | XK msg3`
//! - phase 0, U clear: `counter u64` (prefix + counter = the 12-byte AEAD AD),
//!   then if CP `src_coords | dst_coords` in clear (not authenticated; counts
//!   may be 0), then ciphertext + tag
//! - phase 0, U set: a plaintext error ([`FspError`])
//!
//! Like the reference, handshake parsing ignores the prefix flags and any
//! bytes after the Noise message.

use super::field::{self, accessors, Field};
use super::fmp::Prefix;
use super::reader::{put_len_u16, Reader};
use super::{Coords, WireError, TAG_LEN};

pub use super::fsp_error::FspError;
pub use super::fsp_inner::{Data, FspInner, SessionMessage};

pub const PHASE_ESTABLISHED: u8 = 0x0;
pub const PHASE_SETUP: u8 = 0x1;
pub const PHASE_ACK: u8 = 0x2;
pub const PHASE_MSG3: u8 = 0x3;

/// Coordinates follow the header in clear.
pub const FLAG_CP: u8 = 0x01;
/// Key epoch, flipped on every rekey cutover.
pub const FLAG_K: u8 = 0x02;
/// Unencrypted: a plaintext error signal.
pub const FLAG_U: u8 = 0x04;

/// Noise XK message sizes.
pub const XK_MSG1_LEN: usize = 33;
pub const XK_MSG2_LEN: usize = 57;
pub const XK_MSG3_LEN: usize = 73;

/// Reads the prefix and checks the phase; returns a reader over the body.
fn body_reader<'a>(buf: &'a [u8], phase: u8, what: &'static str) -> Result<Reader<'a>, WireError> {
    let prefix = Prefix::parse(buf)?;
    if prefix.phase != phase {
        return Err(WireError::UnknownPhase {
            what,
            phase: prefix.phase,
        });
    }
    Ok(Reader::new(&buf[Prefix::LEN..], what))
}

/// Reads `hs_len u16` and exactly that many bytes, which must be `N`.
fn read_noise<const N: usize>(r: &mut Reader<'_>) -> Result<[u8; N], WireError> {
    let what = r.what();
    let len = usize::from(r.u16()?);
    let bytes = r.take(len)?;
    bytes.try_into().map_err(|_| WireError::BadLength {
        what,
        expected: N,
        got: len,
    })
}

/// Handshake prefix: version 0, the phase, flags 0, the body length.
fn emit_handshake(out: &mut Vec<u8>, phase: u8, body_len: usize) {
    out.extend_from_slice(&[phase, 0]);
    put_len_u16(out, body_len);
}

/// Parse and emit of the two handshake messages that carry
/// `flags | src_coords | dst_coords | hs_len u16 | noise` (Setup and Ack).
macro_rules! coords_handshake {
    ($msg:ident, $phase:expr, $noise_len:expr) => {
        impl $msg {
            pub fn parse(buf: &[u8]) -> Result<$msg, WireError> {
                let mut r = body_reader(buf, $phase, stringify!($msg))?;
                Ok($msg {
                    flags: r.u8()?,
                    src_coords: Coords::read_nonempty(&mut r)?,
                    dst_coords: Coords::read_nonempty(&mut r)?,
                    noise: read_noise(&mut r)?,
                })
            }

            fn body_len(&self) -> usize {
                1 + self.src_coords.encoded_len() + self.dst_coords.encoded_len() + 2 + $noise_len
            }

            pub fn emit(&self, out: &mut Vec<u8>) {
                emit_handshake(out, $phase, self.body_len());
                out.push(self.flags);
                self.src_coords.emit(out);
                self.dst_coords.emit(out);
                put_len_u16(out, $noise_len);
                out.extend_from_slice(&self.noise);
            }

            pub fn encoded_len(&self) -> usize {
                Prefix::LEN + self.body_len()
            }
        }
    };
}

/// XK message 1 with both endpoints' coordinates (phase 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSetup {
    /// Bit 0 REQUEST_ACK, bit 1 BIDIRECTIONAL; the reference ignores both.
    pub flags: u8,
    pub src_coords: Coords,
    pub dst_coords: Coords,
    pub noise: [u8; XK_MSG1_LEN],
}

coords_handshake!(SessionSetup, PHASE_SETUP, XK_MSG1_LEN);

/// XK message 2 with the responder's coordinates and the initiator's
/// echoed back (phase 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionAck {
    pub flags: u8,
    /// The responder's own coordinates.
    pub src_coords: Coords,
    /// The initiator's coordinates, echoed for return-path caches.
    pub dst_coords: Coords,
    pub noise: [u8; XK_MSG2_LEN],
}

coords_handshake!(SessionAck, PHASE_ACK, XK_MSG2_LEN);

/// XK message 3 (phase 3); carries no coordinates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMsg3 {
    pub flags: u8,
    pub noise: [u8; XK_MSG3_LEN],
}

impl SessionMsg3 {
    const BODY_LEN: usize = 1 + 2 + XK_MSG3_LEN;
    pub const LEN: usize = Prefix::LEN + Self::BODY_LEN;

    pub fn parse(buf: &[u8]) -> Result<SessionMsg3, WireError> {
        let mut r = body_reader(buf, PHASE_MSG3, "SessionMsg3")?;
        Ok(SessionMsg3 {
            flags: r.u8()?,
            noise: read_noise(&mut r)?,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_handshake(out, PHASE_MSG3, Self::BODY_LEN);
        out.push(self.flags);
        put_len_u16(out, XK_MSG3_LEN);
        out.extend_from_slice(&self.noise);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }
}

/// The clear part of an encrypted session message: the 12-byte header and,
/// with CP, both endpoints' coordinates. The ciphertext starts at
/// `encoded_len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FspEncryptedHeader {
    /// As on the wire; `emit` and `ad` set CP from `coords` and clear U.
    pub flags: u8,
    /// Inner plaintext length (timestamp + type + flags + body), tag excluded.
    pub payload_len: u16,
    pub counter: u64,
    /// `(src, dst)` when CP is set; either list may be empty.
    pub coords: Option<(Coords, Coords)>,
}

impl FspEncryptedHeader {
    pub const LEN: usize = enc_field::REST;
    /// Header plus an empty ciphertext's tag; shorter packets are dropped.
    pub const MIN_PACKET_LEN: usize = Self::LEN + TAG_LEN;

    /// Parses the clear part of a phase-0 packet with U clear and checks
    /// that a tag's worth of ciphertext follows; see
    /// [`EncryptedPacket::new_checked`].
    pub fn parse(buf: &[u8]) -> Result<FspEncryptedHeader, WireError> {
        EncryptedPacket::new_checked(buf).map(|v| v.header())
    }

    /// The flags byte as sent: CP iff coordinates are present, never U.
    pub fn wire_flags(&self) -> u8 {
        let cp = if self.coords.is_some() { FLAG_CP } else { 0 };
        (self.flags & !(FLAG_CP | FLAG_U)) | cp
    }

    /// The AEAD associated data: prefix + counter (coordinates excluded).
    pub fn ad(&self) -> [u8; 12] {
        encrypted_ad(self.wire_flags(), self.payload_len, self.counter)
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ad());
        if let Some((src, dst)) = &self.coords {
            src.emit(out);
            dst.emit(out);
        }
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
            + self
                .coords
                .as_ref()
                .map_or(0, |(s, d)| s.encoded_len() + d.encoded_len())
    }

    pub fn key_epoch(&self) -> bool {
        self.flags & FLAG_K != 0
    }
}

mod enc_field {
    use core::ops::Range;
    pub const PAYLOAD_LEN: Range<usize> = 2..4;
    pub const COUNTER: Range<usize> = 4..12;
    /// The CP section (two coordinate lists), or the ciphertext.
    pub const REST: usize = 12;
}

/// The first 12 bytes of an encrypted message, also its AEAD associated
/// data, for `flags` as they go on the wire.
pub fn encrypted_ad(flags: u8, payload_len: u16, counter: u64) -> [u8; FspEncryptedHeader::LEN] {
    let prefix = Prefix {
        phase: PHASE_ESTABLISHED,
        flags,
        payload_len,
    };
    let mut b = [0u8; FspEncryptedHeader::LEN];
    b[..Prefix::LEN].copy_from_slice(&prefix.to_bytes());
    counter.put(&mut b, enc_field::COUNTER);
    b
}

/// A checked view over an encrypted FSP message (phase 0, U clear): the
/// data path reads header and coordinates in place and decrypts the
/// ciphertext where it lies. `FspEncryptedHeader` is the value.
#[derive(Debug, Clone, Copy)]
pub struct EncryptedPacket<T: AsRef<[u8]>> {
    buf: T,
    flags: u8,
    ciphertext_at: usize,
}

accessors!(EncryptedPacket {
    payload_len / set_payload_len: u16 = enc_field::PAYLOAD_LEN,
    counter / set_counter: u64 = enc_field::COUNTER,
});

impl<T: AsRef<[u8]>> EncryptedPacket<T> {
    /// Checks the prefix (phase 0, U clear), that header and tag fit, walks
    /// the CP section's two coordinate counts, and checks that a tag's
    /// worth of ciphertext follows them.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "FSP encrypted header";
        let b = buf.as_ref();
        let prefix = Prefix::parse(b)?;
        if prefix.phase != PHASE_ESTABLISHED {
            return Err(WireError::UnknownPhase {
                what,
                phase: prefix.phase,
            });
        }
        field::need(b, FspEncryptedHeader::MIN_PACKET_LEN, what)?;
        if prefix.flags & FLAG_U != 0 {
            return Err(WireError::Invalid {
                what,
                reason: "U flag set: a plaintext error, not an encrypted message",
            });
        }
        let mut at = enc_field::REST;
        if prefix.flags & FLAG_CP != 0 {
            at = Coords::end_at(b, at, what)?;
            at = Coords::end_at(b, at, what)?;
        }
        field::need(b, at + TAG_LEN, what)?;
        Ok(EncryptedPacket {
            flags: prefix.flags,
            buf,
            ciphertext_at: at,
        })
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn key_epoch(&self) -> bool {
        self.flags & FLAG_K != 0
    }

    /// The AEAD associated data, as received.
    pub fn ad(&self) -> [u8; FspEncryptedHeader::LEN] {
        Field::get(self.buf.as_ref(), 0..FspEncryptedHeader::LEN)
    }

    /// The CP section's coordinates `(src, dst)`, when CP is set.
    pub fn coords(&self) -> Option<Result<(Coords, Coords), WireError>> {
        self.cp_coords().map(Ok)
    }

    fn cp_coords(&self) -> Option<(Coords, Coords)> {
        if self.flags & FLAG_CP == 0 {
            return None;
        }
        let b = self.buf.as_ref();
        let dst_at = Coords::end_unchecked(b, enc_field::REST);
        Some((
            Coords::read_at(b, enc_field::REST),
            Coords::read_at(b, dst_at),
        ))
    }

    /// Where the ciphertext (tag included) lies in the buffer.
    pub fn ciphertext_range(&self) -> core::ops::Range<usize> {
        self.ciphertext_at..self.buf.as_ref().len()
    }

    /// The value of the clear part.
    pub fn header(&self) -> FspEncryptedHeader {
        FspEncryptedHeader {
            flags: self.flags,
            payload_len: self.payload_len(),
            counter: self.counter(),
            coords: self.cp_coords(),
        }
    }
}

/// One classified FSP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FspPacket<'a> {
    Setup(SessionSetup),
    Ack(SessionAck),
    Msg3(SessionMsg3),
    /// `ciphertext` (tag included) starts at `header.encoded_len()`.
    Encrypted {
        header: FspEncryptedHeader,
        ciphertext: &'a [u8],
    },
    Error(FspError),
}

/// Classifies a session payload by phase and the U flag.
pub fn classify(buf: &[u8]) -> Result<FspPacket<'_>, WireError> {
    let prefix = Prefix::parse(buf)?;
    match prefix.phase {
        PHASE_SETUP => SessionSetup::parse(buf).map(FspPacket::Setup),
        PHASE_ACK => SessionAck::parse(buf).map(FspPacket::Ack),
        PHASE_MSG3 => SessionMsg3::parse(buf).map(FspPacket::Msg3),
        PHASE_ESTABLISHED if prefix.flags & FLAG_U != 0 => {
            FspError::parse(buf).map(FspPacket::Error)
        }
        PHASE_ESTABLISHED => {
            let header = FspEncryptedHeader::parse(buf)?;
            let ciphertext = &buf[header.encoded_len()..];
            Ok(FspPacket::Encrypted { header, ciphertext })
        }
        phase => Err(WireError::UnknownPhase {
            what: "FSP packet",
            phase,
        }),
    }
}

impl FspPacket<'_> {
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            FspPacket::Setup(m) => m.emit(out),
            FspPacket::Ack(m) => m.emit(out),
            FspPacket::Msg3(m) => m.emit(out),
            FspPacket::Encrypted { header, ciphertext } => {
                header.emit(out);
                out.extend_from_slice(ciphertext);
            }
            FspPacket::Error(m) => m.emit(out),
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            FspPacket::Setup(m) => m.encoded_len(),
            FspPacket::Ack(m) => m.encoded_len(),
            FspPacket::Msg3(m) => m.encoded_len(),
            FspPacket::Encrypted { header, ciphertext } => header.encoded_len() + ciphertext.len(),
            FspPacket::Error(m) => m.encoded_len(),
        }
    }
}

#[cfg(test)]
#[path = "fsp_tests.rs"]
mod tests;
