//! Per bit, whether none, one or several of the tree peers' inbound
//! filters set it. From one pass over the filters every peer's outgoing
//! filter (the union of all the others', split horizon) costs one pass
//! over the bytes, so a refresh is linear in the peers. Merging the
//! other N - 1 filters for each of N peers was quadratic: at 200 leaves it kept a hub's core busy.

use super::{BloomFilter, FILTER_BYTES};

pub(crate) struct BitCounts {
    /// Bits set by any counted filter.
    any: Box<[u8; FILTER_BYTES]>,
    /// Bits set by exactly one counted filter: the only ones that leaving
    /// one filter out can clear. With them the union without one filter
    /// is a byte-wise mask rather than a pass over 8192 per-bit counts for
    /// each peer (that pass was a third of a 1,000-node simulation's CPU).
    once: Box<[u8; FILTER_BYTES]>,
}

impl BitCounts {
    pub fn new<'a>(filters: impl Iterator<Item = &'a BloomFilter>) -> BitCounts {
        let mut any = Box::new([0u8; FILTER_BYTES]);
        let mut twice = [0u8; FILTER_BYTES];
        for f in filters {
            for ((a, t), b) in any.iter_mut().zip(twice.iter_mut()).zip(f.as_bytes()) {
                *t |= *a & b;
                *a |= b;
            }
        }
        let mut once = Box::new([0u8; FILTER_BYTES]);
        for ((o, a), t) in once.iter_mut().zip(any.iter()).zip(twice.iter()) {
            *o = a & !t;
        }
        BitCounts { any, once }
    }

    /// The union of the counted filters without `own` (one of them).
    pub fn union_without(&self, own: Option<&BloomFilter>) -> BloomFilter {
        let Some(own) = own else {
            return BloomFilter::from_bytes(*self.any);
        };
        let mut out = [0u8; FILTER_BYTES];
        let parts = self.any.iter().zip(self.once.iter()).zip(own.as_bytes());
        for (o, ((any, once), mine)) in out.iter_mut().zip(parts) {
            *o = any & !(once & mine);
        }
        BloomFilter::from_bytes(out)
    }
}

impl std::fmt::Debug for BitCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: u32 = self.any.iter().map(|b| b.count_ones()).sum();
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

    #[test]
    fn leaving_out_a_filter_keeps_bits_another_filter_also_sets() {
        // Filter i holds nodes i and i + 1 (each shared with a neighbour)
        // and, for even i, 40 of its own: bits set once, twice and more.
        let node = |i: u8, j: u8| NodeAddr([i, j, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
        let filters: Vec<BloomFilter> = (0..8u8)
            .map(|i| {
                let mut f = BloomFilter::new();
                f.insert(&node(0, i));
                f.insert(&node(0, i + 1));
                for j in (0..40).filter(|_| i % 2 == 0) {
                    f.insert(&node(i + 1, j));
                }
                f
            })
            .collect();
        let counts = BitCounts::new(filters.iter());
        for (i, own) in filters.iter().enumerate() {
            let mut want = BloomFilter::new();
            for f in filters.iter().enumerate().filter(|(j, _)| *j != i) {
                want.merge(f.1);
            }
            let got = counts.union_without(Some(own));
            assert_eq!(got, want, "without filter {i}");
            assert!(got.contains(&node(0, i as u8)) || i == 0, "kept node {i}");
        }
    }
}
