//! A bounds-checked cursor shared by the variable-length decoders.
//!
//! Every read checks the remaining length first and reports a `Truncated`
//! error measured from the start of the structure, so no decoder indexes a
//! slice it has not checked.

use super::WireError;
use crate::addr::NodeAddr;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn what(&self) -> &'static str {
        self.what
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated {
                what: self.what,
                need: self.pos.saturating_add(n),
                got: self.buf.len(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads the msg_type byte, which must be `want`.
    pub(crate) fn expect_type(&mut self, want: u8) -> Result<(), WireError> {
        let msg_type = self.u8()?;
        if msg_type != want {
            return Err(WireError::UnknownType {
                what: self.what(),
                msg_type,
            });
        }
        Ok(())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    #[cfg(test)]
    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn addr(&mut self) -> Result<NodeAddr, WireError> {
        Ok(NodeAddr(self.array()?))
    }

    /// Everything not read yet; the cursor moves to the end.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }
}

/// Appends a u16 length that the caller guarantees fits; FIPS frames are
/// bounded by the link MTU, so an overflow here is a local bug, not input.
pub(crate) fn put_len_u16(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len <= u16::MAX as usize, "length {len} does not fit a u16");
    out.extend_from_slice(&(len as u16).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_integers_in_order() {
        let bytes = [1, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 9];
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.u32(), Ok(0x1234_5678));
        assert_eq!(r.rest(), &[9]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn reports_truncation_from_the_start_of_the_structure() {
        let mut r = Reader::new(&[0u8; 5], "thing");
        r.u32().unwrap();
        assert_eq!(
            r.u16(),
            Err(WireError::Truncated {
                what: "thing",
                need: 6,
                got: 5
            })
        );
    }
}
