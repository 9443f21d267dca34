//! TreeAnnounce (link message 0x10): a node's parent declaration plus its
//! ancestry to the root.
//!
//! Layout: `0x10 | version 0x01 | seq u64 | timestamp u64 | parent(16) |
//! count u16 | count × {node_addr(16), seq u64, timestamp u64} | signature(64)`,
//! `100 + 32n` bytes. The signature covers only the 48-byte declaration
//! `node || parent || seq || timestamp` (the reference docs say "entire
//! message"; the code and the wire say otherwise). [`TreeAnnounceView`]
//! reads the bytes in place; the value parses and emits through it.

use super::field::{self, view, Field};
use super::WireError;
use crate::addr::NodeAddr;

pub const MSG_TYPE: u8 = 0x10;
pub const VERSION_1: u8 = 0x01;
pub const SIGNATURE_LEN: usize = 64;

/// Where the ancestry entries start; the signature follows them.
const ENTRIES: usize = 36;

/// One ancestry entry, relative to its start.
mod entry_at {
    use core::ops::Range;
    pub const NODE: Range<usize> = 0..16;
    pub const SEQ: Range<usize> = 16..24;
    pub const TIMESTAMP: Range<usize> = 24..32;
}

/// The signed declaration `node || parent || seq_le || ts_le`.
mod decl_at {
    use core::ops::Range;
    pub const NODE: Range<usize> = 0..16;
    pub const PARENT: Range<usize> = 16..32;
    pub const SEQ: Range<usize> = 32..40;
    pub const TIMESTAMP: Range<usize> = 40..48;
    pub const LEN: usize = 48;
}

/// The 48 bytes a tree announce's sender signs. The tree and the wire value
/// both build it here.
pub fn declaration(node: NodeAddr, parent: NodeAddr, seq: u64, ts: u64) -> [u8; decl_at::LEN] {
    let mut b = [0u8; decl_at::LEN];
    node.put(&mut b, decl_at::NODE);
    parent.put(&mut b, decl_at::PARENT);
    seq.put(&mut b, decl_at::SEQ);
    ts.put(&mut b, decl_at::TIMESTAMP);
    b
}

/// One ancestor as relayed: its address and the seq/timestamp it declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AncestryEntry {
    pub node_addr: NodeAddr,
    pub seq: u64,
    pub timestamp: u64,
}

impl AncestryEntry {
    pub const LEN: usize = entry_at::TIMESTAMP.end;

    fn get(b: &[u8]) -> AncestryEntry {
        AncestryEntry {
            node_addr: Field::get(b, entry_at::NODE),
            seq: Field::get(b, entry_at::SEQ),
            timestamp: Field::get(b, entry_at::TIMESTAMP),
        }
    }

    fn put(&self, b: &mut [u8]) {
        self.node_addr.put(b, entry_at::NODE);
        self.seq.put(b, entry_at::SEQ);
        self.timestamp.put(b, entry_at::TIMESTAMP);
    }
}

view! {
    /// A checked view over an encoded TreeAnnounce (msg_type byte first).
    pub struct TreeAnnounceView {
        msg_type / set_msg_type: u8 = 0..1,
        version / set_version: u8 = 1..2,
        seq / set_seq: u64 = 2..10,
        timestamp / set_timestamp: u64 = 10..18,
        parent / set_parent: NodeAddr = 18..34,
        count / set_count: u16 = 34..ENTRIES,
    }
}

