//! Bloom filters: the 8192-bit reachability filter and per-peer filter state.
//!
//! Owns the filter math (k = 5 bits per NodeAddr from
//! SHA-256(node_addr), LSB-first bytes) and which filter goes to which peer
//! (split horizon over tree peers, one global send seq, 500 ms debounce,
//! antipoison on inbound). No wire parsing: the caller maps FilterAnnounce
//! fields in and out, and asks the tree which peers are tree peers.

mod filter;
mod state;
#[cfg(test)]
mod tests;
mod union;

pub use filter::{bit_indices, BloomFilter};
pub use state::{BloomConfig, BloomState, BloomStats, Outgoing};

use crate::NodeAddr;

/// Bits in a v1 filter.
pub const FILTER_BITS: usize = 8192;
/// Bytes in a v1 filter (`512 << SIZE_CLASS`).
pub const FILTER_BYTES: usize = FILTER_BITS / 8;
/// Bits set per member.
pub const HASH_COUNT: u8 = 5;
/// The only size class v1 accepts.
pub const SIZE_CLASS: u8 = 1;

/// Why an inbound filter was not stored. All are the peer's doing and are
/// dropped silently on the wire (no NACK exists).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BloomError {
    #[error("filter has size class {size_class}, v1 requires {SIZE_CLASS}")]
    SizeClass { size_class: u8 },
    #[error("filter uses {hash_count} hash functions, v1 requires {HASH_COUNT}")]
    HashCount { hash_count: u8 },
    #[error("filter is {len} bytes, expected {FILTER_BYTES}")]
    Length { len: usize },
    #[error("stale filter from {peer:?}: seq {seq} is not above {last}")]
    Stale { peer: NodeAddr, seq: u64, last: u64 },
    #[error("filter from {peer:?} rejected: false positive rate {fpr:.3} above cap {cap:.3}")]
    Poisoned { peer: NodeAddr, fpr: f64, cap: f64 },
}
