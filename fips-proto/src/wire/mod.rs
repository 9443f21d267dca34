//! Wire formats: checked views and values for every FMP and FSP packet.
//!
//! This module owns the byte layouts of FIPS v0.4.1 and nothing else: no
//! crypto, no state, no policy. A message with fixed offsets has a checked
//! view (`XView<T: AsRef<[u8]>>::new_checked`, getters, and setters where a
//! hop edits in place) whose field ranges are the one place its offsets are
//! written down (`field.rs` reads and writes them); its value's
//! `parse(&[u8])` and `emit(&self, out)` go through the view. The FMP
//! handshake packets use the named ranges of `fmp`; the FSP handshakes,
//! which are count-prefixed sequences, a bounds-checked cursor. Parsing never
//! panics and never allocates more than the bytes present justify; `emit`
//! appends to the caller's buffer. All integers are little-endian except
//! inside the IPv6 header the shim rebuilds.
//!
//! Layers, outermost first:
//! - [`fmp`]: the link packet (4-byte prefix; IK msg1/msg2; established header).
//! - [`link`]: the decrypted link plaintext (`timestamp u32` + one link message).
//! - [`fsp`]: the session packet carried in a `SessionDatagram`.
//! - [`fsp_inner`]: the decrypted session plaintext and its message bodies.
//! - [`shim`]: IPv6 header compression for service port 256.

mod convert;
pub mod coords;
pub(crate) mod field;
pub mod filter;
pub mod fmp;
pub mod fsp;
pub mod fsp_error;
pub mod fsp_inner;
pub mod link;
pub mod lookup;
pub mod mmp;
mod reader;
pub mod shim;
pub mod tree;

#[cfg(test)]
mod vectors;
#[cfg(test)]
mod views_tests;

pub use coords::Coords;

/// Why bytes could not be decoded. Every variant names the structure being
/// decoded so a log line says what was wrong without the caller adding context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{what} truncated: need {need} bytes, got {got}")]
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    #[error("{what} has the wrong length: expected {expected} bytes, got {got}")]
    BadLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what} has unsupported version {version}")]
    UnsupportedVersion { what: &'static str, version: u8 },
    #[error("{what} has unknown phase {phase:#x}")]
    UnknownPhase { what: &'static str, phase: u8 },
    #[error("{what} has unknown message type {msg_type:#04x}")]
    UnknownType { what: &'static str, msg_type: u8 },
    #[error("{what} flags must be zero, got {flags:#04x}")]
    NonZeroFlags { what: &'static str, flags: u8 },
    #[error("{what} is invalid: {reason}")]
    Invalid {
        what: &'static str,
        reason: &'static str,
    },
}

/// Both FMP and FSP append one Poly1305 tag to every ciphertext.
pub use crate::noise::TAG_LEN;
