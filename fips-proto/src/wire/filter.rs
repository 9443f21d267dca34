//! FilterAnnounce (link message 0x20): a peer's bloom filter.
//!
//! Layout: `0x20 | seq u64 | hash_count u8 | size_class u8 | filter`, where
//! the filter is `512 << size_class` bytes. v0.4.1 accepts only size class 1
//! (1024 bytes), so a message is exactly 1035 bytes. The hash count is
//! carried as sent; the bloom layer decides whether it is acceptable.
//! [`FilterAnnounceView`] reads the bytes in place; the value parses and
//! emits through it.

use super::field::{self, view, Field};
use super::WireError;

pub const MSG_TYPE: u8 = 0x20;
/// The only size class v0.4.1 accepts.
pub const SIZE_CLASS_V1: u8 = 1;
pub const FILTER_LEN: usize = 512 << SIZE_CLASS_V1;
/// Hash functions per element in v1.
pub const HASH_COUNT_V1: u8 = 5;

/// The filter bits, after the 11-byte header.
const FILTER: core::ops::Range<usize> = 11..11 + FILTER_LEN;

view! {
    /// A checked view over an encoded FilterAnnounce (msg_type byte first).
    pub struct FilterAnnounceView {
        msg_type / set_msg_type: u8 = 0..1,
        seq / set_seq: u64 = 1..9,
        hash_count / set_hash_count: u8 = 9..10,
        size_class / set_size_class: u8 = 10..FILTER.start,
    }
}

impl<T: AsRef<[u8]>> FilterAnnounceView<T> {
    /// Checks type, size class 1 and the exact length.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "FilterAnnounce";
        let b = buf.as_ref();
        field::check_message(b, MSG_TYPE, FilterAnnounce::HEADER_LEN, what)?;
        let view = FilterAnnounceView { buf };
        if view.size_class() != SIZE_CLASS_V1 {
            return Err(WireError::Invalid {
                what,
                reason: "size class must be 1 (1024-byte filter)",
            });
        }
        let got = view.buf.as_ref().len();
        if got != FilterAnnounce::LEN {
            return Err(WireError::BadLength {
                what,
                expected: FilterAnnounce::LEN,
                got,
            });
        }
        Ok(view)
    }

    /// The filter bits: bit `i` is `filter[i / 8] >> (i % 8) & 1`.
    pub fn filter(&self) -> &[u8] {
        &self.buf.as_ref()[FILTER]
    }

    pub fn to_value(&self) -> FilterAnnounce {
        FilterAnnounce {
            seq: self.seq(),
            hash_count: self.hash_count(),
            filter: Box::new(Field::get(self.buf.as_ref(), FILTER)),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FilterAnnounceView<T> {
    pub fn filter_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[FILTER]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterAnnounce {
    pub seq: u64,
    pub hash_count: u8,
    /// Bit `i` is `filter[i / 8] >> (i % 8) & 1`.
    pub filter: Box<[u8; FILTER_LEN]>,
}

impl FilterAnnounce {
    pub const HEADER_LEN: usize = FILTER.start;
    pub const LEN: usize = FILTER.end;

    /// Parses a whole link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<FilterAnnounce, WireError> {
        FilterAnnounceView::new_checked(buf).map(|v| v.to_value())
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut v = FilterAnnounceView {
            buf: field::grow(out, Self::LEN),
        };
        v.set_msg_type(MSG_TYPE);
        v.set_seq(self.seq);
        v.set_hash_count(self.hash_count);
        v.set_size_class(SIZE_CLASS_V1);
        v.filter_mut().copy_from_slice(&self.filter[..]);
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
