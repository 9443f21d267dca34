//! FilterAnnounce (link message 0x20): a peer's bloom filter.
//!
//! Layout: `0x20 | seq u64 | hash_count u8 | size_class u8 | filter`, where
//! the filter is `512 << size_class` bytes. v0.4.1 accepts only size class 1
//! (1024 bytes), so a message is exactly 1035 bytes. The hash count is
//! carried as sent; the bloom layer decides whether it is acceptable.

use super::reader::Reader;
use super::WireError;

pub const MSG_TYPE: u8 = 0x20;
/// The only size class v0.4.1 accepts.
pub const SIZE_CLASS_V1: u8 = 1;
pub const FILTER_LEN: usize = 512 << SIZE_CLASS_V1;
/// Hash functions per element in v1.
pub const HASH_COUNT_V1: u8 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterAnnounce {
    pub seq: u64,
    pub hash_count: u8,
    /// Bit `i` is `filter[i / 8] >> (i % 8) & 1`.
    pub filter: Box<[u8; FILTER_LEN]>,
}

impl FilterAnnounce {
    pub const HEADER_LEN: usize = 11;
    pub const LEN: usize = Self::HEADER_LEN + FILTER_LEN;

    /// Parses a whole link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<FilterAnnounce, WireError> {
        let mut r = Reader::new(buf, "FilterAnnounce");
        let msg_type = r.u8()?;
        if msg_type != MSG_TYPE {
            return Err(WireError::UnknownType {
                what: "FilterAnnounce",
                msg_type,
            });
        }
        let seq = r.u64()?;
        let hash_count = r.u8()?;
        let size_class = r.u8()?;
        if size_class != SIZE_CLASS_V1 {
            return Err(WireError::Invalid {
                what: "FilterAnnounce",
                reason: "size class must be 1 (1024-byte filter)",
            });
        }
        if buf.len() != Self::LEN {
            return Err(WireError::BadLength {
                what: "FilterAnnounce",
                expected: Self::LEN,
                got: buf.len(),
            });
        }
        let mut filter = Box::new([0u8; FILTER_LEN]);
        filter.copy_from_slice(r.rest());
        Ok(FilterAnnounce {
            seq,
            hash_count,
            filter,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(MSG_TYPE);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.hash_count);
        out.push(SIZE_CLASS_V1);
        out.extend_from_slice(&self.filter[..]);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FilterAnnounce {
        let mut filter = Box::new([0u8; FILTER_LEN]);
        filter[710] = 0x01; // bit 5680
        filter[1023] = 0x80;
        FilterAnnounce {
            seq: 7,
            hash_count: HASH_COUNT_V1,
            filter,
        }
    }

    #[test]
    fn encodes_to_1035_bytes_with_header_fields_in_order() {
        let f = sample();
        let mut out = Vec::new();
        f.emit(&mut out);
        assert_eq!(out.len(), 1035);
        assert_eq!(f.encoded_len(), 1035);
        assert_eq!(&out[..11], &[0x20, 7, 0, 0, 0, 0, 0, 0, 0, 5, 1]);
        assert_eq!(out[11 + 710], 0x01);
        assert_eq!(FilterAnnounce::parse(&out), Ok(f));
    }

    #[test]
    fn rejects_size_class_two() {
        let mut out = Vec::new();
        sample().emit(&mut out);
        out[10] = 2;
        assert!(matches!(
            FilterAnnounce::parse(&out),
            Err(WireError::Invalid { .. })
        ));
    }

    #[test]
    fn rejects_a_filter_one_byte_short() {
        let mut out = Vec::new();
        sample().emit(&mut out);
        out.pop();
        assert_eq!(
            FilterAnnounce::parse(&out),
            Err(WireError::BadLength {
                what: "FilterAnnounce",
                expected: 1035,
                got: 1034
            })
        );
    }
}
