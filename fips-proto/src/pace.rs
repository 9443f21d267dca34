//! `Paced`: the keys (peers) owed a message, each sent at most once per
//! gap. The tree's announces and the bloom filters are both owed this way.
//!
//! Every operation costs O(log n) in the keys owed, never a walk over all
//! of them: on a hub whose thousands of leaves are all owed a re-send at
//! once (the periodic mesh refresh), finding the next sendable key by a
//! scan made draining the queue quadratic, and the wake-up time (asked
//! after every frame) a walk over every held key. Keys owed but held by
//! the gap wait in a heap by release time; entries left behind by
//! `forget` or a re-classification are recognised on pop and dropped.
//! (std's `BinaryHeap` has no decrease-key or removal, and no maintained
//! crate offers a keyed timer queue without an async runtime.)

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Paced<K: Ord + Copy> {
    gap: Duration,
    /// When each key was last sent.
    last_sent: BTreeMap<K, Instant>,
    /// Owed and not yet checked against the gap, ascending.
    ready: BTreeSet<K>,
    /// Owed and held by the gap until the given instant.
    held: BTreeMap<K, Instant>,
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    /// Times an owed key was found held by the gap (once per owing).
    deferred: u64,
}

impl<K: Ord + Copy> Paced<K> {
    pub(crate) fn new(gap: Duration) -> Self {
        Paced {
            gap,
            last_sent: BTreeMap::new(),
            ready: BTreeSet::new(),
            held: BTreeMap::new(),
            heap: BinaryHeap::new(),
            deferred: 0,
        }
    }

    /// `key` is owed a message (again): no-op when already owed.
    pub(crate) fn owe(&mut self, key: K) {
        if !self.held.contains_key(&key) {
            self.ready.insert(key);
        }
    }

    /// Forget `key` entirely (its link is gone): a new one starts unpaced.
    pub(crate) fn forget(&mut self, key: &K) {
        self.ready.remove(key);
        self.held.remove(key);
        self.last_sent.remove(key);
    }

    /// The next owed key out of its gap, removed from the owed set (the
    /// caller then sends, and calls `sent`, or decides nothing is needed).
    pub(crate) fn poll(&mut self, now: Instant) -> Option<K> {
        self.release(now);
        while let Some(key) = self.ready.pop_first() {
            match self.last_sent.get(&key).map(|t| *t + self.gap) {
                Some(until) if now < until => {
                    self.held.insert(key, until);
                    self.heap.push(Reverse((until, key)));
                    self.deferred += 1;
                }
                _ => return Some(key),
            }
        }
        None
    }

    /// Held keys whose gap has passed become ready.
    fn release(&mut self, now: Instant) {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.held.get(&key) == Some(&at) {
                self.held.remove(&key);
                self.ready.insert(key);
            }
        }
    }

    /// A message went to `key` at `now`.
    pub(crate) fn sent(&mut self, key: K, now: Instant) {
        self.last_sent.insert(key, now);
    }

    /// Whether a message to `key` at `now` would wait out the gap.
    pub(crate) fn is_held(&self, key: &K, now: Instant) -> bool {
        self.last_sent.get(key).is_some_and(|t| now < *t + self.gap)
    }

    /// When a held key is next released. An owed key never sent is
    /// sendable at once, so after the caller drained `poll` only held
    /// keys remain and `ready` is empty (it is walked only if not).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let ready = self
            .ready
            .iter()
            .filter_map(|k| self.last_sent.get(k).map(|t| *t + self.gap));
        ready.chain(self.next_release()).min()
    }

    fn next_release(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Times an owed key had to wait out its gap.
    pub(crate) fn deferred(&self) -> u64 {
        self.deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_millis(500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn keys_never_sent_come_out_at_once_in_ascending_order() {
        let (mut p, t0) = (Paced::new(GAP), Instant::now());
        for k in [3u8, 1, 2, 1] {
            p.owe(k);
        }
        let out: Vec<u8> = std::iter::from_fn(|| p.poll(t0)).collect();
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn a_key_sent_within_the_gap_waits_for_it_and_is_counted_once() {
        let (mut p, t0) = (Paced::new(GAP), Instant::now());
        p.owe(7u8);
        assert_eq!(p.poll(t0), Some(7));
        p.sent(7, t0);
        p.owe(7);
        assert_eq!(p.poll(t0 + ms(100)), None);
        p.owe(7);
        assert_eq!(p.poll(t0 + ms(200)), None, "owed again while held");
        assert_eq!(p.deferred(), 1);
        assert_eq!(p.poll_timeout(), Some(t0 + GAP));
        assert_eq!(p.poll(t0 + ms(499)), None);
        assert_eq!(p.poll(t0 + GAP), Some(7));
        assert_eq!(p.poll(t0 + GAP), None, "released once");
    }

    #[test]
    fn a_forgotten_key_is_not_released_and_starts_unpaced_when_owed_again() {
        let (mut p, t0) = (Paced::new(GAP), Instant::now());
        p.owe(1u8);
        p.poll(t0);
        p.sent(1, t0);
        p.owe(1);
        assert_eq!(p.poll(t0), None);
        p.forget(&1);
        assert_eq!(p.poll(t0 + GAP), None, "forgotten while held");
        p.owe(1);
        assert_eq!(p.poll(t0 + ms(1)), Some(1), "no gap after forget");
        assert!(!p.is_held(&1, t0 + ms(1)));
    }

    #[test]
    fn draining_many_held_keys_releases_each_exactly_once() {
        let (mut p, t0) = (Paced::new(GAP), Instant::now());
        for k in 0..1000u16 {
            p.owe(k);
            assert_eq!(p.poll(t0), Some(k));
            p.sent(k, t0 + ms(u64::from(k % 7)));
        }
        for k in 0..1000u16 {
            p.owe(k);
        }
        assert_eq!(p.poll(t0 + ms(10)), None);
        assert_eq!(p.deferred(), 1000);
        let later = t0 + GAP + ms(10);
        let mut out: Vec<u16> = std::iter::from_fn(|| p.poll(later)).collect();
        out.sort_unstable();
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
        assert_eq!(p.poll_timeout(), None);
    }
}
