//! Plaintext FSP error signals (phase 0 with the U flag), sent by transit
//! routers back to a session's source.
//!
//! Body after the prefix: `msg_type | flags (reserved) | dest(16) |
//! reporter(16)`, then for PathBroken `last_coords` (count may be 0) and for
//! MtuExceeded `mtu u16`. CoordsRequired is 38 bytes on the wire,
//! MtuExceeded 40.

use super::field::{self, view, Field};
use super::fmp::Prefix;
use super::fsp::{FLAG_U, PHASE_ESTABLISHED};
use super::{Coords, WireError};
use crate::addr::NodeAddr;

pub const COORDS_REQUIRED: u8 = 0x20;
pub const PATH_BROKEN: u8 = 0x21;
pub const MTU_EXCEEDED: u8 = 0x22;

/// msg_type + flags + dest + reporter; the type's own field follows.
const COMMON_LEN: usize = 34;
/// MtuExceeded's `mtu u16`.
const MTU: core::ops::Range<usize> = COMMON_LEN..COMMON_LEN + 2;

view! {
    /// A checked view over an error's body (after the prefix).
    pub struct FspErrorView {
        msg_type / set_msg_type: u8 = 0..1,
        flags / set_flags: u8 = 1..2,
        dest / set_dest: NodeAddr = 2..18,
        reporter / set_reporter: NodeAddr = 18..COMMON_LEN,
    }
}