impl<T: AsRef<[u8]>> TreeAnnounceView<T> {
    /// Checks type, version, that the ancestry and the signature are
    /// present (before anything is allocated for them) and that the
    /// ancestry is not empty. Trailing bytes after the signature are
    /// ignored, as the reference does.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let what = "TreeAnnounce";
        let b = buf.as_ref();
        field::check_message(b, MSG_TYPE, TreeAnnounce::HEADER_LEN, what)?;
        let view = TreeAnnounceView { buf };
        if view.version() != VERSION_1 {
            return Err(WireError::UnsupportedVersion {
                what,
                version: view.version(),
            });
        }
        field::need(view.buf.as_ref(), view.signature_range().end, what)?;
        if view.count() == 0 {
            return Err(WireError::Invalid {
                what,
                reason: "ancestry must have at least one entry",
            });
        }
        Ok(view)
    }

    fn entry_range(&self, i: usize) -> core::ops::Range<usize> {
        field::at(ENTRIES + i * AncestryEntry::LEN, AncestryEntry::LEN)
    }

    fn signature_range(&self) -> core::ops::Range<usize> {
        field::at(
            self.entry_range(usize::from(self.count())).start,
            SIGNATURE_LEN,
        )
    }

    /// Ancestry entry `i` (self first, root last); `i < count()`.
    pub fn entry(&self, i: usize) -> AncestryEntry {
        AncestryEntry::get(&self.buf.as_ref()[self.entry_range(i)])
    }

    pub fn signature(&self) -> [u8; SIGNATURE_LEN] {
        Field::get(self.buf.as_ref(), self.signature_range())
    }

    pub fn to_value(&self) -> TreeAnnounce {
        TreeAnnounce {
            seq: self.seq(),
            timestamp: self.timestamp(),
            parent: self.parent(),
            ancestry: (0..usize::from(self.count()))
                .map(|i| self.entry(i))
                .collect(),
            signature: self.signature(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TreeAnnounceView<T> {
    /// Writes entry `i`; `count` must already cover it.
    pub fn set_entry(&mut self, i: usize, entry: &AncestryEntry) {
        let r = self.entry_range(i);
        entry.put(&mut self.buf.as_mut()[r]);
    }

    /// Writes the signature after the ancestry `count` says is there.
    pub fn set_signature(&mut self, signature: [u8; SIGNATURE_LEN]) {
        let r = self.signature_range();
        signature.put(self.buf.as_mut(), r);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeAnnounce {
    pub seq: u64,
    /// Unix seconds.
    pub timestamp: u64,
    /// The sender's parent; equal to the sender for a root.
    pub parent: NodeAddr,
    /// Self first, root last; never empty once parsed.
    pub ancestry: Vec<AncestryEntry>,
    pub signature: [u8; SIGNATURE_LEN],
}

impl TreeAnnounce {
    /// msg_type, version, seq, timestamp, parent, count.
    pub const HEADER_LEN: usize = ENTRIES;
    pub const SIGNATURE_LEN: usize = SIGNATURE_LEN;
    /// `100 + 32n`.
    pub const BASE_LEN: usize = Self::HEADER_LEN + Self::SIGNATURE_LEN;

    /// Parses a whole link message (msg_type byte included); see
    /// [`TreeAnnounceView::new_checked`].
    pub fn parse(buf: &[u8]) -> Result<TreeAnnounce, WireError> {
        TreeAnnounceView::new_checked(buf).map(|v| v.to_value())
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut v = TreeAnnounceView {
            buf: field::grow(out, self.encoded_len()),
        };
        v.set_msg_type(MSG_TYPE);
        v.set_version(VERSION_1);
        v.set_seq(self.seq);
        v.set_timestamp(self.timestamp);
        v.set_parent(self.parent);
        debug_assert!(self.ancestry.len() <= usize::from(u16::MAX));
        v.set_count(self.ancestry.len() as u16);
        for (i, e) in self.ancestry.iter().enumerate() {
            v.set_entry(i, e);
        }
        v.set_signature(self.signature);
    }

    pub fn encoded_len(&self) -> usize {
        Self::BASE_LEN + AncestryEntry::LEN * self.ancestry.len()
    }

    /// The sender: the first ancestry entry (zero address if there is none,
    /// which only a locally built, unsent value can have).
    pub fn node_addr(&self) -> NodeAddr {
        self.ancestry
            .first()
            .map(|e| e.node_addr)
            .unwrap_or_default()
    }

    /// The 48 bytes the sender signs: `node || parent || seq || timestamp`.
    pub fn declaration_bytes(&self) -> [u8; 48] {
        declaration(self.node_addr(), self.parent, self.seq, self.timestamp)
    }

    pub fn is_root(&self) -> bool {
        self.parent == self.node_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vectors::kat;

    fn addr(s: &str) -> NodeAddr {
        NodeAddr::from_slice(&hex::decode(s).unwrap()).unwrap()
    }

    #[test]
    fn kat_announce_of_b_as_child_of_a_parses_and_reencodes() {
        let wire = kat(
            "tree_announce_B_child_of_A",
            "encoded_link_message_incl_msg_type",
        );
        let t = TreeAnnounce::parse(&wire).unwrap();
        let a = addr("69e08d65cc3a6b9c2c2ac4bd405e4b0e");
        let b = addr("8e302c287eb48d6268122fda760b7727");
        assert_eq!(t.parent, a);
        assert_eq!(t.node_addr(), b);
        assert_eq!(t.ancestry.len(), 2);
        assert_eq!(t.ancestry[1].node_addr, a);
        assert!(!t.is_root());
        assert_eq!(t.encoded_len(), 164);
        let mut out = Vec::new();
        t.emit(&mut out);
        assert_eq!(out, wire);
    }

    #[test]
    fn declaration_is_node_parent_seq_timestamp() {
        let wire = kat(
            "tree_announce_B_child_of_A",
            "encoded_link_message_incl_msg_type",
        );
        let t = TreeAnnounce::parse(&wire).unwrap();
        let signed = kat(
            "tree_announce_B_child_of_A",
            "signed_bytes(node||parent||seq_le||ts_le)",
        );
        assert_eq!(t.declaration_bytes().to_vec(), signed);
        let sig = kat("tree_announce_B_child_of_A", "signature_bip340_aux0");
        assert_eq!(t.signature.to_vec(), sig);
    }

    #[test]
    fn root_announce_is_132_bytes() {
        let me = NodeAddr([9; 16]);
        let t = TreeAnnounce {
            seq: 1,
            timestamp: 2,
            parent: me,
            ancestry: vec![AncestryEntry {
                node_addr: me,
                seq: 1,
                timestamp: 2,
            }],
            signature: [0xee; 64],
        };
        let mut out = Vec::new();
        t.emit(&mut out);
        assert_eq!(out.len(), 132);
        assert_eq!(&out[..2], &[0x10, 0x01]);
        assert_eq!(&out[34..36], &[1, 0]);
        assert!(t.is_root());
        assert_eq!(TreeAnnounce::parse(&out), Ok(t));
    }

    #[test]
    fn rejects_an_announce_with_empty_ancestry() {
        let mut out = vec![0x10, 0x01];
        out.extend_from_slice(&[0; 32]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&[0; 64]);
        assert!(matches!(
            TreeAnnounce::parse(&out),
            Err(WireError::Invalid { .. })
        ));
    }

    #[test]
    fn rejects_an_ancestry_count_beyond_the_bytes_present() {
        let wire = kat(
            "tree_announce_B_child_of_A",
            "encoded_link_message_incl_msg_type",
        );
        let mut bad = wire.clone();
        bad[34] = 0xff;
        bad[35] = 0xff;
        assert!(matches!(
            TreeAnnounce::parse(&bad),
            Err(WireError::Truncated { got: 164, .. })
        ));
    }

    #[test]
    fn rejects_version_two() {
        let mut wire = kat(
            "tree_announce_B_child_of_A",
            "encoded_link_message_incl_msg_type",
        );
        wire[1] = 2;
        assert!(matches!(
            TreeAnnounce::parse(&wire),
            Err(WireError::UnsupportedVersion { version: 2, .. })
        ));
    }
}
