//! Discovery: LookupRequest (0x30) and LookupResponse (0x31).
//!
//! Request: `0x30 | request_id u64 | target(16) | origin(16) | ttl u8 |
//! min_mtu u16 | origin_coords`, `46 + 16n` bytes.
//! Response: `0x31 | request_id u64 | target(16) | path_mtu u16 |
//! target_coords | proof(64)`, `93 + 16n` bytes. The proof signs
//! `request_id || target || coords` with the coords' count prefix included
//! and `path_mtu` left out, because transit hops rewrite it.

use super::reader::Reader;
use super::{Coords, WireError};
use crate::addr::NodeAddr;

pub const REQUEST_TYPE: u8 = 0x30;
pub const RESPONSE_TYPE: u8 = 0x31;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupRequest {
    pub request_id: u64,
    pub target: NodeAddr,
    pub origin: NodeAddr,
    pub ttl: u8,
    /// Minimum transport MTU the origin requires (0 = none).
    pub min_mtu: u16,
    pub origin_coords: Coords,
}

impl LookupRequest {
    pub const BASE_LEN: usize = 46;

    /// Parses a whole link message (msg_type byte included). Trailing bytes
    /// are ignored like the reference does; pre-0.2 nodes appended a
    /// "visited" filter there.
    pub fn parse(buf: &[u8]) -> Result<LookupRequest, WireError> {
        let mut r = Reader::new(buf, "LookupRequest");
        r.expect_type(REQUEST_TYPE)?;
        Ok(LookupRequest {
            request_id: r.u64()?,
            target: r.addr()?,
            origin: r.addr()?,
            ttl: r.u8()?,
            min_mtu: r.u16()?,
            origin_coords: Coords::read_nonempty(&mut r)?,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(REQUEST_TYPE);
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(self.origin.as_bytes());
        out.push(self.ttl);
        out.extend_from_slice(&self.min_mtu.to_le_bytes());
        self.origin_coords.emit(out);
    }

    pub fn encoded_len(&self) -> usize {
        Self::BASE_LEN - Coords::COUNT_LEN + self.origin_coords.encoded_len()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResponse {
    pub request_id: u64,
    pub target: NodeAddr,
    pub path_mtu: u16,
    pub target_coords: Coords,
    pub proof: [u8; 64],
}

impl LookupResponse {
    pub const BASE_LEN: usize = 93;

    /// Parses a whole link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<LookupResponse, WireError> {
        let mut r = Reader::new(buf, "LookupResponse");
        r.expect_type(RESPONSE_TYPE)?;
        Ok(LookupResponse {
            request_id: r.u64()?,
            target: r.addr()?,
            path_mtu: r.u16()?,
            target_coords: Coords::read_nonempty(&mut r)?,
            proof: r.array()?,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(RESPONSE_TYPE);
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(&self.path_mtu.to_le_bytes());
        self.target_coords.emit(out);
        out.extend_from_slice(&self.proof);
    }

    pub fn encoded_len(&self) -> usize {
        Self::BASE_LEN - Coords::COUNT_LEN + self.target_coords.encoded_len()
    }

    /// What the target signs: `request_id_le || target || count u16 || coords`.
    pub fn proof_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24 + self.target_coords.encoded_len());
        b.extend_from_slice(&self.request_id.to_le_bytes());
        b.extend_from_slice(self.target.as_bytes());
        self.target_coords.emit(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vectors::kat;

    fn addr(b: u8) -> NodeAddr {
        NodeAddr([b; 16])
    }

    #[test]
    fn request_encodes_fields_in_order_and_round_trips() {
        let req = LookupRequest {
            request_id: 0x0102_0304_0506_0708,
            target: addr(0xaa),
            origin: addr(0xbb),
            ttl: 64,
            min_mtu: 0,
            origin_coords: Coords(vec![addr(0xbb), addr(0x11)]),
        };
        let mut out = Vec::new();
        req.emit(&mut out);
        assert_eq!(out.len(), 46 + 32);
        assert_eq!(req.encoded_len(), out.len());
        assert_eq!(&out[..9], &[0x30, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(out[41], 64);
        assert_eq!(&out[42..46], &[0, 0, 2, 0]);
        assert_eq!(LookupRequest::parse(&out), Ok(req));
    }

    #[test]
    fn request_ignores_a_trailing_v0_1_visited_filter() {
        let req = LookupRequest {
            request_id: 1,
            target: addr(1),
            origin: addr(2),
            ttl: 3,
            min_mtu: 1280,
            origin_coords: Coords(vec![addr(2)]),
        };
        let mut out = Vec::new();
        req.emit(&mut out);
        out.extend_from_slice(&[0; 257]);
        assert_eq!(LookupRequest::parse(&out), Ok(req));
    }

    #[test]
    fn response_proof_bytes_match_the_kat() {
        let proof_bytes = kat("lookup_response_proof_C", "proof_bytes");
        let mut r = Reader::new(&proof_bytes, "kat");
        let request_id = r.u64().unwrap();
        assert_eq!(request_id, 72623859790382856);
        let target = r.addr().unwrap();
        let target_coords = Coords::read(&mut r).unwrap();
        assert_eq!(r.remaining(), 0);
        let resp = LookupResponse {
            request_id,
            target,
            path_mtu: 1280,
            target_coords,
            proof: kat("lookup_response_proof_C", "proof_bip340_aux0")
                .try_into()
                .unwrap(),
        };
        assert_eq!(resp.proof_bytes(), proof_bytes);
        let mut out = Vec::new();
        resp.emit(&mut out);
        assert_eq!(out.len(), 93 + 16 * 3);
        assert_eq!(resp.encoded_len(), out.len());
        assert_eq!(LookupResponse::parse(&out), Ok(resp));
    }

    #[test]
    fn response_rejects_a_missing_proof() {
        let mut out = vec![0x31];
        out.extend_from_slice(&[0; 8 + 16 + 2]);
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&[5; 16]);
        out.extend_from_slice(&[0; 63]);
        assert!(matches!(
            LookupResponse::parse(&out),
            Err(WireError::Truncated {
                need: 109,
                got: 108,
                ..
            })
        ));
    }

    #[test]
    fn response_rejects_empty_coords() {
        let mut out = vec![0x31];
        out.extend_from_slice(&[0; 8 + 16 + 2]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&[0; 64]);
        assert!(matches!(
            LookupResponse::parse(&out),
            Err(WireError::Invalid { .. })
        ));
    }
}
