//! TreeAnnounce (link message 0x10): a node's parent declaration plus its
//! ancestry to the root.
//!
//! Layout: `0x10 | version 0x01 | seq u64 | timestamp u64 | parent(16) |
//! count u16 | count × {node_addr(16), seq u64, timestamp u64} | signature(64)`,
//! `100 + 32n` bytes. The signature covers only the 48-byte declaration
//! `node || parent || seq || timestamp` (the reference docs say "entire
//! message"; the code and the wire say otherwise).

use super::reader::{put_len_u16, Reader};
use super::WireError;
use crate::addr::NodeAddr;

pub const MSG_TYPE: u8 = 0x10;
pub const VERSION_1: u8 = 0x01;

/// One ancestor as relayed: its address and the seq/timestamp it declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AncestryEntry {
    pub node_addr: NodeAddr,
    pub seq: u64,
    pub timestamp: u64,
}

impl AncestryEntry {
    pub const LEN: usize = 32;
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
    pub signature: [u8; 64],
}

impl TreeAnnounce {
    /// msg_type, version, seq, timestamp, parent, count.
    pub const HEADER_LEN: usize = 36;
    pub const SIGNATURE_LEN: usize = 64;
    /// `100 + 32n`.
    pub const BASE_LEN: usize = Self::HEADER_LEN + Self::SIGNATURE_LEN;

    /// Parses a whole link message (msg_type byte included). Trailing bytes
    /// after the signature are ignored, as the reference does.
    pub fn parse(buf: &[u8]) -> Result<TreeAnnounce, WireError> {
        let mut r = Reader::new(buf, "TreeAnnounce");
        let msg_type = r.u8()?;
        if msg_type != MSG_TYPE {
            return Err(WireError::UnknownType {
                what: "TreeAnnounce",
                msg_type,
            });
        }
        let version = r.u8()?;
        if version != VERSION_1 {
            return Err(WireError::UnsupportedVersion {
                what: "TreeAnnounce",
                version,
            });
        }
        let seq = r.u64()?;
        let timestamp = r.u64()?;
        let parent = r.addr()?;
        let count = usize::from(r.u16()?);
        // Check the whole variable part before allocating for it.
        let raw = r.take(count * AncestryEntry::LEN)?;
        let signature = r.array()?;
        if count == 0 {
            return Err(WireError::Invalid {
                what: "TreeAnnounce",
                reason: "ancestry must have at least one entry",
            });
        }
        let ancestry = raw
            .chunks_exact(AncestryEntry::LEN)
            .map(parse_entry)
            .collect::<Result<_, _>>()?;
        Ok(TreeAnnounce {
            seq,
            timestamp,
            parent,
            ancestry,
            signature,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(MSG_TYPE);
        out.push(VERSION_1);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(self.parent.as_bytes());
        put_len_u16(out, self.ancestry.len());
        for e in &self.ancestry {
            out.extend_from_slice(e.node_addr.as_bytes());
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.extend_from_slice(&e.timestamp.to_le_bytes());
        }
        out.extend_from_slice(&self.signature);
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
        let mut b = [0u8; 48];
        b[..16].copy_from_slice(self.node_addr().as_bytes());
        b[16..32].copy_from_slice(self.parent.as_bytes());
        b[32..40].copy_from_slice(&self.seq.to_le_bytes());
        b[40..48].copy_from_slice(&self.timestamp.to_le_bytes());
        b
    }

    pub fn is_root(&self) -> bool {
        self.parent == self.node_addr()
    }
}

fn parse_entry(chunk: &[u8]) -> Result<AncestryEntry, WireError> {
    let mut r = Reader::new(chunk, "AncestryEntry");
    Ok(AncestryEntry {
        node_addr: r.addr()?,
        seq: r.u64()?,
        timestamp: r.u64()?,
    })
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