impl<T: AsRef<[u8]>> FspErrorView<T> {
    /// Checks the type, the common fields and the type's own field.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "FSP error";
        let body = buf.as_ref();
        let msg_type = *body.first().ok_or(WireError::Truncated {
            what,
            need: 1,
            got: 0,
        })?;
        if !matches!(msg_type, COORDS_REQUIRED | PATH_BROKEN | MTU_EXCEEDED) {
            return Err(WireError::UnknownType { what, msg_type });
        }
        field::need(body, COMMON_LEN, what)?;
        match msg_type {
            PATH_BROKEN => {
                Coords::end_at(body, COMMON_LEN, what)?;
            }
            MTU_EXCEEDED => field::need(body, MTU.end, what)?,
            _ => {}
        }
        Ok(FspErrorView { buf })
    }

    pub fn to_value(&self) -> FspError {
        let (dest, reporter, b) = (self.dest(), self.reporter(), self.buf.as_ref());
        match self.msg_type() {
            COORDS_REQUIRED => FspError::CoordsRequired { dest, reporter },
            PATH_BROKEN => FspError::PathBroken {
                dest,
                reporter,
                last_coords: Coords::read_at(b, COMMON_LEN),
            },
            _ => FspError::MtuExceeded {
                dest,
                reporter,
                mtu: Field::get(b, MTU),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FspError {
    /// A transit node had no coordinates for `dest`.
    CoordsRequired { dest: NodeAddr, reporter: NodeAddr },
    /// Greedy routing toward `dest` reached a dead end.
    PathBroken {
        dest: NodeAddr,
        reporter: NodeAddr,
        last_coords: Coords,
    },
    /// The datagram did not fit the next hop's link MTU.
    MtuExceeded {
        dest: NodeAddr,
        reporter: NodeAddr,
        mtu: u16,
    },
}

impl FspError {
    /// Parses a whole FSP packet (prefix included) whose U flag is set.
    pub fn parse(buf: &[u8]) -> Result<FspError, WireError> {
        let what = "FSP error";
        let prefix = Prefix::parse(buf)?;
        if prefix.phase != PHASE_ESTABLISHED {
            return Err(WireError::UnknownPhase {
                what,
                phase: prefix.phase,
            });
        }
        if prefix.flags & FLAG_U == 0 {
            return Err(WireError::Invalid {
                what,
                reason: "U flag clear: an encrypted message, not an error",
            });
        }
        Self::parse_body(&buf[Prefix::LEN..])
    }

    /// Parses the body after the prefix (msg_type first).
    pub fn parse_body(body: &[u8]) -> Result<FspError, WireError> {
        FspErrorView::new_checked(body).map(|v| v.to_value())
    }

    pub fn msg_type(&self) -> u8 {
        match self {
            FspError::CoordsRequired { .. } => COORDS_REQUIRED,
            FspError::PathBroken { .. } => PATH_BROKEN,
            FspError::MtuExceeded { .. } => MTU_EXCEEDED,
        }
    }

    pub fn dest(&self) -> NodeAddr {
        match self {
            FspError::CoordsRequired { dest, .. }
            | FspError::PathBroken { dest, .. }
            | FspError::MtuExceeded { dest, .. } => *dest,
        }
    }

    pub fn reporter(&self) -> NodeAddr {
        match self {
            FspError::CoordsRequired { reporter, .. }
            | FspError::PathBroken { reporter, .. }
            | FspError::MtuExceeded { reporter, .. } => *reporter,
        }
    }

    fn body_len(&self) -> usize {
        COMMON_LEN
            + match self {
                FspError::CoordsRequired { .. } => 0,
                FspError::PathBroken { last_coords, .. } => last_coords.encoded_len(),
                FspError::MtuExceeded { .. } => 2,
            }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let prefix = Prefix {
            phase: PHASE_ESTABLISHED,
            flags: FLAG_U,
            payload_len: self.body_len() as u16,
        };
        prefix.emit(out);
        let mut v = FspErrorView {
            buf: field::grow(out, self.body_len()),
        };
        v.set_msg_type(self.msg_type());
        v.set_dest(self.dest());
        v.set_reporter(self.reporter());
        match self {
            FspError::CoordsRequired { .. } => {}
            FspError::PathBroken { last_coords, .. } => {
                Coords::write_at(&last_coords.0, v.buf, COMMON_LEN);
            }
            FspError::MtuExceeded { mtu, .. } => mtu.put(v.buf, MTU),
        }
    }

    pub fn encoded_len(&self) -> usize {
        Prefix::LEN + self.body_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(b: u8) -> NodeAddr {
        NodeAddr([b; 16])
    }

    fn encode(e: &FspError) -> Vec<u8> {
        let mut out = Vec::new();
        e.emit(&mut out);
        assert_eq!(out.len(), e.encoded_len());
        assert_eq!(FspError::parse(&out).as_ref(), Ok(e));
        out
    }

    #[test]
    fn coords_required_is_38_bytes_with_u_flag_and_payload_len_34() {
        let out = encode(&FspError::CoordsRequired {
            dest: a(1),
            reporter: a(2),
        });
        assert_eq!(out.len(), 38);
        assert_eq!(&out[..6], &[0x00, 0x04, 34, 0, 0x20, 0]);
        assert_eq!(&out[6..22], &[1; 16]);
        assert_eq!(&out[22..], &[2; 16]);
    }

    #[test]
    fn mtu_exceeded_is_40_bytes_ending_in_the_mtu() {
        let out = encode(&FspError::MtuExceeded {
            dest: a(1),
            reporter: a(2),
            mtu: 1280,
        });
        assert_eq!(out.len(), 40);
        assert_eq!(&out[..5], &[0x00, 0x04, 36, 0, 0x22]);
        assert_eq!(&out[38..], &1280u16.to_le_bytes());
    }

    #[test]
    fn path_broken_carries_possibly_empty_stale_coords() {
        let empty = encode(&FspError::PathBroken {
            dest: a(1),
            reporter: a(2),
            last_coords: Coords::default(),
        });
        assert_eq!(empty.len(), 4 + 36);
        assert_eq!(&empty[38..], &[0, 0]);
        let one = encode(&FspError::PathBroken {
            dest: a(1),
            reporter: a(2),
            last_coords: Coords(vec![a(3)]),
        });
        assert_eq!(one.len(), 4 + 36 + 16);
        assert_eq!(one[4], 0x21);
    }

    #[test]
    fn rejects_an_unknown_error_type() {
        let mut out = Vec::new();
        FspError::CoordsRequired {
            dest: a(1),
            reporter: a(2),
        }
        .emit(&mut out);
        out[4] = 0x23;
        assert_eq!(
            FspError::parse(&out),
            Err(WireError::UnknownType {
                what: "FSP error",
                msg_type: 0x23
            })
        );
    }

    #[test]
    fn rejects_a_truncated_mtu_exceeded() {
        let mut out = Vec::new();
        FspError::MtuExceeded {
            dest: a(1),
            reporter: a(2),
            mtu: 9,
        }
        .emit(&mut out);
        out.pop();
        assert!(matches!(
            FspError::parse(&out),
            Err(WireError::Truncated {
                need: 36,
                got: 35,
                ..
            })
        ));
    }
}
