//! Per bit, how many tree peers' inbound filters set it. From one pass
//! over the filters every peer's outgoing filter (the union of all the
//! others', split horizon) costs one pass over the bits, so a refresh is
//! linear in the peers. Merging the other N - 1 filters for each of N
//! peers was quadratic: at 200 leaves it kept a hub's core busy.

use super::{BloomFilter, FILTER_BITS, FILTER_BYTES};

pub(crate) struct BitCounts {
    counts: Box<[u32; FILTER_BITS]>,
}

impl BitCounts {
    pub fn new<'a>(filters: impl Iterator<Item = &'a BloomFilter>) -> BitCounts {
        let mut counts = Box::new([0u32; FILTER_BITS]);
        for f in filters {
            for (i, &byte) in f.as_bytes().iter().enumerate() {
                let mut b = byte;
                while b != 0 {
                    let bit = b.trailing_zeros() as usize;
                    counts[i * 8 + bit] += 1;
                    b &= b - 1;
                }
            }
        }
        BitCounts { counts }
    }

    /// The union of the counted filters without `own` (one of them).
    pub fn union_without(&self, own: Option<&BloomFilter>) -> BloomFilter {
        let zero = [0u8; FILTER_BYTES];
        let own = own.map_or(&zero, BloomFilter::as_bytes);
        let mut out = [0u8; FILTER_BYTES];
        for (i, (o, mine)) in out.iter_mut().zip(own.iter()).enumerate() {
            for bit in 0..8 {
                let mine = u32::from(mine >> bit & 1);
                if self.counts[i * 8 + bit] > mine {
                    *o |= 1 << bit;
                }
            }
        }
        BloomFilter::from_bytes(out)
    }
}

impl std::fmt::Debug for BitCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.counts.iter().filter(|c| **c > 0).count();
        write!(f, "BitCounts {{ bits set: {set} }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeAddr;

    fn filter(seed: u8, n: u8) -> BloomFilter {
        let mut f = BloomFilter::new();
        for i in 0..n {
            f.insert(&NodeAddr([
                seed, i, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
            ]));
        }
        f
    }

    #[test]
    fn the_union_without_one_filter_equals_merging_all_the_others() {
        let filters: Vec<BloomFilter> = (0..12).map(|s| filter(s, 3 + s)).collect();
        let counts = BitCounts::new(filters.iter());
        for (i, own) in filters.iter().enumerate() {
            let mut want = BloomFilter::new();
            for (j, f) in filters.iter().enumerate() {
                if j != i {
                    want.merge(f);
                }
            }
            assert_eq!(counts.union_without(Some(own)), want, "without filter {i}");
        }
        let mut all = BloomFilter::new();
        filters.iter().for_each(|f| all.merge(f));
        assert_eq!(counts.union_without(None), all);
    }
}
