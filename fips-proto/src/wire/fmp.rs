//! FMP link packets: one per UDP datagram, no extra framing.
//!
//! Every packet starts with the 4-byte common prefix
//! `version<<4 | phase`, `flags`, `payload_len u16`. Phase 1 is Noise IK
//! msg1 (exactly 114 bytes), phase 2 is msg2 (exactly 69 bytes), phase 0 is
//! an established frame whose 16-byte header is also the AEAD associated
//! data. The FSP prefix has the same layout, so [`Prefix`] serves both.

use super::field::{grow, Field};
use super::{WireError, TAG_LEN};

/// Protocol version carried in the high nibble of byte 0.
pub const VERSION: u8 = 0;
pub const PHASE_ESTABLISHED: u8 = 0x0;
pub const PHASE_MSG1: u8 = 0x1;
pub const PHASE_MSG2: u8 = 0x2;

/// Established-frame flags.
pub const FLAG_K: u8 = 0x01;
pub const FLAG_CE: u8 = 0x02;
pub const FLAG_SP: u8 = 0x04;

/// Noise IK message sizes carried in msg1 and msg2.
pub const NOISE_MSG1_LEN: usize = 106;
pub const NOISE_MSG2_LEN: usize = 57;

mod field {
    use core::ops::Range;
    pub const VER_PHASE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PAYLOAD_LEN: Range<usize> = 2..4;
    /// msg1 and msg2: the sender's index. Established: the receiver's index.
    pub const IDX0: Range<usize> = 4..8;
    /// msg2: echo of the initiator's index.
    pub const IDX1: Range<usize> = 8..12;
    pub const MSG1_NOISE: Range<usize> = 8..114;
    pub const MSG2_NOISE: Range<usize> = 12..69;
    pub const COUNTER: Range<usize> = 8..16;
}

/// The 4-byte common prefix of FMP and FSP packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub phase: u8,
    pub flags: u8,
    pub payload_len: u16,
}

impl Prefix {
    pub const LEN: usize = 4;

    /// Parses the prefix; rejects versions other than 0 and phases above 15
    /// cannot occur (4 bits). The phase is not interpreted here.
    pub fn parse(buf: &[u8]) -> Result<Prefix, WireError> {
        if buf.len() < Self::LEN {
            return Err(WireError::Truncated {
                what: "prefix",
                need: Self::LEN,
                got: buf.len(),
            });
        }
        let version = buf[field::VER_PHASE] >> 4;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "prefix",
                version,
            });
        }
        Ok(Prefix {
            phase: buf[field::VER_PHASE] & 0x0f,
            flags: buf[field::FLAGS],
            payload_len: Field::get(buf, field::PAYLOAD_LEN),
        })
    }

    pub fn to_bytes(&self) -> [u8; 4] {
        let len = self.payload_len.to_le_bytes();
        [
            (VERSION << 4) | (self.phase & 0x0f),
            self.flags,
            len[0],
            len[1],
        ]
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }

    /// Length of the whole FMP packet this prefix starts, for splitting
    /// coalesced datagrams (UDP GRO) or a byte stream. `None` for an
    /// unknown phase.
    pub fn frame_len(&self) -> Option<usize> {
        match self.phase {
            PHASE_ESTABLISHED => {
                Some(EstablishedHeader::LEN + usize::from(self.payload_len) + TAG_LEN)
            }
            PHASE_MSG1 => Some(Msg1::LEN),
            PHASE_MSG2 => Some(Msg2::LEN),
            _ => None,
        }
    }
}

/// Noise IK message 1 with the initiator's index (phase 1, 114 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg1 {
    pub sender_idx: u32,
    pub noise: [u8; NOISE_MSG1_LEN],
}

impl Msg1 {
    pub const LEN: usize = 114;

    pub fn parse(buf: &[u8]) -> Result<Msg1, WireError> {
        check_handshake(buf, PHASE_MSG1, Self::LEN, "IK msg1")?;
        Ok(Msg1 {
            sender_idx: Field::get(buf, field::IDX0),
            noise: Field::get(buf, field::MSG1_NOISE),
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let b = handshake_buf(out, PHASE_MSG1, Self::LEN);
        self.sender_idx.put(b, field::IDX0);
        self.noise.put(b, field::MSG1_NOISE);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }
}

/// Noise IK message 2 with both indices (phase 2, 69 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg2 {
    pub sender_idx: u32,
    /// Echo of the initiator's `sender_idx` from msg1.
    pub receiver_idx: u32,
    pub noise: [u8; NOISE_MSG2_LEN],
}

impl Msg2 {
    pub const LEN: usize = 69;

