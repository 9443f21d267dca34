//! Discovery: LookupRequest (0x30) and LookupResponse (0x31).
//!
//! Request: `0x30 | request_id u64 | target(16) | origin(16) | ttl u8 |
//! min_mtu u16 | origin_coords`, `46 + 16n` bytes.
//! Response: `0x31 | request_id u64 | target(16) | path_mtu u16 |
//! target_coords | proof(64)`, `93 + 16n` bytes. The proof signs
//! `request_id || target || coords` with the coords' count prefix included
//! and `path_mtu` left out, because transit hops rewrite it.
//!
//! [`LookupRequestView`] and [`LookupResponseView`] read and edit the bytes
//! in place (a transit hop lowers `ttl` or `path_mtu`); the values parse and
//! emit through them, so each offset is named once, in the views.

use super::field::{self, view};
use super::{Coords, WireError};
use crate::addr::NodeAddr;

pub const REQUEST_TYPE: u8 = 0x30;
pub const RESPONSE_TYPE: u8 = 0x31;
pub const PROOF_LEN: usize = 64;

/// Where a request's origin coordinates (`count u16` first) start.
const REQ_COORDS: usize = 44;
/// Where a response's target coordinates start; the proof follows them.
const RESP_COORDS: usize = 27;

view! {
    /// A checked view over an encoded LookupRequest (msg_type byte first).
    pub struct LookupRequestView {
        msg_type / set_msg_type: u8 = 0..1,
        request_id / set_request_id: u64 = 1..9,
        target / set_target: NodeAddr = 9..25,
        origin / set_origin: NodeAddr = 25..41,
        ttl / set_ttl: u8 = 41..42,
        min_mtu / set_min_mtu: u16 = 42..REQ_COORDS,
    }
}

impl<T: AsRef<[u8]>> LookupRequestView<T> {
    /// Checks the type byte, the fixed fields and a non-empty coordinate
    /// list. Trailing bytes are ignored like the reference does; pre-0.2
    /// nodes appended a "visited" filter there.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "LookupRequest";
        let b = buf.as_ref();
        field::check_message(b, REQUEST_TYPE, LookupRequest::BASE_LEN, what)?;
        Coords::nonempty_end_at(b, REQ_COORDS, what)?;
        Ok(LookupRequestView { buf })
    }

    pub fn origin_coords(&self) -> Coords {
        Coords::read_at(self.buf.as_ref(), REQ_COORDS)
    }

    pub fn to_value(&self) -> LookupRequest {
        LookupRequest {
            request_id: self.request_id(),
            target: self.target(),
            origin: self.origin(),
            ttl: self.ttl(),
            min_mtu: self.min_mtu(),
            origin_coords: self.origin_coords(),
        }
    }
}

view! {
    /// A checked view over an encoded LookupResponse (msg_type byte first).
    pub struct LookupResponseView {
        msg_type / set_msg_type: u8 = 0..1,
        request_id / set_request_id: u64 = 1..9,
        target / set_target: NodeAddr = 9..25,
        path_mtu / set_path_mtu: u16 = 25..RESP_COORDS,
    }
}

impl<T: AsRef<[u8]>> LookupResponseView<T> {
    /// Checks the type byte, a non-empty coordinate list and the proof
    /// after it; trailing bytes are ignored.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "LookupResponse";
        let b = buf.as_ref();
        field::check_message(b, RESPONSE_TYPE, RESP_COORDS + Coords::COUNT_LEN, what)?;
        let end = Coords::nonempty_end_at(b, RESP_COORDS, what)?;
        field::need(b, end + PROOF_LEN, what)?;
        Ok(LookupResponseView { buf })
    }

    pub fn target_coords(&self) -> Coords {
        Coords::read_at(self.buf.as_ref(), RESP_COORDS)
    }

    fn proof_range(&self) -> core::ops::Range<usize> {
        let end = Coords::end_unchecked(self.buf.as_ref(), RESP_COORDS);
        field::at(end, PROOF_LEN)
    }

    pub fn proof(&self) -> [u8; PROOF_LEN] {
        field::Field::get(self.buf.as_ref(), self.proof_range())
    }

    pub fn to_value(&self) -> LookupResponse {
        LookupResponse {
            request_id: self.request_id(),
            target: self.target(),
            path_mtu: self.path_mtu(),
            target_coords: self.target_coords(),
            proof: self.proof(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> LookupResponseView<T> {
    /// Writes the coordinate list; set it before the proof, which follows it.
    pub fn set_target_coords(&mut self, coords: &[NodeAddr]) {
        Coords::write_at(coords, self.buf.as_mut(), RESP_COORDS);
    }

    pub fn set_proof(&mut self, proof: [u8; PROOF_LEN]) {
        let r = self.proof_range();
        field::Field::put(proof, self.buf.as_mut(), r);
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> LookupRequestView<T> {
    pub fn set_origin_coords(&mut self, coords: &[NodeAddr]) {
        Coords::write_at(coords, self.buf.as_mut(), REQ_COORDS);
    }
}

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
    pub const BASE_LEN: usize = REQ_COORDS + Coords::COUNT_LEN;

    /// Parses a whole link message (msg_type byte included); see
    /// [`LookupRequestView::new_checked`].
    pub fn parse(buf: &[u8]) -> Result<LookupRequest, WireError> {
        LookupRequestView::new_checked(buf).map(|v| v.to_value())
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut v = LookupRequestView {
            buf: field::grow(out, self.encoded_len()),
        };
        v.set_msg_type(REQUEST_TYPE);
        v.set_request_id(self.request_id);
        v.set_target(self.target);
        v.set_origin(self.origin);
        v.set_ttl(self.ttl);
        v.set_min_mtu(self.min_mtu);
        v.set_origin_coords(&self.origin_coords.0);
    }

    pub fn encoded_len(&self) -> usize {
        REQ_COORDS + self.origin_coords.encoded_len()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResponse {
    pub request_id: u64,
    pub target: NodeAddr,
    pub path_mtu: u16,
    pub target_coords: Coords,
    pub proof: [u8; PROOF_LEN],
}

impl LookupResponse {
    pub const BASE_LEN: usize = RESP_COORDS + Coords::COUNT_LEN + PROOF_LEN;

    /// Parses a whole link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<LookupResponse, WireError> {
        LookupResponseView::new_checked(buf).map(|v| v.to_value())
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut v = LookupResponseView {
            buf: field::grow(out, self.encoded_len()),
        };
        v.set_msg_type(RESPONSE_TYPE);
        v.set_request_id(self.request_id);
        v.set_target(self.target);
        v.set_path_mtu(self.path_mtu);
        v.set_target_coords(&self.target_coords.0);
        v.set_proof(self.proof);
    }

    pub fn encoded_len(&self) -> usize {
        RESP_COORDS + self.target_coords.encoded_len() + PROOF_LEN
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
    use crate::wire::reader::Reader;
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
