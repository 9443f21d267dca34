//! Tree coordinates on the wire: `count u16` then `count` NodeAddrs, self
//! first, root last. Used by LookupRequest/Response, SessionSetup/Ack, the
//! FSP CP section and PathBroken.

use super::field::{self, Field};
use super::reader::{put_len_u16, Reader};
use super::WireError;
use crate::addr::NodeAddr;

/// A node's ancestry from itself to the root (NodeAddrs only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Coords(pub Vec<NodeAddr>);

impl Coords {
    /// Size of the count prefix.
    pub const COUNT_LEN: usize = 2;

    /// Decodes coordinates at the start of `buf`; returns them and the bytes
    /// consumed. An empty list is allowed (CP sections and PathBroken use it).
    pub fn parse(buf: &[u8]) -> Result<(Coords, usize), WireError> {
        let mut r = Reader::new(buf, "coords");
        let coords = Self::read(&mut r)?;
        Ok((coords, buf.len() - r.remaining()))
    }

    /// Reads coordinates from a cursor. The count is checked against the
    /// bytes present before anything is allocated.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Coords, WireError> {
        let count = usize::from(r.u16()?);
        let raw = r.take(count * NodeAddr::LEN)?;
        let addrs = raw
            .chunks_exact(NodeAddr::LEN)
            .filter_map(NodeAddr::from_slice)
            .collect();
        Ok(Coords(addrs))
    }

    /// For views: the end of the list whose count is at `at`, checked
    /// against the bytes present (nothing is allocated).
    pub(crate) fn end_at(buf: &[u8], at: usize, what: &'static str) -> Result<usize, WireError> {
        field::need(buf, at + Self::COUNT_LEN, what)?;
        let end = Self::end_unchecked(buf, at);
        field::need(buf, end, what)?;
        Ok(end)
    }

    /// The end of a list whose count (at `at`) a view has already checked.
    pub(crate) fn end_unchecked(buf: &[u8], at: usize) -> usize {
        at + Self::COUNT_LEN + Self::count_at(buf, at) * NodeAddr::LEN
    }

    /// [`Coords::end_at`] for a list that must have at least one entry.
    pub(crate) fn nonempty_end_at(
        buf: &[u8],
        at: usize,
        what: &'static str,
    ) -> Result<usize, WireError> {
        let end = Self::end_at(buf, at, what)?;
        if Self::count_at(buf, at) == 0 {
            return Err(empty(what));
        }
        Ok(end)
    }

    fn count_at(buf: &[u8], at: usize) -> usize {
        usize::from(u16::get(buf, field::at(at, Self::COUNT_LEN)))
    }

    /// The list at `at`, already checked by [`Coords::end_at`].
    pub(crate) fn read_at(buf: &[u8], at: usize) -> Coords {
        let start = at + Self::COUNT_LEN;
        let raw = &buf[start..start + Self::count_at(buf, at) * NodeAddr::LEN];
        Coords(
            raw.chunks_exact(NodeAddr::LEN)
                .filter_map(NodeAddr::from_slice)
                .collect(),
        )
    }

    /// Writes count and addresses at `at` of a buffer sized for them;
    /// returns the end.
    pub(crate) fn write_at(addrs: &[NodeAddr], buf: &mut [u8], at: usize) -> usize {
        debug_assert!(addrs.len() <= usize::from(u16::MAX), "too many coordinates");
        (addrs.len() as u16).put(buf, field::at(at, Self::COUNT_LEN));
        let mut pos = at + Self::COUNT_LEN;
        for a in addrs {
            a.put(buf, field::at(pos, NodeAddr::LEN));
            pos += NodeAddr::LEN;
        }
        pos
    }

    /// Reads coordinates that must have at least one entry, as the reference
    /// requires everywhere except the CP section and PathBroken.
    pub(crate) fn read_nonempty(r: &mut Reader<'_>) -> Result<Coords, WireError> {
        let what = r.what();
        let coords = Self::read(r)?;
        if coords.0.is_empty() {
            return Err(empty(what));
        }
        Ok(coords)
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        Self::emit_slice(&self.0, out);
    }

    pub fn encoded_len(&self) -> usize {
        Self::slice_len(&self.0)
    }

    /// Encodes borrowed addresses (the data path's own coordinates).
    pub fn emit_slice(addrs: &[NodeAddr], out: &mut Vec<u8>) {
        put_len_u16(out, addrs.len());
        for a in addrs {
            out.extend_from_slice(a.as_bytes());
        }
    }

    pub fn slice_len(addrs: &[NodeAddr]) -> usize {
        Self::COUNT_LEN + addrs.len() * NodeAddr::LEN
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The node these coordinates describe (first entry).
    pub fn node(&self) -> Option<&NodeAddr> {
        self.0.first()
    }

    /// The root of the tree (last entry).
    pub fn root(&self) -> Option<&NodeAddr> {
        self.0.last()
    }
}

fn empty(what: &'static str) -> WireError {
    WireError::Invalid {
        what,
        reason: "coordinates with zero entries",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(b: u8) -> NodeAddr {
        NodeAddr([b; 16])
    }

    #[test]
    fn encodes_count_then_addresses() {
        let c = Coords(vec![addr(1), addr(2)]);
        let mut out = Vec::new();
        c.emit(&mut out);
        assert_eq!(out.len(), c.encoded_len());
        assert_eq!(&out[..2], &[2, 0]);
        assert_eq!(&out[2..18], &[1; 16]);
        assert_eq!(&out[18..], &[2; 16]);
        assert_eq!(Coords::parse(&out), Ok((c, 34)));
    }

    #[test]
    fn rejects_a_count_larger_than_the_bytes_present() {
        // Count 0xffff with one entry present: must fail without allocating 1 MiB.
        let mut bytes = vec![0xff, 0xff];
        bytes.extend_from_slice(&[7; 16]);
        assert_eq!(
            Coords::parse(&bytes),
            Err(WireError::Truncated {
                what: "coords",
                need: 2 + 0xffff * 16,
                got: 18
            })
        );
    }

    #[test]
    fn rejects_empty_coords_where_an_entry_is_required() {
        let mut r = Reader::new(&[0, 0], "LookupRequest");
        assert!(matches!(
            Coords::read_nonempty(&mut r),
            Err(WireError::Invalid {
                what: "LookupRequest",
                ..
            })
        ));
    }
}