    pub fn parse(buf: &[u8]) -> Result<Msg2, WireError> {
        check_handshake(buf, PHASE_MSG2, Self::LEN, "IK msg2")?;
        Ok(Msg2 {
            sender_idx: Field::get(buf, field::IDX0),
            receiver_idx: Field::get(buf, field::IDX1),
            noise: Field::get(buf, field::MSG2_NOISE),
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let b = handshake_buf(out, PHASE_MSG2, Self::LEN);
        self.sender_idx.put(b, field::IDX0);
        self.receiver_idx.put(b, field::IDX1);
        self.noise.put(b, field::MSG2_NOISE);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }
}

/// Grows `out` by a whole handshake packet of `len` bytes with its prefix
/// written (flags 0, payload length `len - 4`); the caller fills the rest.
fn handshake_buf(out: &mut Vec<u8>, phase: u8, len: usize) -> &mut [u8] {
    let prefix = Prefix {
        phase,
        flags: 0,
        payload_len: (len - Prefix::LEN) as u16,
    };
    let b = grow(out, len);
    b[..Prefix::LEN].copy_from_slice(&prefix.to_bytes());
    b
}

/// The reference drops handshake packets of any other size or with flags set.
/// We also require the payload length to match the fixed size.
fn check_handshake(buf: &[u8], phase: u8, len: usize, what: &'static str) -> Result<(), WireError> {
    let prefix = Prefix::parse(buf)?;
    if prefix.phase != phase {
        return Err(WireError::UnknownPhase {
            what,
            phase: prefix.phase,
        });
    }
    if buf.len() != len {
        return Err(WireError::BadLength {
            what,
            expected: len,
            got: buf.len(),
        });
    }
    if prefix.flags != 0 {
        return Err(WireError::NonZeroFlags {
            what,
            flags: prefix.flags,
        });
    }
    // The reference does not check this field on handshakes but always
    // writes it correctly; rejecting a wrong one keeps parse/emit exact.
    if usize::from(prefix.payload_len) != len - Prefix::LEN {
        return Err(WireError::BadLength {
            what,
            expected: len - Prefix::LEN,
            got: usize::from(prefix.payload_len),
        });
    }
    Ok(())
}

/// The 16-byte header of an established frame; its bytes are the AEAD AD
/// and `counter` is the AEAD nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EstablishedHeader {
    pub flags: u8,
    /// Length of the inner plaintext (timestamp + link message), tag excluded.
    pub payload_len: u16,
    pub receiver_idx: u32,
    pub counter: u64,
}

impl EstablishedHeader {
    pub const LEN: usize = 16;
    /// Header plus an empty ciphertext's tag.
    pub const MIN_FRAME_LEN: usize = Self::LEN + TAG_LEN;

    /// Parses the header of an established frame; requires room for the tag
    /// as the reference does (32 bytes minimum).
    pub fn parse(buf: &[u8]) -> Result<EstablishedHeader, WireError> {
        let prefix = Prefix::parse(buf)?;
        if prefix.phase != PHASE_ESTABLISHED {
            return Err(WireError::UnknownPhase {
                what: "established frame",
                phase: prefix.phase,
            });
        }
        if buf.len() < Self::MIN_FRAME_LEN {
            return Err(WireError::Truncated {
                what: "established frame",
                need: Self::MIN_FRAME_LEN,
                got: buf.len(),
            });
        }
        Ok(EstablishedHeader {
            flags: prefix.flags,
            payload_len: prefix.payload_len,
            receiver_idx: Field::get(buf, field::IDX0),
            counter: Field::get(buf, field::COUNTER),
        })
    }

    /// The header bytes, which are also the AEAD associated data.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let prefix = Prefix {
            phase: PHASE_ESTABLISHED,
            flags: self.flags,
            payload_len: self.payload_len,
        };
        b[..Prefix::LEN].copy_from_slice(&prefix.to_bytes());
        self.receiver_idx.put(&mut b, field::IDX0);
        self.counter.put(&mut b, field::COUNTER);
        b
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }

    pub fn key_epoch(&self) -> bool {
        self.flags & FLAG_K != 0
    }
}

/// One classified FMP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FmpPacket<'a> {
    Msg1(Msg1),
    Msg2(Msg2),
    /// `ciphertext` is everything after the header, tag included; decrypt
    /// in place at offset [`EstablishedHeader::LEN`] of the datagram.
    Established {
        header: EstablishedHeader,
        ciphertext: &'a [u8],
    },
}

/// Classifies a received datagram by its phase and checks its framing.
pub fn classify(buf: &[u8]) -> Result<FmpPacket<'_>, WireError> {
    let prefix = Prefix::parse(buf)?;
    match prefix.phase {
        PHASE_ESTABLISHED => Ok(FmpPacket::Established {
            header: EstablishedHeader::parse(buf)?,
            ciphertext: &buf[EstablishedHeader::LEN..],
        }),
        PHASE_MSG1 => Msg1::parse(buf).map(FmpPacket::Msg1),
        PHASE_MSG2 => Msg2::parse(buf).map(FmpPacket::Msg2),
        phase => Err(WireError::UnknownPhase {
            what: "FMP packet",
            phase,
        }),
    }
}

impl FmpPacket<'_> {
    /// Re-encodes the packet (for established frames: header + ciphertext).
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            FmpPacket::Msg1(m) => m.emit(out),
            FmpPacket::Msg2(m) => m.emit(out),
            FmpPacket::Established { header, ciphertext } => {
                header.emit(out);
                out.extend_from_slice(ciphertext);
            }
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            FmpPacket::Msg1(_) => Msg1::LEN,
            FmpPacket::Msg2(_) => Msg2::LEN,
            FmpPacket::Established { ciphertext, .. } => EstablishedHeader::LEN + ciphertext.len(),
        }
    }
}

#[cfg(test)]
#[path = "fmp_tests.rs"]
mod tests;
