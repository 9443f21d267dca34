//! Spanning tree: declarations, coordinates, root election and parent selection.
//!
//! Owns the node's view of its peers' tree positions and its own declaration.
//! Pure logic: no signatures (the caller verifies and signs with
//! [`Announce::declaration_bytes`]), no wire parsing (the caller maps the
//! `wire` TreeAnnounce to and from [`Announce`]), no clock (time is `now`).
//!
//! Rules: the root is the smallest NodeAddr seen; the parent is
//! the peer on the smallest root minimising `depth + link_cost`, where
//! `link_cost = etx * (1 + srtt_ms / 100)`. Once any peer has an SRTT,
//! unmeasured peers are not candidates.

mod coords;
mod select;
mod state;
#[cfg(test)]
mod tests;

pub use coords::{distance, CoordEntry};
pub use state::TreeState;

use std::time::Duration;

use crate::NodeAddr;

/// One TreeAnnounce, without version byte and signature.
///
/// Maps field for field to the wire message: `seq`, `ts` (Unix seconds),
/// `parent`, and the ancestry entries self→root. The declaring node is
/// `ancestry[0].node`; a root declares `parent == node` and one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    pub seq: u64,
    pub ts: u64,
    pub parent: NodeAddr,
    pub ancestry: Vec<CoordEntry>,
}

impl Announce {
    /// The declaring node, `None` only for an (invalid) empty ancestry.
    pub fn node(&self) -> Option<NodeAddr> {
        self.ancestry.first().map(|e| e.node)
    }

    /// The root this announce leads to (the last ancestry entry).
    pub fn root(&self) -> Option<NodeAddr> {
        self.ancestry.last().map(|e| e.node)
    }

    /// `node || parent || seq_le || ts_le`, the 48 bytes whose SHA-256 the
    /// sender signs. Only the declaration is signed, never the ancestry.
    pub fn declaration_bytes(&self) -> [u8; 48] {
        crate::wire::tree::declaration(
            self.node().unwrap_or_default(),
            self.parent,
            self.seq,
            self.ts,
        )
    }
}

/// Why an announce from a peer was refused. Every variant is the peer's
/// fault; the caller counts it and drops the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("announce has an empty ancestry")]
    EmptyAncestry,
    #[error("announce from {from:?} declares ancestry starting at {first:?}")]
    SenderMismatch { from: NodeAddr, first: NodeAddr },
    #[error("root announce must carry exactly 1 ancestry entry, got {count}")]
    RootAncestryLength { count: usize },
    #[error("announce declares parent {declared:?} but ancestry[1] is {ancestry:?}")]
    ParentMismatch {
        declared: NodeAddr,
        ancestry: Option<NodeAddr>,
    },
    #[error("announce root {advertised:?} is not the smallest entry {minimum:?}")]
    RootNotMinimum {
        advertised: NodeAddr,
        minimum: NodeAddr,
    },
    #[error("stale announce: seq {seq} is not newer than stored seq {stored}")]
    Stale { seq: u64, stored: u64 },
}

/// Tunables, defaulting to the reference v0.4.1 values.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeConfig {
    /// Fraction by which a same-root candidate must beat the current parent.
    pub hysteresis: f64,
    /// After a parent switch, non-mandatory switches wait this long.
    pub hold_down: Duration,
    /// Periodic re-evaluation and re-broadcast.
    pub reeval_interval: Duration,
    pub flap_threshold: u32,
    pub flap_window: Duration,
    pub flap_dampening: Duration,
    /// Minimum gap between two announces to the same peer.
    pub announce_min_interval: Duration,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            hysteresis: 0.2,
            hold_down: Duration::from_secs(30),
            reeval_interval: Duration::from_secs(60),
            flap_threshold: 4,
            flap_window: Duration::from_secs(60),
            flap_dampening: Duration::from_secs(120),
            announce_min_interval: Duration::from_millis(500),
        }
    }
}

/// A change of parent (or of root role). `None` means "we are root".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentChange {
    pub old_parent: Option<NodeAddr>,
    pub new_parent: Option<NodeAddr>,
    pub old_root: NodeAddr,
    pub new_root: NodeAddr,
    /// This switch engaged flap dampening (worth a warning in the log).
    pub dampening_engaged: bool,
}

/// What an input changed. Announces to send are already queued: drain them
/// with [`TreeState::poll_announce`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeChange {
    pub parent_change: Option<ParentChange>,
    /// Our coordinates changed (seq bumped): flush coordinate caches.
    pub coords_changed: bool,
    /// Parent or children changed: outgoing bloom filters must be recomputed.
    pub tree_peers_changed: bool,
}

/// Link cost of a measured peer: `etx * (1 + srtt_ms / 100)`.
pub fn link_cost(srtt_ms: f64, etx: f64) -> f64 {
    etx * (1.0 + srtt_ms / 100.0)
}
