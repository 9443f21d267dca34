//! The 8192-bit, k = 5 filter.

use core::fmt;

use sha2::{Digest, Sha256};

use super::{BloomError, FILTER_BITS, FILTER_BYTES, HASH_COUNT};
use crate::NodeAddr;

/// A v1 bloom filter. Boxed so maps of filters stay small to move.
#[derive(Clone, PartialEq, Eq)]
pub struct BloomFilter {
    bits: Box<[u8; FILTER_BYTES]>,
}

/// The bit positions of `addr`: with `H = SHA-256(addr)`,
/// `h1 = u64le(H[0..8])`, `h2 = u64le(H[8..16])`, bit k is
/// `(h1 + k * h2) mod 2^64 mod 8192` (double hashing).
pub fn bit_indices(addr: &NodeAddr) -> [usize; HASH_COUNT as usize] {
    let h = Sha256::digest(addr.0);
    let mut word = [0u8; 8];
    word.copy_from_slice(&h[0..8]);
    let h1 = u64::from_le_bytes(word);
    word.copy_from_slice(&h[8..16]);
    let h2 = u64::from_le_bytes(word);
    let mut out = [0usize; HASH_COUNT as usize];
    for (k, slot) in out.iter_mut().enumerate() {
        let v = h1.wrapping_add((k as u64).wrapping_mul(h2));
        *slot = (v % FILTER_BITS as u64) as usize;
    }
    out
}

impl BloomFilter {
    pub fn new() -> Self {
        BloomFilter {
            bits: Box::new([0u8; FILTER_BYTES]),
        }
    }

    pub fn from_bytes(bytes: [u8; FILTER_BYTES]) -> Self {
        BloomFilter {
            bits: Box::new(bytes),
        }
    }

    /// From a received filter body; refuses any length but 1024.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, BloomError> {
        let arr: [u8; FILTER_BYTES] = bytes
            .try_into()
            .map_err(|_| BloomError::Length { len: bytes.len() })?;
        Ok(Self::from_bytes(arr))
    }

    /// The wire bytes: bit i is `byte[i / 8] >> (i % 8) & 1`.
    pub fn as_bytes(&self) -> &[u8; FILTER_BYTES] {
        &self.bits
    }

    pub fn insert(&mut self, addr: &NodeAddr) {
        for i in bit_indices(addr) {
            self.bits[i / 8] |= 1 << (i % 8);
        }
    }

    /// "Maybe present"; `false` is definite.
    pub fn contains(&self, addr: &NodeAddr) -> bool {
        bit_indices(addr)
            .iter()
            .all(|&i| self.bits[i / 8] & (1 << (i % 8)) != 0)
    }

    /// Union in place.
    pub fn merge(&mut self, other: &BloomFilter) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= *b;
        }
    }

    pub fn count_ones(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| *b == 0)
    }

    /// Set bits over all bits.
    pub fn fill_ratio(&self) -> f64 {
        f64::from(self.count_ones()) / FILTER_BITS as f64
    }

    /// Chance that a non-member tests positive: `fill^k`.
    pub fn false_positive_rate(&self) -> f64 {
        self.fill_ratio().powi(i32::from(HASH_COUNT))
    }

    /// Members estimated from the fill: `-(m/k) ln(1 - X/m)`; `None` when
    /// saturated.
    pub fn estimated_count(&self) -> Option<f64> {
        let fill = self.fill_ratio();
        if fill >= 1.0 {
            return None;
        }
        Some(-(FILTER_BITS as f64 / f64::from(HASH_COUNT)) * (1.0 - fill).ln())
    }
}

impl Default for BloomFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BloomFilter({} bits set)", self.count_ones())
    }
}
