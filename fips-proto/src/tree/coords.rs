//! Coordinates (the self→root ancestry path) and tree distance.

use crate::NodeAddr;

/// One ancestry entry as carried in a TreeAnnounce: the node and the seq/ts
/// of its own latest declaration, relayed on transitive trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordEntry {
    pub node: NodeAddr,
    pub seq: u64,
    pub ts: u64,
}

/// Hops between two coordinates (each self→root) through their lowest
/// common ancestor. Coordinates on different roots, or empty ones, are
/// infinitely far apart (`usize::MAX`).
pub fn distance(a: &[NodeAddr], b: &[NodeAddr]) -> usize {
    match (a.last(), b.last()) {
        (Some(ra), Some(rb)) if ra == rb => {}
        _ => return usize::MAX,
    }
    // Ancestry is a common suffix because coordinates end at the root.
    let common = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (a.len() - common) + (b.len() - common)
}

pub(super) fn addrs(entries: &[CoordEntry]) -> Vec<NodeAddr> {
    entries.iter().map(|e| e.node).collect()
}
